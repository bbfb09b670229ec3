"""An `AccessRecord` as a FHIR R4 AuditEvent (http://hl7.org/fhir/R4/auditevent.html).

The event follows the RESTful-operation pattern of the AuditEvent page: `type` rest, `subtype`
the restful-interaction code, `action` C/R/U/D/E, `outcome` from the HTTP status (0 success,
4 a client error, 8 a refusal, 401 or 403, 12 a server failure), one requesting agent (who is
the token subject, with the institution as the identifier's assigner, the role and the purpose
of use), a query entity with the search or operation parameters, one entity per resource
touched and a Patient entity for every patient whose record it concerns.  Access under a
break-the-glass window carries the `BTG` security label and the stated reason.
"""

from __future__ import annotations

import base64
import functools
import re
from typing import Any
from urllib.parse import unquote_plus

import orjson

from yilian.auth.principal import Principal
from yilian.privacy.model import AccessRecord
from yilian.store.audit_log import AuditEntry

__all__ = ["BREAK_GLASS_REASON_URL", "audit_entry", "audit_event", "outcome_code", "patients_of"]

_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_INTERACTION = "http://hl7.org/fhir/restful-interaction"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
_ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
_ROLE_SYSTEM = "urn:yilian:role"
_SUBJECT_SYSTEM = "urn:yilian:subject"
_INSTITUTION_SYSTEM = "urn:yilian:institution"
BREAK_GLASS_REASON_URL = "urn:yilian:fhir:extension:break-glass-reason"

_SUBTYPE = {
    "read": "read",
    "vread": "vread",
    "update": "update",
    "patch": "patch",
    "delete": "delete",
    "history-instance": "history-instance",
    "history-type": "history-type",
    "history-system": "history-system",
    "create": "create",
    "search-type": "search-type",
    "search-system": "search-system",
    "capabilities": "capabilities",
    "bundle": "batch",
    "operation": "operation",
}
_ACTION = {"create": "C", "update": "U", "patch": "U", "delete": "D", "bundle": "E", "operation": "E"}

_PURPOSE = {
    "treatment": "TREAT",
    "payment": "HPAYMT",
    "research": "HRESCH",
    "public-health": "PUBHLTH",
    "emergency": "ETREAT",
    "operations": "HOPERAT",
}

_PATIENT_PARAMS = frozenset({"patient", "subject", "_id", "beneficiary", "individual"})
_PATIENT_REF = re.compile(r"(?:.*/)?Patient/([A-Za-z0-9\-.]{1,64})")


def outcome_code(status: int) -> str:
    """AuditEvent.outcome for an HTTP status (http://hl7.org/fhir/R4/valueset-audit-event-outcome.html)."""
    if status < 400:
        return "0"
    if status in (401, 403):
        return "8"
    if status < 500:
        return "4"
    return "12"


