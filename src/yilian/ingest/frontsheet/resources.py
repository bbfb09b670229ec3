"""A checked front sheet as one FHIR transaction Bundle (http://hl7.org/fhir/R4/http.html#transaction).

One row, one Bundle: Patient, Encounter, a Condition per diagnosis, a Procedure per procedure
and a Claim for the costs.  Every entry is a conditional PUT on the identifier the
institution gave it (`alliance.identifiers`), so importing the same sheet again finds and
rewrites the same resources instead of adding copies, and a visit that already arrived by HL7
v2 (same visit number, same system) is the same Encounter.  Entries refer to each other by
`urn:uuid:` fullUrls, which the transaction maps to the ids it resolved; the fullUrls are
derived from the identifiers, so the same row always gives the same Bundle.

Choices the data set leaves open, documented in docs/frontsheet.md:

* 入院病情 (present on admission) is a Condition extension, `ADMISSION_CONDITION_URL`, whose
  valueCoding is in `urn:yilian:cs:admission-condition`;
* 麻醉方式 is a Procedure extension, `ANAESTHESIA_URL`, valueCoding in `urn:yilian:cs:anaesthesia`;
* the surgeon (术者) is a `Procedure.performer.actor` with only a display (the sheet has a name,
  not a staff number);
* the institution is referred to by its identifier (`urn:yilian:institution|code`), a logical
  reference that needs no lookup.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from yilian.alliance.identifiers import (
    INSTITUTION_SYSTEM,
    RESIDENT_ID_SYSTEM,
    RESIDENT_ID_TYPE,
    claim_system,
    diagnosis_system,
    mrn_system,
    procedure_system,
    visit_system,
)
from yilian.fhir.jsontext import DecimalText
from yilian.ingest.frontsheet.columns import ADMISSION_CONDITIONS, ADMISSION_WAYS, ANAESTHESIA, DISCHARGE_WAYS
from yilian.ingest.frontsheet.costs import COST_CATEGORY_NAMES
from yilian.ingest.frontsheet.rows import DiagnosisLine, FrontSheet, ProcedureLine

__all__ = [
    "ADMISSION_CONDITION_SYSTEM",
    "ADMISSION_CONDITION_URL",
    "ADMISSION_WAY_SYSTEM",
    "ANAESTHESIA_SYSTEM",
    "ANAESTHESIA_URL",
    "COST_SYSTEM",
    "DISCHARGE_WAY_SYSTEM",
    "ICD9CM3_SYSTEM",
    "ICD10_SYSTEM",
    "bundle",
]

ICD10_SYSTEM = "urn:yilian:cs:icd10-yibao"
ICD9CM3_SYSTEM = "urn:yilian:cs:icd9cm3-yibao"
ADMISSION_WAY_SYSTEM = "urn:yilian:cs:admission-way"
DISCHARGE_WAY_SYSTEM = "urn:yilian:cs:discharge-way"
ADMISSION_CONDITION_SYSTEM = "urn:yilian:cs:admission-condition"
ANAESTHESIA_SYSTEM = "urn:yilian:cs:anaesthesia"
COST_SYSTEM = "urn:yilian:cs:frontsheet-cost"
ADMISSION_CONDITION_URL = "urn:yilian:sd:admission-condition"
ANAESTHESIA_URL = "urn:yilian:sd:anaesthesia"
_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_GENDER = {"1": "male", "2": "female", "0": "unknown", "9": "unknown"}
_ANAESTHESIA_CODES = {name: code for code, name in ANAESTHESIA.items()}
_COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 呼延 南宫 独孤 西门".split()  # noqa: SIM905, E501
)
# A fixed namespace, so a row's fullUrls depend on nothing but its identifiers.
_NAMESPACE = uuid.UUID("8f4a1a52-4d1e-4a39-9d55-6f1b6e0f7c21")


def _escape(value: str) -> str:
    """A token search value with FHIR's escapes (http://hl7.org/fhir/R4/search.html#escaping)."""
    return value.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,").replace("$", "\\$")


def _entry(resource: dict[str, Any], system: str, value: str) -> dict[str, Any]:
    rtype = resource["resourceType"]
    url = f"{rtype}?identifier={quote(_escape(system) + '|' + _escape(value), safe='')}"
    return {
        "fullUrl": _full_url(rtype, system, value),
        "resource": resource,
        "request": {"method": "PUT", "url": url},
    }


