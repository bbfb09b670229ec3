"""SIU^S12 (new appointment booking) -> Appointment
(http://build.fhir.org/ig/HL7/v2-to-fhir/ConceptMap-segment-sch-to-appointment.html).

Keyed by the filler appointment id (SCH-2, else the placer's SCH-1) under
`appointment_system`.  The times come from SCH-11 (v2.3-2.5, components 4 and 5), else TQ1-7
and TQ1-8 (v2.6+), else the first AIS/AIG/AIL/AIP start and duration; a booked appointment
needs both (FHIR invariant app-3), so one without them is rejected (AE 101).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from yilian.alliance.identifiers import appointment_system
from yilian.ingest.hl7.builder import TransactionBuilder
from yilian.ingest.hl7.context import MappingContext
from yilian.ingest.hl7.datatypes import codeable_concept, number, person_name, to_datetime
from yilian.ingest.hl7.errors import REQUIRED_FIELD_MISSING, SEGMENT_SEQUENCE_ERROR, Hl7Error
from yilian.ingest.hl7.fields import Seg
from yilian.ingest.hl7.message import Hl7Message
from yilian.ingest.hl7.orders import context_entries, notes

__all__ = ["map_scheduling"]

_STATUS = {  # SCH-25, table 0278
    "BOOKED": "booked",
    "PENDING": "pending",
    "WAITLIST": "waitlist",
    "COMPLETE": "fulfilled",
    "CANCELLED": "cancelled",
    "NOSHOW": "noshow",
    "DELETED": "entered-in-error",
    "STARTED": "arrived",
    "OVERBOOK": "booked",
    "BLOCKED": "booked",
}
_MINUTES = {
    "M": 1,
    "MIN": 1,
    "MINUTES": 1,
    "S": 1 / 60,
    "SEC": 1 / 60,
    "H": 60,
    "HR": 60,
    "HOUR": 60,
    "D": 1440,
}


def _minutes(amount: str, unit: str) -> int | None:
    value = number(amount)
    factor = _MINUTES.get(unit.upper(), 1 if not unit else None)
    if value is None or factor is None or value <= 0:
        return None
    return max(1, round(value * factor))


def _times(message: Hl7Message, sch: Seg, ctx: MappingContext) -> tuple[str | None, str | None, int | None]:
    duration = _minutes(sch.get(9), sch.get(10))
    start = to_datetime(sch.get(11, 4), ctx, sch.where(11, 4))
    end = to_datetime(sch.get(11, 5), ctx, sch.where(11, 5))
    tq1 = message.segment("TQ1")
    if start is None and tq1 is not None:
        start = to_datetime(tq1.get(7), ctx, tq1.where(7))
        end = to_datetime(tq1.get(8), ctx, tq1.where(8))
    if start is None:
        for name, at, length, unit in (
            ("AIS", 4, 7, 8),
            ("AIG", 8, 11, 12),
            ("AIL", 6, 9, 10),
            ("AIP", 6, 9, 10),
        ):
            seg = message.segment(name)
            if seg is not None and seg.get(at):
                start = to_datetime(seg.get(at), ctx, seg.where(at))
                duration = duration or _minutes(seg.get(length), seg.get(unit))
                break
    if start and not end and duration and "T" in start:
        end = (datetime.fromisoformat(start) + timedelta(minutes=duration)).isoformat()
    if (
        start
        and end
        and "T" in start
        and "T" in end
        and datetime.fromisoformat(end) < datetime.fromisoformat(start)
    ):
        ctx.warn(sch.where(11), "the appointment ends before it starts; its end is left out")
        end = None
    return start, end, duration


def map_scheduling(message: Hl7Message, ctx: MappingContext, out: TransactionBuilder) -> None:
    """SIU^S12: the Appointment, its patient (if new) and the booked resources as
    participants."""
    sch = message.segment("SCH")
    if sch is None:
        raise Hl7Error.content(
            SEGMENT_SEQUENCE_ERROR, "SIU^S12 needs an SCH segment (the appointment)", "SCH"
        )
    number_ = sch.get(2) or sch.get(1)
    if not number_:
        raise Hl7Error.content(
            REQUIRED_FIELD_MISSING,
            "the appointment has neither a filler (SCH-2) nor a placer (SCH-1) appointment id",
            sch.where(2),
        )
    key = {"system": appointment_system(ctx.institution), "value": number_}
    patient_url, _ = context_entries(message, ctx, out)
    status = _STATUS.get(sch.get(25).upper(), "booked")
    start, end, duration = _times(message, sch, ctx)
    if status in ("booked", "arrived", "fulfilled", "noshow", "pending") and not (
        start and end and "T" in start
    ):
        raise Hl7Error.content(
            REQUIRED_FIELD_MISSING,
            "the appointment's start and end (SCH-11.4/11.5, TQ1-7/8 or AIS-4 with a duration) are missing",
            sch.where(11),
        )
    resource: dict[str, Any] = {"resourceType": "Appointment", "identifier": [key], "status": status}
    for field, element in ((8, "appointmentType"),):
        concept = codeable_concept(sch.rep(field))
        if concept:
            resource[element] = concept
    reason = codeable_concept(sch.rep(7))
    if reason:
        resource["reasonCode"] = [reason]
    services = [c for c in (codeable_concept(s.rep(3)) for s in message.segments("AIS")) if c]
    if services:
        resource["serviceType"] = services
    if start and end and "T" in start and "T" in end:
        resource["start"], resource["end"] = start, end
        if duration:
            resource["minutesDuration"] = duration
    comments = notes(message.segments("NTE"))
    if comments:
        resource["comment"] = "\n".join(c["text"] for c in comments)
    participants: list[dict[str, Any]] = [{"actor": {"reference": patient_url}, "status": "accepted"}]
    for aip in message.segments("AIP"):
        name = person_name(aip.rep(3), offset=1) or aip.get(3)
        if name:
            participants.append({"actor": {"display": name}, "status": "accepted"})
    for ail in message.segments("AIL"):
        place = " ".join(p for p in (ail.get(3, 1), ail.get(3, 2), ail.get(3, 4)) if p)
        if place:
            participants.append({"actor": {"display": place}, "status": "accepted"})
    resource["participant"] = participants
    out.put(resource, key)
