"""A scalable synthetic population for benchmarks and bulk-data tests.

`synth.sample` makes the thirty-patient alliance the demo shows; this module makes any number
of patients in the same style (Chinese names with pinyin, valid resident IDs, mobile numbers,
the demo's three institutions and its LOINC / ICD-10 / ATC codes), each with a few years of
encounters, vital signs and lab results, diagnoses and prescriptions: about 25-40 resources a
patient, the size of a Synthea patient bundle.

Patient `n` is generated from `random.Random(f"{seed}:{n}")` alone, so the output is
deterministic (same seed and size, byte-identical output), any slice can be produced without
the patients before it, and `records()` is a generator: ten thousand patients never sit in
memory at once.  Each record comes in two shapes:

* `PatientRecord.resources`: resources with their ids assigned and references written as
  `Type/id`, the shape of Bulk Data NDJSON (https://hl7.org/fhir/uv/bulkdata/export.html) and of
  direct repository loads;
* `PatientRecord.bundle()`: a transaction Bundle (http://hl7.org/fhir/R4/http.html#transaction)
  whose entries have `urn:uuid:` fullUrls and reference each other by them, as Synthea writes.

References to the institution are logical (`Reference.identifier`,
http://hl7.org/fhir/R4/references.html#logical), so every shape loads into an empty database
without resolving anything.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from yilian.synth.resident_id import RESIDENT_ID_SYSTEM, make_resident_id
from yilian.synth.sample import INSTITUTIONS, MRN_SYSTEM_PREFIX, SampleInstitution

__all__ = ["RESOURCE_TYPES", "PatientRecord", "records", "write_ndjson"]

RESOURCE_TYPES = ("Patient", "Encounter", "Observation", "Condition", "MedicationRequest")
"""The resource types a record holds, in the order they appear (referenced before referring)."""

_INSTITUTION_SYSTEM = "urn:yilian:institution"
_LOINC = "http://loinc.org"
_UCUM = "http://unitsofmeasure.org"
_ICD10 = "http://hl7.org/fhir/sid/icd-10"
_ATC = "http://www.whocc.no/atc"
_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
_LANGUAGE_EXT = "http://hl7.org/fhir/StructureDefinition/language"

_SURNAMES = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
    ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
    ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin"),
    ("罗", "Luo"), ("高", "Gao"), ("梁", "Liang"), ("宋", "Song"), ("郑", "Zheng"), ("谢", "Xie"),
)  # fmt: skip
_GIVEN = (
    ("伟", "wei"), ("强", "qiang"), ("军", "jun"), ("磊", "lei"), ("勇", "yong"), ("杰", "jie"),
    ("涛", "tao"), ("明", "ming"), ("刚", "gang"), ("平", "ping"), ("辉", "hui"), ("建", "jian"),
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("艳", "yan"),
    ("娟", "juan"), ("霞", "xia"), ("秀", "xiu"), ("英", "ying"), ("玲", "ling"), ("红", "hong"),
)  # fmt: skip
_VILLAGES = ("上村", "下村", "岭头村", "溪口村", "桥东村", "新塘村", "石门村", "竹林村")

# (ICD-10, display, ATC, drug, dosage, labs that follow it up)
_PROBLEMS: tuple[tuple[str, str, str, str, str, tuple[int, ...]], ...] = (
    ("I10", "原发性高血压", "C08CA05", "硝苯地平控释片", "每日一次，每次30mg，口服", (2,)),
    ("E11.9", "2型糖尿病，不伴有并发症", "A10BA02", "盐酸二甲双胍片", "每日两次，每次0.5g，口服", (0, 1)),
    ("J44.9", "慢性阻塞性肺疾病", "R03AC02", "沙丁胺醇气雾剂", "必要时吸入，每次100μg", ()),
    ("J06.9", "急性上呼吸道感染", "J01CA04", "阿莫西林胶囊", "每日三次，每次0.5g，口服，共5天", (3,)),
    ("K29.7", "胃炎", "A02BC01", "奥美拉唑肠溶胶囊", "每日一次，每次20mg，早餐前口服", ()),
    ("E78.5", "高脂血症", "C10AA05", "阿托伐他汀钙片", "每晚一次，每次20mg，口服", (2,)),
)  # fmt: skip

# (LOINC, display, UCUM unit, low, high)
_VITALS = (
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 105, 175),
    ("8462-4", "Diastolic blood pressure", "mm[Hg]", 60, 105),
    ("8867-4", "Heart rate", "/min", 55, 110),
    ("29463-7", "Body weight", "kg", 42, 88),
    ("8302-2", "Body height", "cm", 148, 182),
)
_LABS = (
    ("15074-8", "Glucose [Moles/volume] in Blood", "mmol/L", 4.2, 12.5),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 5.0, 9.5),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 140, 280),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 3.5, 15.0),
)


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """One patient's resources (ids assigned, `Type/id` references) and the institution
    that recorded them."""

    index: int
    institution: SampleInstitution
    resources: tuple[dict[str, Any], ...]

    @property
    def patient_id(self) -> str:
        return str(self.resources[0]["id"])

    def bundle(self) -> dict[str, Any]:
        """The record as a transaction Bundle: ids dropped, fullUrls `urn:uuid:{id}`, and
        every `Type/id` reference between the record's resources rewritten to that fullUrl."""
        urls = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{r['id']}" for r in self.resources}
        entries = []
        for resource in self.resources:
            body = {k: _rewrite(v, urls) for k, v in resource.items() if k != "id"}
            entries.append(
                {
                    "fullUrl": urls[f"{resource['resourceType']}/{resource['id']}"],
                    "resource": body,
                    "request": {"method": "POST", "url": resource["resourceType"]},
                }
            )
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _rewrite(value: Any, urls: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: (urls.get(v, v) if k == "reference" else _rewrite(v, urls)) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, urls) for v in value]
    return value


