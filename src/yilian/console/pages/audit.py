"""`/console/audit`: the audit trail, searched through the FHIR API's own AuditEvent search.

Every search is a `GET AuditEvent` handed to the router as the user, so the rule that decides
who may read which entries (privacy/audit_access.py: a patient their own record's accesses,
an administrator their institution's, system and regulator everything) is the API's, and
the search itself is audited like any other.  Filters are the API's parameters (`patient`,
`agent`, `date`); the action (interaction) is not an AuditEvent search parameter of the log,
so it is matched on the entries the other filters found, at most `ACTION_SCAN` of them.

`?patient={id}` answers "who has seen my record".  The chain's verification (the work of
`yilian audit verify`, `privacy.audit.verify_chain`) reads the whole log, so it runs only when
asked, on a POST, and only for a user the audit search admits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from yilian.console.dates import BEIJING
from yilian.console.i18n import N_
from yilian.console.pages import Page
from yilian.console.view import ConsoleView
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.privacy.audit import VerifyReport, verify_chain

__all__ = ["PAGES"]

PAGE_SIZE = 20
ACTION_SCAN = 1000
"""With an action filter, at most this many entries (newest first) are examined."""
INTERACTIONS = (
    "read", "vread", "search-type", "search-system", "create", "update", "patch", "delete",
    "history-instance", "history-type", "history-system", "batch", "operation", "capabilities",
)  # fmt: skip
OUTCOMES = {"0": N_("Success"), "4": N_("Client error"), "8": N_("Refused"), "12": N_("Server failure")}


class BadFilter(ValueError):
    """A filter the user wrote that cannot be searched; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    seq: str
    recorded: str
    subject: str
    role: str
    institution: str
    interaction: str
    target: str
    patients: tuple[str, ...]
    outcome: str
    outcome_detail: str
    break_glass: bool
    break_glass_reason: str


def _first(items: Any) -> dict[str, Any]:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def audit_row(event: dict[str, Any]) -> AuditRow:
    """The columns of one AuditEvent as the audit trail writes it (privacy/audit_event.py)."""
    agent = _first(event.get("agent"))
    identifier = (agent.get("who") or {}).get("identifier") or {}
    assigner = ((identifier.get("assigner") or {}).get("identifier") or {}).get("value", "")
    role = _first(_first(agent.get("role")).get("coding")).get("code", "")
    entities = [e for e in event.get("entity") or [] if isinstance(e, dict)]
    description = next((e.get("description", "") for e in entities if "description" in e), "")
    patients = tuple(
        ref.removeprefix("Patient/")
        for e in entities
        if isinstance(ref := (e.get("what") or {}).get("reference"), str) and ref.startswith("Patient/")
    )
    security = (event.get("meta") or {}).get("security") or []
    reason = next(
        (x.get("valueString", "") for x in event.get("extension") or [] if "break-glass" in x.get("url", "")),
        "",
    )
    return AuditRow(
        seq=str(event.get("id", "")),
        recorded=str(event.get("recorded", "")),
        subject=str(identifier.get("value", "")),
        role=str(role),
        institution=str(assigner),
        interaction=str(_first(event.get("subtype")).get("code", "")),
        target=description.partition(" ")[2] or description,
        patients=patients,
        outcome=str(event.get("outcome", "")),
        outcome_detail=str(event.get("outcomeDesc", "")),
        break_glass=any(isinstance(s, dict) and s.get("code") == "BTG" for s in security),
        break_glass_reason=str(reason),
    )


