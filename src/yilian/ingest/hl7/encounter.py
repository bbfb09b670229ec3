"""PV1 -> Encounter, DG1 -> Condition
(http://build.fhir.org/ig/HL7/v2-to-fhir/ConceptMap-segment-pv1-to-encounter.html,
ConceptMap-segment-dg1-to-condition.html).

An Encounter is keyed by its visit number (PV1-19, 住院号/就诊流水号) under
`visit_system(institution)`; a PV1 without one describes no visit yilian can find again, so
the Encounter is left out (the mappers say so in a warning).
Diagnoses are keyed `{visit number}/{DG1-1}` under `diagnosis_system`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yilian.alliance.identifiers import diagnosis_system, visit_system
from yilian.ingest.hl7.context import MappingContext
from yilian.ingest.hl7.datatypes import codeable_concept, person_name, to_datetime
from yilian.ingest.hl7.errors import REQUIRED_FIELD_MISSING, Hl7Error
from yilian.ingest.hl7.fields import Seg
from yilian.ingest.hl7.patient import organization_reference

__all__ = ["CLASSES", "diagnosis", "encounter", "visit_key"]

_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CLASSES = {
    "I": ("IMP", "inpatient encounter"),
    "O": ("AMB", "ambulatory"),
    "E": ("EMER", "emergency"),
    "P": ("PRENC", "pre-admission"),
    "R": ("AMB", "ambulatory"),
    "B": ("IMP", "inpatient encounter"),
}
"""PV1-2 patient class (table 0004) -> v3 ActCode encounter class, as the v2-to-FHIR
PatientClass ConceptMap maps them."""


def visit_key(pv1: Seg | None, ctx: MappingContext, *, required: bool) -> dict[str, Any] | None:
    """The Encounter's identifier (PV1-19), or None; Hl7Error AE 101 when `required`."""
    value = pv1.get(19) if pv1 is not None else ""
    if value:
        return {"system": visit_system(ctx.institution), "value": value}
    if required:
        where = pv1.where(19) if pv1 is not None else "PV1-19"
        raise Hl7Error.content(
            REQUIRED_FIELD_MISSING,
            "PV1-19, the visit number, is missing: the encounter cannot be identified",
            where,
        )
    return None


def _class(pv1: Seg) -> dict[str, Any]:
    code = pv1.get(2).upper()
    if code in CLASSES:
        act, display = CLASSES[code]
        return {"system": _ACT_CODE, "code": act, "display": display}
    if code:
        return {"system": "http://terminology.hl7.org/CodeSystem/v2-0004", "code": code}
    return {"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK"}


def _coded(pv1: Seg, field: int, table: str) -> dict[str, Any] | None:
    code, display = pv1.get(field), pv1.get(field, 2)
    if not code:
        return None
    coding: dict[str, Any] = {"system": f"http://terminology.hl7.org/CodeSystem/v2-{table}", "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _location(pv1: Seg, field: int) -> str:
    rep = pv1.rep(field)
    return " ".join(p for p in (rep.get(1, 1), rep.get(2), rep.get(3), rep.get(4, 1)) if p)


def _before(later: str, earlier: str) -> bool:
    """True when dateTime `later` is before `earlier` (both with a time of day)."""
    if "T" not in later or "T" not in earlier:
        return later[:10] < earlier[:10]
    return datetime.fromisoformat(later) < datetime.fromisoformat(earlier)


def encounter(
    pv1: Seg, key: dict[str, Any], ctx: MappingContext, patient_url: str, status: str
) -> dict[str, Any]:
    """The Encounter of `pv1` with `status` (the event decides it), for the Patient at
    `patient_url`."""
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [key],
        "status": status,
        "class": _class(pv1),
    }
    kind = _coded(pv1, 4, "0007")
    if kind:
        resource["type"] = [kind]
    service = _coded(pv1, 10, "0069")
    if service:
        resource["serviceType"] = service
    resource["subject"] = {"reference": patient_url}
    participants = []
    for field, role in ((7, "ATND"), (8, "REF"), (9, "CON"), (17, "ADM")):
        for rep in pv1.reps(field):
            name = person_name(rep, offset=1) or rep.get(1)
            if name:
                participants.append(
                    {
                        "type": [
                            {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                        "code": role,
                                    }
                                ]
                            }
                        ],
                        "individual": {"display": name},
                    }
                )
    if participants:
        resource["participant"] = participants
    period: dict[str, str] = {}
    start = to_datetime(pv1.get(44), ctx, pv1.where(44))
    end = to_datetime(pv1.get(45), ctx, pv1.where(45))
    if start:
        period["start"] = start
    if end and status in ("finished", "cancelled", "entered-in-error"):
        period["end"] = end
    if start and "end" in period and _before(period["end"], start):
        ctx.warn(pv1.where(45), "the discharge time is before the admission time; left out")
        del period["end"]
    if period:
        resource["period"] = period
    hospitalization: dict[str, Any] = {}
    admit_source = _coded(pv1, 14, "0023")
    if admit_source:
        hospitalization["admitSource"] = admit_source
    disposition = _coded(pv1, 36, "0112")
    if disposition:
        hospitalization["dischargeDisposition"] = disposition
    if hospitalization:
        resource["hospitalization"] = hospitalization
    location = _location(pv1, 3)
    if location:
        resource["location"] = [{"location": {"display": location}}]
    resource["serviceProvider"] = organization_reference(ctx)
    return resource


def diagnosis(
    dg1: Seg, visit: dict[str, Any] | None, ctx: MappingContext, patient_url: str, encounter_url: str | None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The Condition of one DG1 (code DG1-3, recorded DG1-5), keyed under the visit; None
    when it has no code or there is no visit to key it by."""
    concept = codeable_concept(dg1.rep(3))
    if concept is None or visit is None:
        if concept is None and dg1.size >= 1:
            ctx.warn(dg1.where(3), "a DG1 without a diagnosis code; left out")
        return None
    number = dg1.get(1) or str(dg1.index)
    key = {"system": diagnosis_system(ctx.institution), "value": f"{visit['value']}/{number}"}
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "identifier": [key],
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
        "code": concept,
        "subject": {"reference": patient_url},
    }
    if encounter_url:
        resource["encounter"] = {"reference": encounter_url}
    recorded = to_datetime(dg1.get(5), ctx, dg1.where(5))
    if recorded:
        resource["recordedDate"] = recorded
    return resource, key
