"""A small synthetic alliance for the demo and the tests.

A county hospital and two township health centres (乡镇卫生院) of a fictional county, about
thirty patient records with Chinese names (characters and pinyin), valid 18-digit resident IDs,
phones and addresses, and for each patient outpatient or inpatient encounters with vital signs
and lab results (LOINC), diagnoses (ICD-10) and prescriptions (ATC).  A few residents were seen
at both the county hospital and their township centre, each time under a separate local record
(一院一卡), which is what the patient index will later link.

Everything is computed from `random.Random(seed)`: the same seed gives byte-identical bundles,
so tests can count on the content.  Each institution's records come as one transaction Bundle
(http://hl7.org/fhir/R4/http.html#transaction) whose internal references are `urn:uuid:`
fullUrls and whose reference to the institution's Organization is conditional
(`Organization?identifier=urn:yilian:institution|{code}`), resolved by the server.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from yilian.synth.resident_id import RESIDENT_ID_SYSTEM, make_resident_id

__all__ = ["INSTITUTIONS", "MRN_SYSTEM_PREFIX", "SampleAlliance", "SampleInstitution", "sample_alliance"]

MRN_SYSTEM_PREFIX = "urn:yilian:mrn:"
"""An institution's own medical record numbers use the system `urn:yilian:mrn:{code}`."""

_INSTITUTION_SYSTEM = "urn:yilian:institution"
_LOINC = "http://loinc.org"
_UCUM = "http://unitsofmeasure.org"
_ICD10 = "http://hl7.org/fhir/sid/icd-10"
_ATC = "http://www.whocc.no/atc"
_LANGUAGE_EXT = "http://hl7.org/fhir/StructureDefinition/language"


@dataclass(frozen=True, slots=True)
class SampleInstitution:
    code: str
    name: str
    town: str  # the township (乡镇) it serves; the county hospital serves the county seat
    division: str  # administrative division code used in its residents' IDs


@dataclass(frozen=True, slots=True)
class SampleAlliance:
    """The institutions and, per institution code, its transaction Bundle."""

    institutions: tuple[SampleInstitution, ...]
    bundles: dict[str, dict[str, Any]]

    def resources(self, code: str, resource_type: str) -> list[dict[str, Any]]:
        """The resources of one type in an institution's bundle (for tests that count)."""
        return [
            e["resource"]
            for e in self.bundles[code]["entry"]
            if e["resource"]["resourceType"] == resource_type
        ]


INSTITUTIONS = (
    SampleInstitution("county-hospital", "青溪县人民医院", "城关镇", "331021"),
    SampleInstitution("dongshan-thc", "青溪县东山镇卫生院", "东山镇", "331021"),
    SampleInstitution("baishui-thc", "青溪县白水乡卫生院", "白水乡", "331021"),
)

_SURNAMES = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
    ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
    ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin"),
)  # fmt: skip
_GIVEN_MALE = (
    ("伟", "wei"), ("强", "qiang"), ("军", "jun"), ("磊", "lei"), ("勇", "yong"), ("杰", "jie"),
    ("涛", "tao"), ("明", "ming"), ("刚", "gang"), ("平", "ping"), ("辉", "hui"), ("建", "jian"),
    ("国", "guo"), ("华", "hua"), ("志", "zhi"),
)  # fmt: skip
_GIVEN_FEMALE = (
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("艳", "yan"),
    ("娟", "juan"), ("霞", "xia"), ("秀", "xiu"), ("英", "ying"), ("玲", "ling"), ("红", "hong"),
    ("梅", "mei"), ("兰", "lan"), ("桂", "gui"),
)  # fmt: skip
_VILLAGES = ("上村", "下村", "岭头村", "溪口村", "桥东村", "新塘村")

