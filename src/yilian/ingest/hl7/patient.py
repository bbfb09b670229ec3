"""PID -> Patient (http://build.fhir.org/ig/HL7/v2-to-fhir/ConceptMap-segment-pid-to-patient.html).

The key identifier, the one a resend or a later message finds the Patient by, is the first
PID-3 repetition of type MR (medical record number, 病案号/门诊号), else PI/PT, else the first
identifier at all; PID-2 and PID-4 (external and alternate ids of older versions) are kept as
further identifiers.  The resident ID (居民身份证号, type NNCHN or authority CHN) is kept too,
under RESIDENT_ID_SYSTEM, but never as the key: a desk can mistype it.
"""

from __future__ import annotations

from typing import Any

from yilian.alliance.identifiers import INSTITUTION_SYSTEM, RESIDENT_ID_SYSTEM
from yilian.ingest.hl7.context import MappingContext
from yilian.ingest.hl7.datatypes import (
    address,
    codeable_concept,
    contact_point,
    human_name,
    identifier,
    to_date,
    to_datetime,
)
from yilian.ingest.hl7.errors import REQUIRED_FIELD_MISSING, SEGMENT_SEQUENCE_ERROR, Hl7Error
from yilian.ingest.hl7.fields import Seg
from yilian.ingest.hl7.message import Hl7Message

__all__ = ["GENDERS", "organization_reference", "patient", "pid_of"]

GENDERS = {"M": "male", "F": "female", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}
_KEY_TYPES = ("MR", "MRN", "PI", "PT")


def organization_reference(ctx: MappingContext) -> dict[str, Any]:
    """The logical reference to the institution's Organization."""
    return {"identifier": {"system": INSTITUTION_SYSTEM, "value": ctx.institution}}


def pid_of(message: Hl7Message) -> Seg:
    """The message's PID, or Hl7Error AE 100 when it has none."""
    pid = message.segment("PID")
    if pid is None:
        raise Hl7Error.content(
            SEGMENT_SEQUENCE_ERROR,
            f"{message.header.message_type} needs a PID segment (the patient) and this message has none",
            "PID",
        )
    return pid


def _identifiers(pid: Seg, ctx: MappingContext) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for field in (3, 2, 4):
        for rep in pid.reps(field):
            ident = identifier(rep, ctx)
            if ident is not None and all(
                (i["system"], i["value"]) != (ident["system"], ident["value"]) for _, i in found
            ):
                found.append((rep.get(5).upper(), ident))
    if not found:
        raise Hl7Error.content(
            REQUIRED_FIELD_MISSING,
            "PID-3, the patient identifier list, is empty: the patient cannot be identified",
            pid.where(3),
        )
    keyable = [i for _, i in found if i["system"] != RESIDENT_ID_SYSTEM] or [i for _, i in found]
    key = next((i for kind, i in found if kind in _KEY_TYPES and i in keyable), keyable[0])
    return [i for _, i in found], key


def patient(pid: Seg, ctx: MappingContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Patient of `pid` and its key identifier."""
    identifiers, key = _identifiers(pid, ctx)
    resource: dict[str, Any] = {"resourceType": "Patient", "identifier": identifiers, "active": True}
    names = [n for n in (human_name(r) for r in pid.reps(5)) if n]
    if names:
        resource["name"] = names
    telecom = [t for t in (contact_point(r) for r in pid.reps(13)) if t]
    for point in (contact_point(r) for r in pid.reps(14)):  # PID-14: business phone
        if point is not None:
            telecom.append({"use": "work", **point})
    if telecom:
        resource["telecom"] = telecom
    sex = pid.get(8).upper()
    if sex:
        if sex in GENDERS:
            resource["gender"] = GENDERS[sex]
        else:
            ctx.warn(pid.where(8), f"sex {sex!r} is not in HL7 table 0001; left out")
    birth = to_date(pid.get(7), ctx, pid.where(7))
    if birth:
        resource["birthDate"] = birth
    death = pid.get(29)
    if death:
        when = to_datetime(death, ctx, pid.where(29))
        if when:
            resource["deceasedDateTime"] = when
    elif pid.get(30).upper() == "Y":
        resource["deceasedBoolean"] = True
    addresses = [a for a in (address(r) for r in pid.reps(11)) if a]
    if addresses:
        resource["address"] = addresses
    marital = pid.rep(16)
    if not marital.empty:
        concept = codeable_concept(marital)
        if concept:
            resource["maritalStatus"] = concept
    multiple = pid.get(24).upper()
    order = pid.get(25)
    if order.isdigit() and int(order) > 0:
        resource["multipleBirthInteger"] = int(order)
    elif multiple in ("Y", "N"):
        resource["multipleBirthBoolean"] = multiple == "Y"
    resource["managingOrganization"] = organization_reference(ctx)
    return resource, key
