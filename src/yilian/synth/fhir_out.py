"""Synthetic histories as FHIR R4 resources, per institution (http://hl7.org/fhir/R4/).

Every resource carries the identifier its source system gave it (`alliance.identifiers`) and
its id is derived from that identifier (uuid5 of `system|value`), so the same history always
gives the same resources and a resource made from an HL7 message or a front sheet can be
found by the identifier this writer used.  Resources reference each other as `Type/id`
(NDJSON, http://hl7.org/fhir/uv/bulkdata/export.html); the institution's Organization, and
other members' Organizations and referrals, are logical references by identifier
(http://hl7.org/fhir/R4/references.html#logical), so each institution's files load into its
own partition without anything from another's.  `synth.fhir_bundle` turns one registration's
resources into a transaction Bundle.

Codes: ICD-10 医保版 `urn:yilian:cs:icd10-yibao`, ICD-9-CM-3 医保版 `urn:yilian:cs:icd9cm3-yibao`,
front-sheet cost categories `urn:yilian:cs:frontsheet-cost`, admission and discharge ways
(入院途径, 离院方式) `urn:yilian:cs:frontsheet-admission-way` / `-discharge-way`, national
department codes `urn:yilian:cs:department`; LOINC, UCUM, ATC and SNOMED CT as usual.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Final

from yilian.alliance.identifiers import (
    INSTITUTION_SYSTEM,
    RESIDENT_ID_SYSTEM,
    RESIDENT_ID_TYPE,
    allergy_system,
    claim_system,
    diagnosis_system,
    filler_system,
    mrn_system,
    order_system,
    practitioner_system,
    procedure_system,
    referral_system,
    result_system,
    visit_system,
)
from yilian.fhir.jsontext import DecimalText, keeps_text
from yilian.ingest.frontsheet.costs import COST_CATEGORIES
from yilian.synth.model import Directory, Encounter, History, Institution, Practitioner, Registration
from yilian.synth.names import COMPOUND_SURNAMES
from yilian.synth.places import CITY, COUNTY, PROVINCE

__all__ = [
    "ADMISSION_WAYS",
    "DISCHARGE_WAYS",
    "ICD9CM3_YIBAO",
    "ICD10_YIBAO",
    "RESOURCE_TYPES",
    "directory_resources",
    "history_resources",
    "registration_resources",
    "resource_id",
]

ICD10_YIBAO = "urn:yilian:cs:icd10-yibao"
ICD9CM3_YIBAO = "urn:yilian:cs:icd9cm3-yibao"
COST_SYSTEM = "urn:yilian:cs:frontsheet-cost"
ADMISSION_WAY_SYSTEM = "urn:yilian:cs:frontsheet-admission-way"
DISCHARGE_WAY_SYSTEM = "urn:yilian:cs:frontsheet-discharge-way"
DEPARTMENT_SYSTEM = "urn:yilian:cs:department"
CREDIT_CODE_SYSTEM = "urn:oid:2.16.156.10011.1.5"  # 医疗机构组织机构代码 / unified social credit code
LICENCE_SYSTEM = "urn:yilian:licence:practitioner"
_LOINC = "http://loinc.org"
_UCUM = "http://unitsofmeasure.org"
_ATC = "http://www.whocc.no/atc"
_SNOMED = "http://snomed.info/sct"
_TERM = "http://terminology.hl7.org/CodeSystem/"
_V2_0203 = _TERM + "v2-0203"
_LANGUAGE_EXT = "http://hl7.org/fhir/StructureDefinition/language"
_NAMESPACE = uuid.UUID("6f1c8a52-3b0e-5d7e-9a41-2c2a7e0b9d11")

RESOURCE_TYPES = (
    "Organization",
    "Practitioner",
    "Patient",
    "Encounter",
    "Condition",
    "Procedure",
    "ServiceRequest",
    "DiagnosticReport",
    "Observation",
    "MedicationRequest",
    "AllergyIntolerance",
    "Claim",
)
"""Every type written, referenced ones before those that refer to them."""


ADMISSION_WAYS: Final = {"1": "急诊", "2": "门诊", "3": "其他医疗机构转入", "9": "其他"}
"""The front sheet's admission ways (入院途径) and their names."""
DISCHARGE_WAYS: Final = {
    "1": "医嘱离院",
    "2": "医嘱转院",
    "3": "医嘱转社区卫生服务机构/乡镇卫生院",
    "4": "非医嘱离院",
    "5": "死亡",
    "9": "其他",
}
"""Its discharge ways (离院方式)."""

