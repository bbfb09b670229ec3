"""ORC/OBR order groups -> ServiceRequest; ORM^O01 and OML^O21
(http://build.fhir.org/ig/HL7/v2-to-fhir/ConceptMap-segment-orc-to-servicerequest.html,
ConceptMap-segment-obr-to-servicerequest.html).

An order is keyed by its placer number (ORC-2, else OBR-2) under `order_system`, or by the
filler number (ORC-3, else OBR-3) under `filler_system` when the placer gave none; an order
group with neither cannot be found again and is rejected (AE 101).  The order message owns
its ServiceRequest (a conditional update); the patient and the visit are only created when
yilian does not know them yet, since ADT owns those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yilian.alliance.identifiers import filler_system, order_system
from yilian.ingest.hl7.builder import TransactionBuilder
from yilian.ingest.hl7.context import MappingContext
from yilian.ingest.hl7.datatypes import V2_0203, codeable_concept, person_name, to_datetime
from yilian.ingest.hl7.encounter import encounter, visit_key
from yilian.ingest.hl7.errors import REQUIRED_FIELD_MISSING, SEGMENT_SEQUENCE_ERROR, Hl7Error
from yilian.ingest.hl7.fields import Seg
from yilian.ingest.hl7.message import Hl7Message
from yilian.ingest.hl7.patient import patient, pid_of

__all__ = ["OrderGroup", "context_entries", "map_orders", "order_groups", "service_request"]

_ORDER_STATUS = {  # ORC-5, table 0038
    "A": "active",
    "CA": "revoked",
    "CM": "completed",
    "DC": "revoked",
    "ER": "entered-in-error",
    "HD": "on-hold",
    "IP": "active",
    "RP": "revoked",
    "SC": "active",
}
_ORDER_CONTROL = {  # ORC-1, table 0119, when ORC-5 is empty
    "NW": "active",
    "CA": "revoked",
    "OC": "revoked",
    "CR": "revoked",
    "DC": "revoked",
    "OD": "revoked",
    "DR": "revoked",
    "HD": "on-hold",
    "OH": "on-hold",
    "XO": "active",
    "RL": "active",
    "OR": "active",
}


@dataclass
class OrderGroup:
    """One ORC and/or OBR with the OBX (and their NTE) that belong to it."""

    orc: Seg | None = None
    obr: Seg | None = None
    observations: list[tuple[Seg, list[Seg]]] = field(default_factory=list)
    notes: list[Seg] = field(default_factory=list)
    in_specimen: bool = False

    def get(self, orc_field: int, obr_field: int, component: int = 1) -> str:
        """An order field the ORC and the OBR both carry: the ORC's, else the OBR's."""
        value = self.orc.get(orc_field, component) if self.orc is not None else ""
        if not value and self.obr is not None:
            value = self.obr.get(obr_field, component)
        return value

    def where(self, orc_field: int, obr_field: int) -> str:
        if self.obr is not None:
            return self.obr.where(obr_field)
        return self.orc.where(orc_field) if self.orc is not None else f"OBR-{obr_field}"


def order_groups(message: Hl7Message, ctx: MappingContext) -> list[OrderGroup]:
    """The order groups in message order: an ORC opens one, an OBR joins the ORC before it
    (or opens one of its own), OBX and NTE join the OBR before them.  OBX after an SPM
    describe the specimen and are not results; they are left out with a warning."""
    groups: list[OrderGroup] = []
    current: OrderGroup | None = None
    patients = 0
    for seg in message.all_segments():
        if seg.name == "PID":
            patients += 1
            if patients > 1:
                raise Hl7Error.content(
                    SEGMENT_SEQUENCE_ERROR,
                    "the message holds results or orders of more than one patient (a second PID); "
                    "send one message per patient",
                    seg.where(1).split("-")[0],
                )
        elif seg.name == "ORC":
            current = OrderGroup(orc=seg)
            groups.append(current)
        elif seg.name == "OBR":
            if current is None or current.obr is not None:
                current = OrderGroup()
                groups.append(current)
            current.obr = seg
        elif seg.name == "SPM" and current is not None:
            current.in_specimen = True
        elif seg.name == "OBX":
            if current is None or current.obr is None:
                ctx.warn(seg.where(3), "an OBX outside an order's OBR; left out")
            elif current.in_specimen:
                ctx.warn(seg.where(3), "an OBX about the specimen (after SPM); left out")
            else:
                current.observations.append((seg, []))
        elif seg.name == "NTE" and current is not None:
            if current.observations:
                current.observations[-1][1].append(seg)
            elif not current.in_specimen:
                current.notes.append(seg)
    return groups


def order_keys(group: OrderGroup, ctx: MappingContext) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(placer, filler) identifiers of an order group, each None when absent."""
    placer, filler = group.get(2, 2), group.get(3, 3)
    placer_key = {"system": order_system(ctx.institution), "value": placer} if placer else None
    filler_key = {"system": filler_system(ctx.institution), "value": filler} if filler else None
    return placer_key, filler_key