# (ICD-10 code, Chinese display, ATC code, drug, dosage text)
_PROBLEMS = (
    ("I10", "原发性高血压", "C08CA05", "硝苯地平控释片", "每日一次，每次30mg，口服"),
    ("E11.9", "2型糖尿病，不伴有并发症", "A10BA02", "盐酸二甲双胍片", "每日两次，每次0.5g，口服"),
    ("J44.9", "慢性阻塞性肺疾病", "R03AC02", "沙丁胺醇气雾剂", "必要时吸入，每次100μg"),
    ("J06.9", "急性上呼吸道感染", "J01CA04", "阿莫西林胶囊", "每日三次，每次0.5g，口服，共5天"),
    ("K29.7", "胃炎", "A02BC01", "奥美拉唑肠溶胶囊", "每日一次，每次20mg，早餐前口服"),
)  # fmt: skip

# (LOINC, display, unit, low, high, category)
_VITALS = (
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 105, 175, "vital-signs"),
    ("8462-4", "Diastolic blood pressure", "mm[Hg]", 60, 105, "vital-signs"),
    ("29463-7", "Body weight", "kg", 42, 88, "vital-signs"),
    ("8302-2", "Body height", "cm", 148, 182, "vital-signs"),
)
_GLUCOSE = ("15074-8", "Glucose [Moles/volume] in Blood", "mmol/L", 4.2, 12.5, "laboratory")
_HBA1C = ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 5.0, 9.5, "laboratory")


def sample_alliance(seed: int = 2026, residents: int = 25, shared: int = 5) -> SampleAlliance:
    """Generate the alliance: `residents` people, `shared` of whom were seen at the county
    hospital and at their township centre (so `residents + shared` Patient records)."""
    rng = random.Random(seed)
    builders = {inst.code: _BundleBuilder(rng, inst) for inst in INSTITUTIONS}
    townships = INSTITUTIONS[1:]
    for n in range(residents):
        home = townships[n % len(townships)]  # alternate, so both centres get residents
        person = _person(rng, home)
        if n < shared:
            builders[INSTITUTIONS[0].code].add_patient(person)
            builders[home.code].add_patient(person)
        elif n % 3 == 0:
            builders[INSTITUTIONS[0].code].add_patient(person)
        else:
            builders[home.code].add_patient(person)
    return SampleAlliance(INSTITUTIONS, {code: b.bundle() for code, b in builders.items()})


def _person(rng: random.Random, home: SampleInstitution) -> dict[str, Any]:
    """One resident's demographics (not yet a FHIR resource: each institution records them)."""
    male = rng.random() < 0.5
    family = _SURNAMES[rng.randrange(len(_SURNAMES))]
    pool = _GIVEN_MALE if male else _GIVEN_FEMALE
    given = [pool[rng.randrange(len(pool))] for _ in range(rng.choice((1, 2, 2)))]
    year = rng.randint(1940, 2015)
    birth = f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    sequence = rng.randrange(0, 500) * 2 + (1 if male else 0)
    return {
        "gender": "male" if male else "female",
        "family": family,
        "given": given,
        "birth": birth,
        "resident_id": make_resident_id(home.division, birth, sequence),
        "phone": f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
        "home": home,
        "village": rng.choice(_VILLAGES),
        "house": rng.randint(1, 120),
        "problems": rng.sample(range(len(_PROBLEMS)), rng.choice((1, 1, 2))),
    }