_COMPOUND = frozenset(s for s, _, _ in COMPOUND_SURNAMES)
_CLASS = {
    "outpatient": ("AMB", "ambulatory"),
    "emergency": ("EMER", "emergency"),
    "inpatient": ("IMP", "inpatient encounter"),
}


def resource_id(system: str, value: str) -> str:
    """The id of the resource identified by `system|value`: the same everywhere it is made."""
    return str(uuid.uuid5(_NAMESPACE, f"{system}|{value}"))


def _money(amount: Decimal) -> float:
    text = str(amount)
    return float(text) if keeps_text(text) else DecimalText(text)


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], **({"text": display} if display else {})}


def _term(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": _TERM + system, "code": code}]}


def organization_ref(inst: Institution) -> dict[str, Any]:
    """A logical reference to a member's Organization."""
    return {"identifier": {"system": INSTITUTION_SYSTEM, "value": inst.code}, "display": inst.name}


def _practitioner_ref(p: Practitioner) -> dict[str, Any]:
    system = practitioner_system(p.institution)
    return {"reference": f"Practitioner/{resource_id(system, p.id)}", "display": p.name}


def directory_resources(directory: Directory, institution: str) -> list[dict[str, Any]]:
    """A member's Organization and Practitioners."""
    inst = directory.institution(institution)
    org: dict[str, Any] = {
        "resourceType": "Organization",
        "id": resource_id(INSTITUTION_SYSTEM, inst.code),
        "identifier": [
            {"system": INSTITUTION_SYSTEM, "value": inst.code},
            {"system": CREDIT_CODE_SYSTEM, "value": inst.org_code},
        ],
        "active": True,
        "type": [_concept(_TERM + "organization-type", "prov", "Healthcare Provider")],
        "name": inst.name,
        "alias": [inst.facility],
        "address": [
            {
                "text": f"{PROVINCE}{CITY}{COUNTY}{inst.town}",
                "city": CITY,
                "district": COUNTY,
                "state": PROVINCE,
            }
        ],
    }
    if inst.parent:
        org["partOf"] = organization_ref(directory.institution(inst.parent))
    out = [org]
    for p in directory.practitioners:
        if p.institution != institution:
            continue
        system = practitioner_system(p.institution)
        cut = 2 if p.name[:2] in _COMPOUND else 1
        family, given = p.name[:cut], p.name[cut:]
        out.append(
            {
                "resourceType": "Practitioner",
                "id": resource_id(system, p.id),
                "identifier": [
                    {"system": system, "value": p.id},
                    {"system": LICENCE_SYSTEM, "value": p.licence},
                ],
                "active": True,
                "name": [{"text": p.name, "family": family, "given": [given]}],
                "qualification": [
                    {
                        "code": {
                            "text": {"doctor": "执业医师", "nurse": "注册护士", "technician": "检验技师"}[
                                p.role
                            ]
                        }
                    }
                ],
            }
        )
    return out


def history_resources(history: History, directory: Directory) -> Iterator[tuple[str, dict[str, Any]]]:
    """(institution, resource) for everything in `history`, registration by registration."""
    for registration in history.registrations:
        for resource in registration_resources(history, registration, directory):
            yield registration.institution, resource


def _patient(reg: Registration, inst: Institution) -> dict[str, Any]:
    mrn = mrn_system(reg.institution)
    identifiers: list[dict[str, Any]] = [
        {"use": "usual", "type": _concept(_V2_0203, "MR"), "system": mrn, "value": reg.mrn}
    ]
    if reg.resident_id:
        identifiers.append(
            {
                "use": "official",
                "type": _concept(_V2_0203, RESIDENT_ID_TYPE),
                "system": RESIDENT_ID_SYSTEM,
                "value": reg.resident_id,
            }
        )
    latin = "pinyin-only" in reg.variations
    names: list[dict[str, Any]] = [
        {
            "use": "official",
            "text": reg.family + ("" if not latin else " ") + reg.given,
            "family": reg.family,
            "given": [reg.given],
        }
    ]
    if not latin:
        names.append(
            {
                "extension": [{"url": _LANGUAGE_EXT, "valueCode": "zh-Latn-pinyin"}],
                "use": "official",
                "text": f"{reg.family_pinyin} {reg.given_pinyin}",
                "family": reg.family_pinyin,
                "given": [reg.given_pinyin],
            }
        )
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": resource_id(mrn, reg.mrn),
        "identifier": identifiers,
        "active": True,
        "name": names,
    }
    if reg.phone:
        patient["telecom"] = [{"system": "phone", "value": reg.phone, "use": "mobile"}]
    patient["gender"] = reg.sex
    if reg.birth_date:
        patient["birthDate"] = reg.birth_date.isoformat()
    if reg.address:
        a = reg.address
        address: dict[str, Any] = {
            "use": "home",
            "text": reg.address_text,
            "line": [f"{a.town}{a.village}{a.house}"],
        }
        address.update(
            {k: v for k, v in (("city", a.city), ("district", a.county), ("state", a.province)) if v}
        )
        address["country"] = "CN"
        patient["address"] = [address]
    patient["managingOrganization"] = organization_ref(inst)
    return patient


