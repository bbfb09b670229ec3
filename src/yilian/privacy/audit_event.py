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
import dataclasses
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

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
    for name, value in parse_qsl(record.query, keep_blank_values=False):
        code = name.split(":", 1)[0]
        if code not in _PATIENT_PARAMS:
            continue
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
        codes.append(_coding(_ACT_REASON, "BTG", "break the glass"))
    return [{"coding": [c]} for c in codes]


def audit_event(record: AccessRecord, patients: tuple[str, ...]) -> dict[str, Any]:
    """The AuditEvent for `record` (no id: the log's seq becomes the id when it is read)."""
    principal = record.principal
    who: dict[str, Any] = {"identifier": {"system": _SUBJECT_SYSTEM, "value": principal.subject}}
    if principal.institution:
        who["identifier"]["assigner"] = {
            "identifier": {"system": _INSTITUTION_SYSTEM, "value": principal.institution}
        }
    agent: dict[str, Any] = {
        "type": {"coding": [_agent_type(principal.role)]},
        "role": [{"coding": [_coding(_ROLE_SYSTEM, principal.role)]}],
        "who": who,
        "requestor": True,
    }
    purpose = _purpose(principal.purpose, record.break_glass)
    if purpose:
        agent["purposeOfUse"] = purpose
    if principal.patient:
        agent["altId"] = f"Patient/{principal.patient}"
    target = "/".join(p for p in (record.resource_type, record.resource_id) if p) or "(system)"
    query_entity: dict[str, Any] = {
        "type": _coding(_ENTITY_TYPE, "2", "System Object"),
        "role": _coding(_OBJECT_ROLE, "24", "Query"),
        "description": f"{record.interaction} {target}",
    }
    if record.query:
        query_entity["query"] = base64.b64encode(record.query.encode()).decode()
    entities = [query_entity]
    entities += [
        {"what": {"reference": ref}, "type": _coding(_ENTITY_TYPE, "2", "System Object")}
        for ref in record.entities
        if not ref.startswith("Patient/")
    ]
    entities += [
        {
            "what": {"reference": f"Patient/{pid}"},
            "type": _coding(_ENTITY_TYPE, "1", "Person"),
            "role": _coding(_OBJECT_ROLE, "1", "Patient"),
        }
        for pid in patients
    ]
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": _coding(_EVENT_TYPE, "rest", "RESTful Operation"),
        "subtype": [_coding(_INTERACTION, _SUBTYPE.get(record.interaction, record.interaction))],
        "action": _ACTION.get(record.interaction, "R"),
        "recorded": record.recorded,
        "outcome": outcome_code(record.outcome),
        "agent": [agent],
        "source": {
            "site": record.partition or "alliance",
            "observer": {"display": "yilian"},
            "type": [_coding(_SOURCE_TYPE, "4", "Application Server")],
        },
        "entity": entities,
    }
    if record.outcome >= 400 or record.detail:
        event["outcomeDesc"] = f"HTTP {record.outcome}" + (f": {record.detail}" if record.detail else "")
    if purpose:
        event["purposeOfEvent"] = purpose
    if record.break_glass:
        event["meta"] = {"security": [_coding(_ACT_REASON, "BTG", "break the glass")]}
        if principal.break_glass_reason:
            event["extension"] = [
                {"url": BREAK_GLASS_REASON_URL, "valueString": principal.break_glass_reason}
            ]
    return event


def audit_entry(record: AccessRecord, recorded: str | None = None) -> AuditEntry:
    """The log entry of `record`, accessed at `recorded` (default: `record.recorded`)."""
    if recorded is not None and recorded != record.recorded:
        record = dataclasses.replace(record, recorded=recorded)
    patients = patients_of(record)
    event = audit_event(record, patients)
    principal = record.principal
    return AuditEntry(
        recorded=record.recorded,
        subject=principal.subject,
        role=principal.role,
        institution=principal.institution,
        partition=record.partition,
        outcome=event["outcome"],
        patients=patients,
        event=orjson.dumps(event, option=orjson.OPT_SORT_KEYS),
    )