def records(patients: int, seed: int = 2026, start: int = 0) -> Iterator[PatientRecord]:
    """Patients `start` .. `start + patients - 1`, one record at a time."""
    for n in range(start, start + patients):
        yield _Generator(seed, n).record()


def write_ndjson(directory: Path, patients: int, seed: int = 2026) -> dict[str, tuple[Path, int]]:
    """Write one NDJSON file per resource type (`Patient.ndjson`, ...) streaming, and return
    per type its path and line count."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {t: directory / f"{t}.ndjson" for t in RESOURCE_TYPES}
    counts = dict.fromkeys(RESOURCE_TYPES, 0)
    handles = {t: p.open("wb") for t, p in paths.items()}
    try:
        for record in records(patients, seed):
            for resource in record.resources:
                rtype = resource["resourceType"]
                handles[rtype].write(orjson.dumps(resource) + b"\n")
                counts[rtype] += 1
    finally:
        for handle in handles.values():
            handle.close()
    return {t: (paths[t], counts[t]) for t in RESOURCE_TYPES}


class _Generator:
    """Builds one patient's record from its own random stream."""

    def __init__(self, seed: int, index: int) -> None:
        self.rng = random.Random(f"{seed}:{index}")
        self.index = index
        self.institution = INSTITUTIONS[index % len(INSTITUTIONS)]
        self.resources: list[dict[str, Any]] = []

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _add(self, resource: dict[str, Any]) -> dict[str, str]:
        resource = {"resourceType": resource.pop("resourceType"), "id": self._id(), **resource}
        self.resources.append(resource)
        return {"reference": f"{resource['resourceType']}/{resource['id']}"}

    def _organization(self) -> dict[str, Any]:
        return {
            "identifier": {"system": _INSTITUTION_SYSTEM, "value": self.institution.code},
            "display": self.institution.name,
        }

    def record(self) -> PatientRecord:
        patient_ref, problems = self._patient()
        visits = self.rng.randint(3, 4)
        for visit in range(visits):
            self._encounter(patient_ref, problems[visit % len(problems)])
        return PatientRecord(self.index, self.institution, tuple(self.resources))

    def _patient(self) -> tuple[dict[str, str], list[int]]:
        rng, inst = self.rng, self.institution
        male = rng.random() < 0.5
        family_zh, family_py = rng.choice(_SURNAMES)
        given = [rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2)))]
        given_zh, given_py = "".join(c for c, _ in given), "".join(p for _, p in given).capitalize()
        birth = f"{rng.randint(1935, 2020):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        resident_id = make_resident_id(inst.division, birth, rng.randrange(500) * 2 + (1 if male else 0))
        village, house = rng.choice(_VILLAGES), rng.randint(1, 300)
        ref = self._add(
            {
                "resourceType": "Patient",
                "identifier": [
                    {"use": "official", "system": RESIDENT_ID_SYSTEM, "value": resident_id},
                    {"use": "usual", "system": MRN_SYSTEM_PREFIX + inst.code, "value": f"{self.index:08d}"},
                ],
                "active": True,
                "name": [
                    {
                        "use": "official",
                        "text": family_zh + given_zh,
                        "family": family_zh,
                        "given": [given_zh],
                    },
                    {
                        "extension": [{"url": _LANGUAGE_EXT, "valueCode": "zh-Latn-pinyin"}],
                        "use": "official",
                        "text": f"{family_py} {given_py}",
                        "family": family_py,
                        "given": [given_py],
                    },
                ],
                "telecom": [
                    {
                        "system": "phone",
                        "value": f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
                        "use": "mobile",
                    }
                ],
                "gender": "male" if male else "female",
                "birthDate": birth,
                "address": [
                    {
                        "use": "home",
                        "text": f"浙江省青溪县{inst.town}{village}{house}号",
                        "line": [f"{village}{house}号"],
                        "city": "青溪县",
                        "district": inst.town,
                        "state": "浙江省",
                        "country": "CN",
                    }
                ],
                "managingOrganization": self._organization(),
            }
        )
        ref["display"] = family_zh + given_zh
        return ref, rng.sample(range(len(_PROBLEMS)), rng.choice((1, 2, 2)))

    def _encounter(self, patient_ref: dict[str, str], problem_index: int) -> None:
        rng = self.rng
        problem = _PROBLEMS[problem_index]
        inpatient = rng.random() < 0.15
        year, month, day, hour = (
            rng.randint(2016, 2025),
            rng.randint(1, 12),
            rng.randint(1, 20),
            rng.randint(8, 16),
        )
        start = f"{year}-{month:02d}-{day:02d}T{hour:02d}:{rng.randint(0, 59):02d}:00+08:00"
        end_day = day + rng.randint(3, 8) if inpatient else day
        end = f"{year}-{month:02d}-{end_day:02d}T{min(hour + 1, 23):02d}:30:00+08:00"
        diagnosis = {
            "coding": [{"system": _ICD10, "code": problem[0], "display": problem[1]}],
            "text": problem[1],
        }
        enc_ref = self._add(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "IMP" if inpatient else "AMB",
                    "display": "inpatient encounter" if inpatient else "ambulatory",
                },
                "type": [{"text": "住院" if inpatient else "门诊"}],
                "subject": patient_ref,
                "period": {"start": start, "end": end},
                "reasonCode": [diagnosis],
                "serviceProvider": self._organization(),
            }
        )
        for vital in _VITALS:
            self._observation(patient_ref, enc_ref, start, vital, "vital-signs")
        for lab in problem[5]:
            self._observation(patient_ref, enc_ref, start, _LABS[lab], "laboratory")
        self._add(
            {
                "resourceType": "Condition",
                "clinicalStatus": _concept(
                    "condition-clinical", "active" if problem[0] != "J06.9" else "resolved"
                ),
                "verificationStatus": _concept("condition-ver-status", "confirmed"),
                "category": [_concept("condition-category", "encounter-diagnosis")],
                "code": diagnosis,
                "subject": patient_ref,
                "encounter": enc_ref,
                "recordedDate": start,
            }
        )
        self._add(
            {
                "resourceType": "MedicationRequest",
                "status": "completed" if problem[0] == "J06.9" or year < 2025 else "active",
                "intent": "order",
                "medicationCodeableConcept": {
                    "coding": [{"system": _ATC, "code": problem[2]}],
                    "text": problem[3],
                },
                "subject": patient_ref,
                "encounter": enc_ref,
                "authoredOn": start,
                "dosageInstruction": [{"text": problem[4]}],
            }
        )

    def _observation(
        self,
        patient_ref: dict[str, str],
        enc_ref: dict[str, str],
        when: str,
        spec: tuple[Any, ...],
        category: str,
    ) -> None:
        code, display, unit, low, high = spec
        self._add(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [_concept("observation-category", category)],
                "code": {"coding": [{"system": _LOINC, "code": code, "display": display}], "text": display},
                "subject": patient_ref,
                "encounter": enc_ref,
                "effectiveDateTime": when,
                "valueQuantity": {
                    "value": round(self.rng.uniform(low, high), 1),
                    "unit": unit,
                    "system": _UCUM,
                    "code": unit,
                },
            }
        )


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": _TERMINOLOGY + system, "code": code}]}