def _full_url(rtype: str, system: str, value: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{rtype}|{system}|{value}')}"


def _money(amount: Decimal) -> dict[str, Any]:
    return {"value": DecimalText(f"{amount:.2f}"), "currency": "CNY"}


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _name(text: str) -> dict[str, Any]:
    """A Chinese name: the text as written, family the first character (two for a compound
    surname such as 欧阳), the rest given."""
    size = 2 if text[:2] in _COMPOUND_SURNAMES and len(text) > 2 else 1
    name: dict[str, Any] = {"use": "official", "text": text, "family": text[:size]}
    if text[size:]:
        name["given"] = [text[size:]]
    return name


def bundle(sheet: FrontSheet, institution: str) -> dict[str, Any]:
    """The transaction Bundle that loads `sheet` into `institution`'s partition."""
    organization = {"identifier": {"system": INSTITUTION_SYSTEM, "value": institution}}
    patient_url = _full_url("Patient", mrn_system(institution), sheet.mrn)
    encounter_url = _full_url("Encounter", visit_system(institution), sheet.visit)
    patient_ref = {"reference": patient_url}
    encounter_ref = {"reference": encounter_url}
    conditions = [
        _entry(
            _condition(
                d,
                _identifier(diagnosis_system(institution), f"{sheet.visit}/{d.rank}"),
                patient_ref,
                encounter_ref,
            ),
            diagnosis_system(institution),
            f"{sheet.visit}/{d.rank}",
        )
        for d in sheet.diagnoses
    ]
    procedures = [
        _entry(
            _procedure(
                p,
                _identifier(procedure_system(institution), f"{sheet.visit}/{p.rank}"),
                patient_ref,
                encounter_ref,
            ),
            procedure_system(institution),
            f"{sheet.visit}/{p.rank}",
        )
        for p in sheet.procedures
    ]
    entries = [
        _entry(_patient(sheet, institution, organization), mrn_system(institution), sheet.mrn),
        _entry(
            _encounter(sheet, institution, organization, patient_ref, [e["fullUrl"] for e in conditions]),
            visit_system(institution),
            sheet.visit,
        ),
        *conditions,
        *procedures,
        _entry(
            _claim(sheet, institution, organization, patient_ref, encounter_ref, conditions, procedures),
            claim_system(institution),
            sheet.visit,
        ),
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _patient(sheet: FrontSheet, institution: str, organization: dict[str, Any]) -> dict[str, Any]:
    identifiers: list[dict[str, Any]] = [
        {
            "use": "usual",
            "type": _coding(_V2_0203, "MR", "Medical record number"),
            "system": mrn_system(institution),
            "value": sheet.mrn,
        }
    ]
    if sheet.resident_id:
        identifiers.append(
            {
                "use": "official",
                "type": _coding(_V2_0203, RESIDENT_ID_TYPE, "居民身份证号码"),
                "system": RESIDENT_ID_SYSTEM,
                "value": sheet.resident_id,
            }
        )
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": [_name(sheet.name)],
        "gender": _GENDER[sheet.sex],
        "birthDate": sheet.birth_date.isoformat(),
        "managingOrganization": organization,
    }
    if sheet.phone:
        patient["telecom"] = [{"system": "phone", "value": sheet.phone}]
    if sheet.address:
        patient["address"] = [{"use": "home", "text": sheet.address}]
    if sheet.discharge_way == "5":
        patient["deceasedDateTime"] = sheet.discharged.fhir
    return patient


def _encounter(
    sheet: FrontSheet,
    institution: str,
    organization: dict[str, Any],
    patient: dict[str, Any],
    condition_urls: list[str],
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "identifier": [{"use": "official", "system": visit_system(institution), "value": sheet.visit}],
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "IMP",
            "display": "inpatient encounter",
        },
        "serviceType": {"text": sheet.discharge_department},
        "subject": patient,
        "period": {"start": sheet.admitted.fhir, "end": sheet.discharged.fhir},
        "length": {
            "value": sheet.length_of_stay,
            "unit": "天",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        },
        "diagnosis": [
            {
                "condition": {"reference": url},
                "use": _coding(
                    "http://terminology.hl7.org/CodeSystem/diagnosis-role", "DD", "Discharge diagnosis"
                ),
                "rank": d.rank,
            }
            for d, url in zip(sheet.diagnoses, condition_urls, strict=True)
        ],
        "hospitalization": {
            "admitSource": _coding(
                ADMISSION_WAY_SYSTEM, sheet.admission_way, ADMISSION_WAYS[sheet.admission_way]
            ),
            "dischargeDisposition": _coding(
                DISCHARGE_WAY_SYSTEM, sheet.discharge_way, DISCHARGE_WAYS[sheet.discharge_way]
            ),
        },
        "location": [
            {"location": {"display": sheet.admission_department}, "status": "completed"},
            *(
                [{"location": {"display": sheet.discharge_department}, "status": "completed"}]
                if sheet.discharge_department != sheet.admission_department
                else []
            ),
        ],
        "serviceProvider": organization,
    }