def _typed(key: dict[str, Any], code: str) -> dict[str, Any]:
    return {**key, "type": {"coding": [{"system": V2_0203, "code": code}]}}


def notes(segments: list[Seg]) -> list[dict[str, str]]:
    """NTE-3 comments as Annotations."""
    texts = ["\n".join(r.get(1) for r in s.reps(3) if r.get(1)) for s in segments]
    return [{"text": t} for t in texts if t]


def service_request(
    group: OrderGroup,
    ctx: MappingContext,
    patient_url: str,
    encounter_url: str | None,
    default_status: str = "active",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ServiceRequest of an order group and its key identifier (placer, else filler)."""
    placer, filler = order_keys(group, ctx)
    key = placer or filler
    if key is None:
        raise Hl7Error.content(
            REQUIRED_FIELD_MISSING,
            "the order has neither a placer (ORC-2/OBR-2) nor a filler (ORC-3/OBR-3) order number",
            group.where(2, 2),
        )
    code = codeable_concept(group.obr.rep(4)) if group.obr is not None else None
    if code is None:
        raise Hl7Error.content(
            REQUIRED_FIELD_MISSING,
            "OBR-4, the universal service identifier (what is ordered), is missing",
            group.obr.where(4) if group.obr is not None else "OBR-4",
        )
    identifiers = [_typed(placer, "PLAC")] if placer else []
    if filler:
        identifiers.append(_typed(filler, "FILL"))
    status_code = group.orc.get(5).upper() if group.orc is not None else ""
    control = group.orc.get(1).upper() if group.orc is not None else ""
    status = _ORDER_STATUS.get(status_code) or _ORDER_CONTROL.get(control) or default_status
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": identifiers,
        "status": status,
        "intent": "order",
        "code": code,
        "subject": {"reference": patient_url},
    }
    if encounter_url:
        resource["encounter"] = {"reference": encounter_url}
    authored = to_datetime(group.get(9, 6), ctx, group.where(9, 6))
    if authored:
        resource["authoredOn"] = authored
    requester = group.orc.rep(12) if group.orc is not None else None
    if requester is None or requester.empty:
        requester = group.obr.rep(16) if group.obr is not None else None
    if requester is not None and not requester.empty:
        name = person_name(requester, offset=1) or requester.get(1)
        if name:
            resource["requester"] = {"display": name}
    if group.obr is not None:
        reasons = [c for c in (codeable_concept(r) for r in group.obr.reps(31)) if c]
        if reasons:
            resource["reasonCode"] = reasons
    annotations = notes(group.notes)
    if annotations:
        resource["note"] = annotations
    return resource, _plain(key)


def _plain(key: dict[str, Any]) -> dict[str, Any]:
    return {"system": key["system"], "value": key["value"]}


def context_entries(
    message: Hl7Message, ctx: MappingContext, out: TransactionBuilder
) -> tuple[str, str | None]:
    """The patient and, when PV1-19 is given, the visit of a non-ADT message, created only
    when yilian does not know them yet (ADT owns them): their fullUrls."""
    resource, key = patient(pid_of(message), ctx)
    patient_url = out.create(resource, key)
    pv1 = message.segment("PV1")
    visit = visit_key(pv1, ctx, required=False)
    if pv1 is None or visit is None:
        return patient_url, None
    status = "finished" if pv1.get(45) else "in-progress" if pv1.get(44) else "unknown"
    return patient_url, out.create(encounter(pv1, visit, ctx, patient_url, status), visit)


def map_orders(message: Hl7Message, ctx: MappingContext, out: TransactionBuilder) -> None:
    """ORM^O01, OML^O21: one ServiceRequest per order group."""
    patient_url, encounter_url = context_entries(message, ctx, out)
    groups = [g for g in order_groups(message, ctx) if g.obr is not None or g.orc is not None]
    if not groups:
        raise Hl7Error.content(SEGMENT_SEQUENCE_ERROR, "the order message holds no ORC or OBR segment", "ORC")
    for group in groups:
        resource, key = service_request(group, ctx, patient_url, encounter_url)
        out.put(resource, key)