def registration_resources(history: History, reg: Registration, directory: Directory) -> list[dict[str, Any]]:
    """The resources one member holds about one person: the Patient first, then each
    encounter's, then allergies and referrals it made."""
    inst = directory.institution(reg.institution)
    patient = _patient(reg, inst)
    subject = {"reference": f"Patient/{patient['id']}", "display": reg.family + reg.given}
    out = [patient]
    referrals = {r.referral_id: r for r in history.referrals}
    for encounter in history.encounters:
        if encounter.registration_id == reg.registration_id:
            out.extend(_encounter_resources(encounter, subject, inst, directory, referrals))
    for allergy in history.allergies:
        if allergy.registration_id != reg.registration_id:
            continue
        system = allergy_system(reg.institution)
        code_system = _ATC if allergy.category == "medication" else _SNOMED
        out.append(
            {
                "resourceType": "AllergyIntolerance",
                "id": resource_id(system, allergy.allergy_id),
                "identifier": [{"system": system, "value": allergy.allergy_id}],
                "clinicalStatus": _term("allergyintolerance-clinical", "active"),
                "verificationStatus": _term("allergyintolerance-verification", "confirmed"),
                "category": [allergy.category],
                "code": _concept(code_system, allergy.substance_code, allergy.substance),
                "patient": subject,
                "recordedDate": allergy.recorded.isoformat(),
                "reaction": [{"manifestation": [{"text": allergy.reaction}], "severity": allergy.severity}],
            }
        )
    for referral in history.referrals:
        if referral.from_registration != reg.registration_id:
            continue
        system = referral_system(referral.from_institution)
        source = visit_system(referral.from_institution)
        out.append(
            {
                "resourceType": "ServiceRequest",
                "id": resource_id(system, referral.referral_id),
                "identifier": [{"system": system, "value": referral.referral_id}],
                "status": "completed",
                "intent": "order",
                "category": [
                    _concept(
                        "urn:yilian:cs:referral-direction",
                        referral.direction,
                        "上转" if referral.direction == "up" else "下转",
                    )
                ],
                "code": _concept(_SNOMED, "3457005", "转诊"),
                "subject": subject,
                "encounter": {"reference": f"Encounter/{resource_id(source, referral.from_encounter)}"},
                "authoredOn": referral.requested.isoformat(),
                "requester": organization_ref(inst),
                "performer": [organization_ref(directory.institution(referral.to_institution))],
                "reasonCode": [{"text": referral.reason}],
            }
        )
    return out