def beijing_instant(text: str, field: str) -> str:
    """A Beijing-time input (`2026-03-04 08:30`, or the browser's `2026-03-04T08:30`) as a
    FHIR dateTime with its offset; BadFilter names the field and the form to use."""
    cleaned = text.strip().replace(" ", "T")
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise BadFilter(field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BEIJING)
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Filters:
    patient: str
    agent: str
    action: str
    since: str
    until: str
    page: int

    @classmethod
    def of(cls, params: Any, principal_patient: str | None) -> Filters:
        page = params.get("page", "1")
        return cls(
            patient=(params.get("patient") or principal_patient or "").strip().removeprefix("Patient/"),
            agent=params.get("agent", "").strip(),
            action=params.get("action", "").strip(),
            since=params.get("since", "").strip(),
            until=params.get("until", "").strip(),
            page=int(page) if page.isdigit() and int(page) > 0 else 1,
        )

    def query(self) -> list[tuple[str, str]]:
        """The AuditEvent search parameters of the filters (raises BadFilter)."""
        query: list[tuple[str, str]] = []
        if self.patient:
            query.append(("patient", self.patient))
        if self.agent:
            query.append(("agent", self.agent))
        if self.since:
            query.append(("date", "ge" + beijing_instant(self.since, "since")))
        if self.until:
            query.append(("date", "lt" + beijing_instant(self.until, "until")))
        if self.action and self.action not in INTERACTIONS:
            raise BadFilter("action")
        return query

    def link(self, page: int) -> str:
        """The query string of this search's `page`."""
        fields = {"patient": self.patient, "agent": self.agent, "action": self.action,
                  "since": self.since, "until": self.until}  # fmt: skip
        return urlencode({**{k: v for k, v in fields.items() if v}, "page": page})


async def _search(view: ConsoleView, filters: Filters) -> tuple[list[AuditRow], int, bool]:
    """(the page's rows, how many entries match, whether the action scan stopped at its limit)."""
    query = filters.query()
    offset = (filters.page - 1) * PAGE_SIZE
    if not filters.action:
        found = await view.fhir(
            "GET", "AuditEvent", query=(*query, ("_count", str(PAGE_SIZE)), ("_offset", str(offset)))
        )
        body = found.body or {}
        rows = [
            audit_row(e["resource"])
            for e in body.get("entry") or []
            if e.get("search", {}).get("mode") == "match"
        ]
        return rows, int(body.get("total") or 0), False
    matched: list[AuditRow] = []
    scanned, total = 0, None
    while scanned < ACTION_SCAN and (total is None or scanned < total):
        found = await view.fhir(
            "GET", "AuditEvent", query=(*query, ("_count", "200"), ("_offset", str(scanned)))
        )
        body = found.body or {}
        total = int(body.get("total") or 0)
        batch = [
            audit_row(e["resource"])
            for e in body.get("entry") or []
            if e.get("search", {}).get("mode") == "match"
        ]
        if not batch:
            break
        scanned += len(batch)
        matched += [r for r in batch if r.interaction == filters.action]
    return matched[offset : offset + PAGE_SIZE], len(matched), bool(total and scanned < total)


async def _page(view: ConsoleView, *, report: VerifyReport | None = None, status: int = 200) -> Response:
    principal = view.principal
    filters = Filters.of(
        view.request.query_params, principal.patient if principal and principal.role == "patient" else None
    )
    context: dict[str, Any] = {
        "filters": filters,
        "interactions": INTERACTIONS,
        "outcomes": OUTCOMES,
        "page_size": PAGE_SIZE,
        "has_key": bool(view.console.settings.audit_signing_key),
        "report": report,
    }
    try:
        rows, total, truncated = await _search(view, filters)
    except BadFilter as bad:
        return view.render("audit.html", status=400, rows=[], total=0, bad_filter=str(bad), **context)
    except OutcomeError as refused:
        code = 403 if refused.kind is Outcome.FORBIDDEN else 400
        return view.render("audit.html", status=code, rows=[], total=0, refused=str(refused), **context)
    pages = max(1, -(-total // PAGE_SIZE))
    return view.render(
        "audit.html", status=status, rows=rows, total=total, pages=pages, truncated=truncated,
        action_scan=ACTION_SCAN, **context,
    )  # fmt: skip


async def audit(view: ConsoleView) -> Response:
    return await _page(view)


async def verify(view: ConsoleView) -> Response:
    """Verify the chain for a user the audit search admits (a refused one gets its refusal)."""
    try:
        await view.fhir("GET", "AuditEvent", query=(("_count", "0"),))
    except OutcomeError:
        return await _page(view)
    key = view.console.settings.audit_signing_key
    report = await verify_chain(view.router.repository, key.encode()) if key else None
    return await _page(view, report=report)


PAGES = (
    Page("/audit", "audit", N_("Audit trail"), audit, order=60),
    Page(
        "/audit/verify", "audit-verify", N_("Verify the audit chain"), verify, in_nav=False, methods=("POST",)
    ),
)