def _patient_params(query: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of an urlencoded query whose parameter may name a patient, as
    `parse_qsl` would give them, without decoding the pairs that cannot (most of them)."""
    found = []
    for pair in query.split("&") if query else ():
        name, _, value = pair.partition("=")
        if not value:
            continue
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if name.split(":", 1)[0] in _PATIENT_PARAMS:
            found.append((name, unquote_plus(value) if "%" in value or "+" in value else value))
    return found


def patients_of(record: AccessRecord) -> tuple[str, ...]:
    """The Patient ids an access concerns: those the policy named, the Patients it returned or
    touched, and the patients its query was about (`patient=`, `subject=Patient/x`)."""
    found: set[str] = set(record.patients)
    if record.resource_type == "Patient" and record.resource_id:
        found.add(record.resource_id)
    for ref in record.entities:
        kind, _, ident = ref.partition("/")
        if kind == "Patient" and ident:
            found.add(ident)
    for name, value in _patient_params(record.query):
        code = name.split(":", 1)[0]
        for part in value.split(","):
            match = _PATIENT_REF.fullmatch(part)
            if match:
                found.add(match.group(1))
            elif part and "/" not in part and (code == "patient" or record.resource_type == "Patient"):
                found.add(part)
    return tuple(sorted(found))


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


_REST = _coding(_EVENT_TYPE, "rest", "RESTful Operation")
_SYSTEM_OBJECT = _coding(_ENTITY_TYPE, "2", "System Object")
_PERSON = _coding(_ENTITY_TYPE, "1", "Person")
_QUERY_ROLE = _coding(_OBJECT_ROLE, "24", "Query")
_PATIENT_ROLE = _coding(_OBJECT_ROLE, "1", "Patient")
_APP_SERVER = [_coding(_SOURCE_TYPE, "4", "Application Server")]
_BTG = _coding(_ACT_REASON, "BTG", "break the glass")


def _agent_type(role: str) -> dict[str, str]:
    """A person, or the alliance's integration client (http://hl7.org/fhir/R4/valueset-participation-role-type.html)."""
    if role == "system":
        return _coding(_ROLE_TYPE, "dataprocessor", "data processor")
    return _coding(_ROLE_TYPE, "humanuser", "human user")


def _purpose(purpose: str | None, break_glass: bool) -> list[dict[str, Any]]:
    codes = []
    if purpose:
        code = _PURPOSE.get(purpose)
        codes.append(_coding(_ACT_REASON, code) if code else _coding("urn:yilian:purpose", purpose))
    if break_glass:
        codes.append(_BTG)
    return [{"coding": [c]} for c in codes]


def _agent(
    subject: str, role: str, institution: str | None, patient: str | None, purpose: list[dict[str, Any]]
) -> dict[str, Any]:
    """The requesting agent: who (the token subject, the institution as the identifier's
    assigner), the role, the purpose of use and, for a patient, their Patient."""
    who: dict[str, Any] = {"identifier": {"system": _SUBJECT_SYSTEM, "value": subject}}
    if institution:
        who["identifier"]["assigner"] = {"identifier": {"system": _INSTITUTION_SYSTEM, "value": institution}}
    agent: dict[str, Any] = {
        "type": {"coding": [_agent_type(role)]},
        "role": [{"coding": [_coding(_ROLE_SYSTEM, role)]}],
        "who": who,
        "requestor": True,
    }
    if purpose:
        agent["purposeOfUse"] = purpose
    if patient:
        agent["altId"] = f"Patient/{patient}"
    return agent


def _source(partition: str | None) -> dict[str, Any]:
    return {"site": partition or "alliance", "observer": {"display": "yilian"}, "type": _APP_SERVER}


def _entities(record: AccessRecord, patients: tuple[str, ...]) -> list[dict[str, Any]]:
    """The query entity, one entity per resource touched and one per patient concerned."""
    target = "/".join(p for p in (record.resource_type, record.resource_id) if p) or "(system)"
    query_entity: dict[str, Any] = {
        "type": _SYSTEM_OBJECT,
        "role": _QUERY_ROLE,
        "description": f"{record.interaction} {target}",
    }
    if record.query:
        query_entity["query"] = base64.b64encode(record.query.encode()).decode()
    entities = [query_entity]
    entities += [
        {"what": {"reference": ref}, "type": _SYSTEM_OBJECT}
        for ref in record.entities
        if not ref.startswith("Patient/")
    ]
    entities += [
        {"what": {"reference": f"Patient/{pid}"}, "type": _PERSON, "role": _PATIENT_ROLE} for pid in patients
    ]
    return entities


def _event(record: AccessRecord, recorded: Any, entities: Any) -> dict[str, Any]:
    """The AuditEvent of `record` at `recorded` with `entities` (values, or JSON fragments)."""
    principal = record.principal
    purpose = _purpose(principal.purpose, record.break_glass)
    agent = _agent(principal.subject, principal.role, principal.institution, principal.patient, purpose)
    interaction = record.interaction
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": _REST,
        "subtype": [{"system": _INTERACTION, "code": _SUBTYPE.get(interaction, interaction)}],
        "action": _ACTION.get(interaction, "R"),
        "recorded": recorded,
        "outcome": outcome_code(record.outcome),
        "agent": [agent],
        "source": _source(record.partition),
        "entity": entities,
    }
    if record.outcome >= 400 or record.detail:
        event["outcomeDesc"] = f"HTTP {record.outcome}" + (f": {record.detail}" if record.detail else "")
    if purpose:
        event["purposeOfEvent"] = purpose
    if record.break_glass:
        event["meta"] = {"security": [_BTG]}
        if principal.break_glass_reason:
            event["extension"] = [
                {"url": BREAK_GLASS_REASON_URL, "valueString": principal.break_glass_reason}
            ]
    return event


def audit_event(record: AccessRecord, patients: tuple[str, ...]) -> dict[str, Any]:
    """The AuditEvent for `record` (no id: the log's seq becomes the id when it is read)."""
    return _event(record, record.recorded, _entities(record, patients))


_ENTITY = orjson.Fragment(b"\x00entity\x00")
_RECORDED = orjson.Fragment(b"\x00recorded\x00")


@functools.lru_cache(maxsize=4096)
def _frame(
    subject: str,
    role: str,
    institution: str | None,
    patient: str | None,
    purpose: str | None,
    reason: str | None,
    interaction: str,
    partition: str | None,
    outcome: int,
    detail: str,
    break_glass: bool,
) -> tuple[bytes, bytes, bytes]:
    """The canonical JSON of an event around its entity list and its time, split at those two:
    everything else depends only on who asked what, where, and how it ended, which a server
    sees again and again, so the writer serialises each combination once."""
    who = Principal(subject, role, institution, patient=patient, purpose=purpose, break_glass_reason=reason)  # type: ignore[arg-type]
    record = AccessRecord(who, interaction, partition, outcome, detail=detail, break_glass=break_glass)
    whole = orjson.dumps(_event(record, _RECORDED, _ENTITY), option=orjson.OPT_SORT_KEYS)
    head, rest = whole.split(b"\x00entity\x00")
    middle, tail = rest.split(b"\x00recorded\x00")
    return head, middle, tail


def audit_entry(record: AccessRecord, recorded: str | None = None) -> AuditEntry:
    """The log entry of `record`, accessed at `recorded` (default: `record.recorded`).

    Byte for byte `audit_event` serialised canonically (sorted keys), but only the entities
    and the time are serialised per access; the rest comes from `_frame`'s cache.  This runs
    once per access, in the trail's background writer."""
    at = record.recorded if recorded is None else recorded
    patients = patients_of(record)
    p = record.principal
    head, middle, tail = _frame(
        p.subject,
        p.role,
        p.institution,
        p.patient,
        p.purpose,
        p.break_glass_reason,
        record.interaction,
        record.partition,
        record.outcome,
        record.detail,
        record.break_glass,
    )
    entities = orjson.dumps(_entities(record, patients), option=orjson.OPT_SORT_KEYS)
    return AuditEntry(
        recorded=at,
        subject=p.subject,
        role=p.role,
        institution=p.institution,
        partition=record.partition,
        outcome=outcome_code(record.outcome),
        patients=patients,
        event=b"".join((head, entities, middle, orjson.dumps(at), tail)),
    )