def _encounter_resources(
    e: Encounter,
    subject: dict[str, Any],
    inst: Institution,
    directory: Directory,
    referrals: dict[str, Any],
) -> list[dict[str, Any]]:
    code = inst.code
    visit_sys = visit_system(code)
    enc_id = resource_id(visit_sys, e.visit_number)
    enc_ref = {"reference": f"Encounter/{enc_id}"}
    doctor = _practitioner_ref(directory.practitioner(e.practitioner))
    department = directory.department(code, e.department)
    out: list[dict[str, Any]] = []
    conditions = []
    dx_system = diagnosis_system(code)
    for d in e.diagnoses:
        value = f"{e.visit_number}/{d.rank}"
        condition_id = resource_id(dx_system, value)
        conditions.append(({"reference": f"Condition/{condition_id}"}, d.rank))
        category = [_term("condition-category", "encounter-diagnosis")]
        if d.notifiable:
            category.append(_concept("urn:yilian:cs:condition-category", "notifiable", "法定传染病"))
        out.append(
            {
                "resourceType": "Condition",
                "id": condition_id,
                "identifier": [{"system": dx_system, "value": value}],
                "clinicalStatus": _term("condition-clinical", "active"),
                "verificationStatus": _term("condition-ver-status", "confirmed"),
                "category": category,
                "code": _concept(ICD10_YIBAO, d.code, d.name),
                "subject": subject,
                "encounter": enc_ref,
                "recordedDate": e.start.isoformat(),
            }
        )
    klass, display = _CLASS[e.kind]
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": enc_id,
        "identifier": [{"system": visit_sys, "value": e.visit_number}],
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": klass,
            "display": display,
        },
        "serviceType": _concept(DEPARTMENT_SYSTEM, department.code, department.name),
        "subject": subject,
        "participant": [{"individual": doctor}],
        "period": {"start": e.start.isoformat(), "end": e.end.isoformat()},
        "diagnosis": [
            {
                "condition": ref,
                "rank": rank,
                **({"use": _term("diagnosis-role", "DD")} if e.kind == "inpatient" else {}),
            }
            for ref, rank in conditions
        ],
        "serviceProvider": organization_ref(inst),
    }
    if e.referral and e.referral in referrals:
        r = referrals[e.referral]
        encounter["basedOn"] = [
            {"identifier": {"system": referral_system(r.from_institution), "value": r.referral_id}}
        ]
    if e.kind == "inpatient":
        hospitalization: dict[str, Any] = {}
        if e.admission_way:
            hospitalization["admitSource"] = _concept(
                ADMISSION_WAY_SYSTEM, e.admission_way, ADMISSION_WAYS[e.admission_way]
            )
        if e.discharge_way:
            hospitalization["dischargeDisposition"] = _concept(
                DISCHARGE_WAY_SYSTEM, e.discharge_way, DISCHARGE_WAYS[e.discharge_way]
            )
        encounter["hospitalization"] = hospitalization
        encounter["length"] = {
            "value": (e.end.date() - e.start.date()).days,
            "unit": "d",
            "system": _UCUM,
            "code": "d",
        }
    out.insert(0, encounter)
    pr_system = procedure_system(code)
    for p in e.procedures:
        value = f"{e.visit_number}/{p.rank}"
        procedure: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": resource_id(pr_system, value),
            "identifier": [{"system": pr_system, "value": value}],
            "status": "completed",
            "code": _concept(ICD9CM3_YIBAO, p.code, p.name),
            "subject": subject,
            "encounter": enc_ref,
            "performedDateTime": p.performed.isoformat(),
            "performer": [
                {"function": {"text": "术者"}, "actor": _practitioner_ref(directory.practitioner(p.operator))}
            ],
        }
        if p.anaesthesia:
            procedure["note"] = [{"text": f"麻醉方式：{p.anaesthesia}"}]
        out.append(procedure)
    out.extend(_lab_resources(e, subject, enc_ref, inst, directory))
    res_system = result_system(code)
    for n, v in enumerate(e.vitals, 1):
        value = f"{e.visit_number}-V{n}"
        out.append(
            {
                "resourceType": "Observation",
                "id": resource_id(res_system, value),
                "identifier": [{"system": res_system, "value": value}],
                "status": "final",
                "category": [_term("observation-category", "vital-signs")],
                "code": _concept(_LOINC, v.code, v.name),
                "subject": subject,
                "encounter": enc_ref,
                "effectiveDateTime": v.observed.isoformat(),
                "valueQuantity": {"value": v.value, "unit": v.unit, "system": _UCUM, "code": v.unit},
            }
        )
    ord_system = order_system(code)
    for m in e.medications:
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": resource_id(ord_system, m.order_id),
                "identifier": [{"system": ord_system, "value": m.order_id}],
                "status": m.status,
                "intent": "order",
                "medicationCodeableConcept": _concept(_ATC, m.code, m.name),
                "subject": subject,
                "encounter": enc_ref,
                "authoredOn": m.ordered.isoformat(),
                "requester": _practitioner_ref(directory.practitioner(m.orderer)),
                "dosageInstruction": [{"text": m.dosage, "route": {"text": m.route}}],
            }
        )
    if e.costs:
        out.append(_claim(e, subject, enc_ref, inst))
    return out