def _identifier(system: str, value: str) -> list[dict[str, Any]]:
    return [{"system": system, "value": value}]


def _condition(
    d: DiagnosisLine, identifier: list[dict[str, Any]], patient: dict[str, Any], encounter: dict[str, Any]
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "identifier": identifier,
        "clinicalStatus": _coding(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
        ),
        "verificationStatus": _coding(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"
        ),
        "category": [
            _coding(
                "http://terminology.hl7.org/CodeSystem/condition-category",
                "encounter-diagnosis",
                "Encounter Diagnosis",
            )
        ],
        "code": {"coding": [{"system": ICD10_SYSTEM, "code": d.code, "display": d.name}], "text": d.name},
        "subject": patient,
        "encounter": encounter,
    }
    if d.admission_condition is not None:
        condition["extension"] = [
            {
                "url": ADMISSION_CONDITION_URL,
                "valueCoding": {
                    "system": ADMISSION_CONDITION_SYSTEM,
                    "code": d.admission_condition,
                    "display": ADMISSION_CONDITIONS[d.admission_condition],
                },
            }
        ]
    return condition


def _procedure(
    p: ProcedureLine, identifier: list[dict[str, Any]], patient: dict[str, Any], encounter: dict[str, Any]
) -> dict[str, Any]:
    procedure: dict[str, Any] = {
        "resourceType": "Procedure",
        "identifier": identifier,
        "status": "completed",
        "code": {"coding": [{"system": ICD9CM3_SYSTEM, "code": p.code, "display": p.name}], "text": p.name},
        "subject": patient,
        "encounter": encounter,
        "performedDateTime": p.performed.fhir,
    }
    if p.surgeon:
        procedure["performer"] = [
            {
                "function": _coding("http://snomed.info/sct", "304292004", "Surgeon"),
                "actor": {"display": p.surgeon},
            }
        ]
    if p.anaesthesia:
        procedure["extension"] = [
            {
                "url": ANAESTHESIA_URL,
                "valueCoding": {
                    "system": ANAESTHESIA_SYSTEM,
                    "code": _ANAESTHESIA_CODES[p.anaesthesia],
                    "display": p.anaesthesia,
                },
            }
        ]
    return procedure


def _claim(
    sheet: FrontSheet,
    institution: str,
    organization: dict[str, Any],
    patient: dict[str, Any],
    encounter: dict[str, Any],
    conditions: list[dict[str, Any]],
    procedures: list[dict[str, Any]],
) -> dict[str, Any]:
    claim: dict[str, Any] = {
        "resourceType": "Claim",
        "identifier": _identifier(claim_system(institution), sheet.visit),
        "status": "active",
        "type": _coding("http://terminology.hl7.org/CodeSystem/claim-type", "institutional", "Institutional"),
        "use": "claim",
        "patient": patient,
        "billablePeriod": {"start": sheet.admitted.fhir, "end": sheet.discharged.fhir},
        "created": sheet.discharged.fhir,
        "provider": organization,
        "priority": _coding("http://terminology.hl7.org/CodeSystem/processpriority", "normal", "Normal"),
        "diagnosis": [
            {"sequence": d.rank, "diagnosisReference": {"reference": e["fullUrl"]}}
            for d, e in zip(sheet.diagnoses, conditions, strict=True)
        ],
        # The sheet says nothing of the policy; the settlement list's insurance comes later.
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "未说明"}}],
        "total": _money(sheet.total_cost),
    }
    if procedures:
        claim["procedure"] = [
            {"sequence": p.rank, "procedureReference": {"reference": e["fullUrl"]}}
            for p, e in zip(sheet.procedures, procedures, strict=True)
        ]
    items = [
        {
            "sequence": n,
            "productOrService": _coding(COST_SYSTEM, key, COST_CATEGORY_NAMES[key]),
            "encounter": [encounter],
            "net": _money(amount),
        }
        for n, (key, amount) in enumerate(sheet.costs.items(), start=1)
    ]
    if items:
        claim["item"] = items
    return claim
