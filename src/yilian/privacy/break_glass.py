"""Break-the-glass: emergency access to other institutions' records, for a limited time.

A doctor or nurse who declares the purpose `emergency` with a reason opens a window: for
`minutes` from then, that caller (issuer + subject) sees every institution's records of the
patient the request names (`Patient/{id}` reads, `$everything`, a SMART launch patient), or of
every patient when it names none.  Every request inside a window is marked `break_glass` so
the audit trail flags it, and the windows themselves are kept for the report
(`yilian audit btg`, `break_glass_report`).

Windows are stored as FHIR `Basic` resources in the alliance's default partition
(http://hl7.org/fhir/R4/basic.html; code v3-ActReason `BTG`), so they need no table of their
own, travel with backups and are read through the repository like everything else.  The
caller is identified by a hash of issuer and subject (`Basic.identifier`), the patient and the
window in an extension; the author is an identifier-only reference, so a window is in no
patient's compartment and no consented reader ever sees it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from yilian.auth.principal import Principal
from yilian.fhir.search.parse import parse_search
from yilian.store.base import DEFAULT_PARTITION, Repository, Scope

__all__ = ["BREAK_GLASS_EXTENSION", "BreakGlassWindow", "active_windows", "break_glass_report", "open_window"]

ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
BREAK_GLASS_EXTENSION = "urn:yilian:extension:break-glass-window"
CALLER_SYSTEM = "urn:yilian:break-glass:caller"
_PAGE = 500


@dataclass(frozen=True, slots=True)
class BreakGlassWindow:
    """One opened window, as the report lists it."""

    id: str
    subject: str
    issuer: str
    role: str
    institution: str | None
    patient: str | None  # None: every patient
    reason: str
    start: datetime
    end: datetime

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def caller_key(principal: Principal) -> str:
    """Who opened a window: a hash of issuer and subject (searchable, any characters)."""
    return hashlib.sha256(f"{principal.issuer}\n{principal.subject}".encode()).hexdigest()[:40]


def _resource(
    principal: Principal, reason: str, patient: str | None, start: datetime, end: datetime
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "start", "valueDateTime": start.isoformat()},
        {"url": "end", "valueDateTime": end.isoformat()},
        {"url": "reason", "valueString": reason},
        {"url": "subject", "valueString": principal.subject},
        {"url": "issuer", "valueString": principal.issuer},
        {"url": "role", "valueCode": principal.role},
    ]
    if principal.institution:
        parts.append({"url": "institution", "valueString": principal.institution})
    if patient:
        parts.append({"url": "patient", "valueString": patient})
    return {
        "resourceType": "Basic",
        "meta": {"security": [{"system": ACT_REASON, "code": "BTG", "display": "break the glass"}]},
        "extension": [{"url": BREAK_GLASS_EXTENSION, "extension": parts}],
        "identifier": [{"system": CALLER_SYSTEM, "value": caller_key(principal)}],
        "code": {"coding": [{"system": ACT_REASON, "code": "BTG", "display": "break the glass"}]},
        "created": start.date().isoformat(),
        "author": {
            "identifier": {"system": "urn:yilian:subject", "value": principal.subject},
            "display": principal.subject,
        },
    }


def _window(id: str, body: dict[str, Any]) -> BreakGlassWindow | None:
    ext = next((e for e in body.get("extension", []) if e.get("url") == BREAK_GLASS_EXTENSION), None)
    if ext is None:
        return None
    values = {
        p.get("url"): next((v for k, v in p.items() if k.startswith("value")), None)
        for p in ext.get("extension", [])
    }
    try:
        start = datetime.fromisoformat(str(values["start"]))
        end = datetime.fromisoformat(str(values["end"]))
    except (KeyError, ValueError):
        return None
    return BreakGlassWindow(
        id=id,
        subject=str(values.get("subject", "")),
        issuer=str(values.get("issuer", "")),
        role=str(values.get("role", "")),
        institution=str(values["institution"]) if values.get("institution") else None,
        patient=str(values["patient"]) if values.get("patient") else None,
        reason=str(values.get("reason", "")),
        start=start,
        end=end,
    )


async def _windows(repository: Repository, params: list[tuple[str, str]]) -> list[BreakGlassWindow]:
    found: list[BreakGlassWindow] = []
    offset = 0
    base = [("code", f"{ACT_REASON}|BTG"), ("_count", str(_PAGE)), *params]
    async with repository.transaction(read_only=True) as session:
        while True:
            request = parse_search(["Basic"], [*base, ("_offset", str(offset))])
            page = await session.search(request, Scope.partition(DEFAULT_PARTITION))
            for stored in page.matches:
                window = _window(stored.id, stored.json())
                if window is not None:
                    found.append(window)
            if len(page.matches) < _PAGE:
                return found
            offset += _PAGE


async def active_windows(
    repository: Repository, principal: Principal, now: datetime
) -> list[BreakGlassWindow]:
    """The caller's windows open at `now`."""
    windows = await _windows(repository, [("identifier", f"{CALLER_SYSTEM}|{caller_key(principal)}")])
    return [
        w
        for w in windows
        if w.covers(now) and w.subject == principal.subject and w.issuer == principal.issuer
    ]


async def open_window(
    repository: Repository,
    principal: Principal,
    reason: str,
    patient: str | None,
    now: datetime,
    minutes: int,
) -> BreakGlassWindow:
    """Open (store) a new window from `now` for `minutes`."""
    end = now + timedelta(minutes=minutes)
    body = _resource(principal, reason, patient, now, end)
    async with repository.transaction() as session:
        stored = await session.create(body, DEFAULT_PARTITION)
    window = _window(stored.id, stored.json())
    assert window is not None  # we just wrote the extension
    return window


async def break_glass_report(repository: Repository, since: datetime | None = None) -> list[BreakGlassWindow]:
    """Every window opened at or after `since` (all when None), oldest first: who, when,
    for which patient, and why (`yilian audit btg`)."""
    windows = await _windows(repository, [])
    if since is not None:
        windows = [w for w in windows if w.start >= since]
    return sorted(windows, key=lambda w: (w.start, w.id))