def _lab_resources(
    e: Encounter, subject: dict[str, Any], enc_ref: dict[str, Any], inst: Institution, directory: Directory
) -> list[dict[str, Any]]:
    code = inst.code
    ord_system, fill_system, res_system = order_system(code), filler_system(code), result_system(code)
    out: list[dict[str, Any]] = []
    for order in e.labs:
        request_id = resource_id(ord_system, order.order_id)
        request_ref = {"reference": f"ServiceRequest/{request_id}"}
        out.append(
            {
                "resourceType": "ServiceRequest",
                "id": request_id,
                "identifier": [{"system": ord_system, "value": order.order_id}],
                "status": "completed",
                "intent": "order",
                "category": [_concept(_SNOMED, "108252007", "Laboratory procedure")],
                "code": _concept(_LOINC, order.code, order.name),
                "subject": subject,
                "encounter": enc_ref,
                "authoredOn": order.ordered.isoformat(),
                "requester": _practitioner_ref(directory.practitioner(order.orderer)),
            }
        )
        results = []
        for result in order.results:
            observation_id = resource_id(res_system, result.result_id)
            results.append({"reference": f"Observation/{observation_id}"})
            observation: dict[str, Any] = {
                "resourceType": "Observation",
                "id": observation_id,
                "identifier": [{"system": res_system, "value": result.result_id}],
                "basedOn": [request_ref],
                "status": "final",
                "category": [_term("observation-category", "laboratory")],
                "code": _concept(_LOINC, result.code, result.name),
                "subject": subject,
                "encounter": enc_ref,
                "effectiveDateTime": result.observed.isoformat(),
            }
            if isinstance(result.value, str):
                observation["valueString"] = result.value
            else:
                observation["valueQuantity"] = _quantity(result.value, result.unit)
            if result.low is not None or result.high is not None:
                observation["referenceRange"] = [
                    {
                        **({"low": _quantity(result.low, result.unit)} if result.low is not None else {}),
                        **({"high": _quantity(result.high, result.unit)} if result.high is not None else {}),
                    }
                ]
            observation["interpretation"] = [_term("v3-ObservationInterpretation", result.flag)]
            out.append(observation)
        out.append(
            {
                "resourceType": "DiagnosticReport",
                "id": resource_id(fill_system, order.filler_id),
                "identifier": [{"system": fill_system, "value": order.filler_id}],
                "basedOn": [request_ref],
                "status": "final",
                "category": [_term("v2-0074", "LAB")],
                "code": _concept(_LOINC, order.code, order.name),
                "subject": subject,
                "encounter": enc_ref,
                "effectiveDateTime": order.ordered.isoformat(),
                "issued": order.reported.isoformat(),
                "performer": [organization_ref(inst)],
                "result": results,
            }
        )
    return out


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": _UCUM, "code": unit}


def _claim(
    e: Encounter, subject: dict[str, Any], enc_ref: dict[str, Any], inst: Institution
) -> dict[str, Any]:
    system = claim_system(inst.code)
    items: list[dict[str, Any]] = []
    total = Decimal("0.00")
    for key, name in COST_CATEGORIES:
        amount = e.costs.get(key)
        if not amount:
            continue
        total += amount
        items.append(
            {
                "sequence": len(items) + 1,
                "productOrService": _concept(COST_SYSTEM, key, name),
                "net": {"value": _money(amount), "currency": "CNY"},
                "encounter": [enc_ref],
            }
        )
    return {
        "resourceType": "Claim",
        "id": resource_id(system, e.visit_number),
        "identifier": [{"system": system, "value": e.visit_number}],
        "status": "active",
        "type": _term("claim-type", "institutional"),
        "use": "claim",
        "patient": subject,
        "billablePeriod": {"start": e.start.isoformat(), "end": e.end.isoformat()},
        "created": e.end.isoformat(),
        "provider": organization_ref(inst),
        "priority": _term("processpriority", "normal"),
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "城乡居民基本医疗保险"}}],
        "item": items,
        "total": {"value": _money(total), "currency": "CNY"},
    }