class _BundleBuilder:
    """Accumulates one institution's transaction entries."""

    def __init__(self, rng: random.Random, institution: SampleInstitution) -> None:
        self.rng = rng
        self.inst = institution
        self.entries: list[dict[str, Any]] = []
        self.mrn = 0

    def _uuid(self) -> str:
        return f"urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"

    def _add(self, resource: dict[str, Any]) -> str:
        full_url = self._uuid()
        self.entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
        return full_url

    def _organization(self) -> dict[str, str]:
        return {
            "reference": f"Organization?identifier={_INSTITUTION_SYSTEM}|{self.inst.code}",
            "display": self.inst.name,
        }

    def bundle(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}

    def add_patient(self, p: dict[str, Any]) -> None:
        self.mrn += 1
        family_zh, family_py = p["family"]
        given_zh = "".join(c for c, _ in p["given"])
        given_py = "".join(py for _, py in p["given"]).capitalize()
        home: SampleInstitution = p["home"]
        patient = {
            "resourceType": "Patient",
            "identifier": [
                {"use": "official", "system": RESIDENT_ID_SYSTEM, "value": p["resident_id"]},
                {"use": "usual", "system": MRN_SYSTEM_PREFIX + self.inst.code, "value": f"{self.mrn:06d}"},
            ],
            "active": True,
            "name": [
                {"use": "official", "text": family_zh + given_zh, "family": family_zh, "given": [given_zh]},
                {
                    "extension": [{"url": _LANGUAGE_EXT, "valueCode": "zh-Latn-pinyin"}],
                    "use": "official",
                    "text": f"{family_py} {given_py}",
                    "family": family_py,
                    "given": [given_py],
                },
            ],
            "telecom": [{"system": "phone", "value": p["phone"], "use": "mobile"}],
            "gender": p["gender"],
            "birthDate": p["birth"],
            "address": [
                {
                    "use": "home",
                    "text": f"浙江省青溪县{home.town}{p['village']}{p['house']}号",
                    "line": [f"{p['village']}{p['house']}号"],
                    "city": "青溪县",
                    "district": home.town,
                    "state": "浙江省",
                    "country": "CN",
                }
            ],
            "managingOrganization": self._organization(),
        }
        patient_ref = {"reference": self._add(patient), "display": family_zh + given_zh}
        for visit in range(self.rng.choice((1, 2))):
            self._add_encounter(p, patient_ref, visit)

    def _add_encounter(self, p: dict[str, Any], patient_ref: dict[str, str], visit: int) -> None:
        rng = self.rng
        inpatient = self.inst.code == INSTITUTIONS[0].code and rng.random() < 0.3
        month, day, hour = rng.randint(1, 11), rng.randint(1, 28), rng.randint(8, 16)
        start = f"2025-{month:02d}-{day:02d}T{hour:02d}:{rng.randint(0, 59):02d}:00+08:00"
        end_day = min(day + rng.randint(3, 9), 28) if inpatient else day
        end = f"2025-{month:02d}-{end_day:02d}T{min(hour + 1, 23):02d}:30:00+08:00"
        problem = _PROBLEMS[p["problems"][visit % len(p["problems"])]]
        encounter = {
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
            "reasonCode": [{"coding": [{"system": _ICD10, "code": problem[0], "display": problem[1]}]}],
            "serviceProvider": self._organization(),
        }
        enc_ref = {"reference": self._add(encounter)}
        for vital in _VITALS:
            self._add_observation(patient_ref, enc_ref, start, vital)
        if problem[0] == "E11.9":
            self._add_observation(patient_ref, enc_ref, start, _GLUCOSE)
            self._add_observation(patient_ref, enc_ref, start, _HBA1C)
        self._add(
            {
                "resourceType": "Condition",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "verificationStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                            "code": "confirmed",
                        }
                    ]
                },
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                "code": "encounter-diagnosis",
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [{"system": _ICD10, "code": problem[0], "display": problem[1]}],
                    "text": problem[1],
                },
                "subject": patient_ref,
                "encounter": enc_ref,
                "recordedDate": start,
            }
        )
        self._add(
            {
                "resourceType": "MedicationRequest",
                "status": "completed" if problem[0] == "J06.9" else "active",
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

    def _add_observation(
        self, patient_ref: dict[str, str], enc_ref: dict[str, str], when: str, spec: tuple[Any, ...]
    ) -> None:
        code, display, unit, low, high, category = spec
        value = round(self.rng.uniform(low, high), 1)
        self._add(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": category,
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": _LOINC, "code": code, "display": display}], "text": display},
                "subject": patient_ref,
                "encounter": enc_ref,
                "effectiveDateTime": when,
                "valueQuantity": {"value": value, "unit": unit, "system": _UCUM, "code": unit},
            }
        )
