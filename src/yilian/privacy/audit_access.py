"""Reading the audit log: the AuditEvent search parameters and who may see which entries.

`GET [base]/AuditEvent?...` is answered from the audit log, not from the resource table
(router/audit_log.py).  `audit_query` turns the R4 AuditEvent search parameters yilian
supports (http://hl7.org/fhir/R4/auditevent.html#search: `patient`, `agent`, `date`,
`outcome`, `site`, plus `_count` / `_offset`) into an `AuditQuery`; `restrict_audit_query`
narrows it to what the caller may see:

* `patient`: only entries naming their own Patient (a patient lists who accessed their
  record); asking for another patient is refused;
* `admin`: entries of their institution (its staff as agents, or its partition accessed);
  an admin without an institution (an alliance administrator) sees every entry;
* `system` and `regulator`: every entry;
* every other role is refused.

This gate is the audit trail's own default; the access policy (privacy/policy.py) may call
`restrict_audit_query` itself, or refuse earlier, since the router asks it first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from yilian.auth.principal import Principal
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.fhir.search.dates import date_range
from yilian.store.audit_log import AuditQuery

__all__ = ["AUDIT_SEARCH_PARAMETERS", "audit_query", "restrict_audit_query"]

AUDIT_SEARCH_PARAMETERS = frozenset({"patient", "agent", "date", "outcome", "site", "_count", "_offset"})
_OUTCOMES = frozenset({"0", "4", "8", "12"})
_IGNORABLE = frozenset({"_format", "_pretty", "_total", "_sort"})


def _forbidden(message: str) -> OutcomeError:
    return OutcomeError(Outcome.FORBIDDEN, IssueType.FORBIDDEN, message)


def _patient_id(value: str) -> str:
    text = value.strip()
    if text.startswith("Patient/"):
        text = text[len("Patient/") :]
    if not text or "/" in text:
        raise OutcomeError.invalid(
            f"patient={value!r} is not a Patient id or Patient/id reference", ["patient"]
        )
    return text


def _date_bounds(value: str) -> list[tuple[str, str]]:
    """`date=[prefix]value` as (operator, bound) pairs over the recorded instant
    (http://hl7.org/fhir/R4/search.html#date); `eq` (no prefix) is the value's whole range."""
    prefix = value[:2] if value[:2].isalpha() else "eq"
    text = value[2:] if value[:2].isalpha() else value
    try:
        low, high = date_range(text)
    except ValueError as exc:
        raise OutcomeError.invalid(f"invalid date in date={value}: {exc}", ["date"]) from None
    match prefix:
        case "eq":
            return [(">=", low), ("<=", high)]
        case "ge":
            return [(">=", low)]
        case "gt":
            return [(">", high)]
        case "le":
            return [("<=", high)]
        case "lt":
            return [("<", low)]
    raise OutcomeError.invalid(
        f"date prefix {prefix!r} is not supported on the audit log (eq ge gt le lt)", ["date"]
    )


def audit_query(
    params: Sequence[tuple[str, str]], *, default_count: int, max_count: int, strict: bool = False
) -> tuple[AuditQuery, list[str]]:
    """The AuditQuery of `params` and the names of parameters ignored (unknown, lenient)."""
    patient = subject = None
    sites: set[str] | None = None
    outcomes: set[str] | None = None
    recorded: list[tuple[str, str]] = []
    count, offset = default_count, 0
    ignored: list[str] = []
    for name, value in params:
        match name:
            case "patient":
                patient = _patient_id(value)
            case "agent":
                subject = value.strip()
            case "date":
                recorded += _date_bounds(value.strip())
            case "outcome":
                codes = {v.strip() for v in value.split(",")}
                if not codes <= _OUTCOMES:
                    raise OutcomeError.invalid(
                        f"outcome={value!r}: the codes are 0, 4, 8 and 12", ["outcome"]
                    )
                outcomes = codes if outcomes is None else outcomes & codes
            case "site":
                sites = {v.strip() for v in value.split(",") if v.strip()}
            case "_count" | "_offset":
                if not value.strip().isdigit():
                    raise OutcomeError.invalid(f"{name}={value!r} is not a non-negative whole number", [name])
                if name == "_count":
                    count = min(int(value), max_count)
                else:
                    offset = int(value)
            case _ if name in _IGNORABLE:
                continue
            case _:
                if strict:
                    raise OutcomeError.invalid(
                        f"unknown AuditEvent search parameter {name!r} (supported: "
                        f"{', '.join(sorted(AUDIT_SEARCH_PARAMETERS))})",
                        [name],
                    )
                ignored.append(name)
    query = AuditQuery(
        patient=patient,
        subject=subject or None,
        sites=frozenset(sites) if sites is not None else None,
        recorded=tuple(recorded),
        outcomes=frozenset(outcomes) if outcomes is not None else None,
        count=count,
        offset=offset,
    )
    return query, ignored


def restrict_audit_query(principal: Principal, query: AuditQuery) -> AuditQuery:
    """`query` narrowed to the entries `principal` may read (see the module docstring);
    raises a forbidden OutcomeError for a caller who may read none of the asked entries."""
    role = principal.role
    if role == "patient":
        if not principal.patient:
            raise _forbidden("a patient token without a Patient id cannot read the audit log")
        if query.patient not in (None, principal.patient):
            raise _forbidden("a patient may list only the accesses to their own record")
        return dataclasses.replace(query, patient=principal.patient)
    if role == "admin":
        if principal.institution is None:
            return query
        mine = frozenset({principal.institution})
        if query.sites is not None and not query.sites <= mine:
            raise _forbidden(f"an administrator of {principal.institution} may search only its own audit log")
        return dataclasses.replace(query, sites=mine)
    if role in ("system", "regulator"):
        return query
    raise _forbidden(f"the {role} role may not read the audit log")
