"""ADT messages -> Patient, Encounter and Condition entries.

Which event does what (http://build.fhir.org/ig/HL7/v2-to-fhir/ and HL7 v2.5 chapter 3):

| event | meaning | Patient | Encounter status |
|---|---|---|---|
| A01 | admit | PUT | in-progress |
| A02 | transfer | PUT | in-progress (new location) |
| A03 | discharge | PUT | finished (PV1-45 the end) |
| A04 | register an outpatient | PUT | in-progress, finished when PV1-45 is given |
| A05 | pre-admit | PUT | planned |
| A08 | update patient information | PUT | as PV1 says (when PV1-19 is given) |
| A11 | cancel admit | PUT | cancelled |
| A13 | cancel discharge | PUT | in-progress (the end removed) |
| A28, A31 | add, update person | PUT | - |
| A40 | merge patient (MRG-1 into PID-3) | PUT + PATCH | - |

An ADT message states the patient's current demographics, so its Patient is a conditional
update; the Encounter is too (the PV1 of each event is the visit as it now stands).  A visit
event whose PV1 names no visit number (PV1-19 is optional, and many registration systems
leave it empty) still updates the Patient; the Encounter, which nothing could find again,
is left out with a warning rather than the demographics refused.
"""

from __future__ import annotations

from typing import Any

from yilian.ingest.hl7.builder import TransactionBuilder
from yilian.ingest.hl7.context import MappingContext
from yilian.ingest.hl7.datatypes import identifier
from yilian.ingest.hl7.encounter import diagnosis, encounter, visit_key
from yilian.ingest.hl7.errors import DATA_TYPE_ERROR, REQUIRED_FIELD_MISSING, SEGMENT_SEQUENCE_ERROR, Hl7Error
from yilian.ingest.hl7.message import Hl7Message
from yilian.ingest.hl7.patient import organization_reference, patient, pid_of

__all__ = ["map_adt"]

_STATUS = {
    "A01": "in-progress",
    "A02": "in-progress",
    "A03": "finished",
    "A04": "in-progress",
    "A05": "planned",
    "A08": "in-progress",
    "A11": "cancelled",
    "A13": "in-progress",
}
_NEEDS_VISIT = frozenset({"A01", "A02", "A03", "A04", "A05", "A11", "A13"})


def map_adt(message: Hl7Message, ctx: MappingContext, out: TransactionBuilder) -> None:
    """Add the entries of an ADT message to `out`."""
    event = message.header.trigger_event
    pid = pid_of(message)
    resource, key = patient(pid, ctx)
    if event == "A40":
        _merge(message, ctx, out, resource, key)
        return
    patient_url = out.put(resource, key)
    if event in ("A28", "A31"):
        return
    pv1 = message.segment("PV1")
    visit = visit_key(pv1, ctx, required=False)
    if pv1 is None or visit is None:
        if event in _NEEDS_VISIT:
            where = pv1.where(19) if pv1 is not None else "PV1"
            ctx.warn(
                where, f"no visit number (PV1-19): the {event} encounter is left out, the patient stored"
            )
        return
    status = _STATUS[event]
    if event in ("A04", "A08") and pv1.get(45):
        status = "finished"
    enc = encounter(pv1, visit, ctx, patient_url, status)
    conditions = []
    for dg1 in message.segments("DG1"):
        found = diagnosis(dg1, visit, ctx, patient_url, TransactionBuilder.full_url("Encounter", **visit))
        if found is not None:
            conditions.append(found)
    if conditions:
        enc["diagnosis"] = [
            _encounter_diagnosis(TransactionBuilder.full_url("Condition", **k), rank)
            for rank, (_, k) in enumerate(conditions, 1)
        ]
    out.put(enc, visit)
    for condition, condition_key in conditions:
        out.put(condition, condition_key)


def _encounter_diagnosis(condition_url: str, rank: int) -> dict[str, Any]:
    return {"condition": {"reference": condition_url}, "rank": rank}


def _merge(
    message: Hl7Message,
    ctx: MappingContext,
    out: TransactionBuilder,
    survivor: dict[str, Any],
    survivor_key: dict[str, Any],
) -> None:
    """A40: the record of MRG-1 is merged into the one of PID-3.  The survivor is written
    with a `replaces` link; the old record is created bare if yilian never saw it, then
    patched (`active` false, a `replaced-by` link) so that everything else it holds stays
    and it can still be found by its identifier."""
    mrg = message.segment("MRG")
    if mrg is None:
        raise Hl7Error.content(
            SEGMENT_SEQUENCE_ERROR, "ADT^A40 needs an MRG segment (the record merged)", "MRG"
        )
    old_key = next((i for i in (identifier(r, ctx) for r in mrg.reps(1)) if i), None)
    if old_key is None:
        raise Hl7Error.content(
            REQUIRED_FIELD_MISSING, "MRG-1, the identifier of the record to merge, is missing", mrg.where(1)
        )
    if (old_key["system"], old_key["value"]) == (survivor_key["system"], survivor_key["value"]):
        raise Hl7Error.content(
            DATA_TYPE_ERROR,
            f"MRG-1 names the same record as PID-3 ({old_key['value']}): "
            "a record cannot be merged into itself",
            mrg.where(1),
        )
    old_url = TransactionBuilder.full_url("Patient", old_key["system"], old_key["value"])
    survivor["link"] = [{"other": {"reference": old_url}, "type": "replaces"}]
    out.put(survivor, survivor_key)
    bare = {
        "resourceType": "Patient",
        "identifier": [old_key],
        "managingOrganization": organization_reference(ctx),
    }
    out.create(bare, old_key)
    # A PATCH body is not rewritten by the transaction, so the link names the survivor by
    # its identifier (a logical reference) rather than by a fullUrl.
    other: dict[str, Any] = {"type": "Patient", "identifier": survivor_key}
    if _name(survivor):
        other["display"] = _name(survivor)
    replaced_by = {"other": other, "type": "replaced-by"}
    out.patch(
        "Patient",
        old_key,
        [
            {"op": "add", "path": "/active", "value": False},
            {"op": "add", "path": "/link", "value": [replaced_by]},
        ],
    )


def _name(resource: dict[str, Any]) -> str:
    for name in resource.get("name", []):
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    return ""
