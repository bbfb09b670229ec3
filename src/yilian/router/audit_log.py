"""`GET [base]/AuditEvent?...`: the audit log as a searchset of AuditEvents.

AuditEvents are not stored as resources: the audit trail appends them to the hash-chained log
(privacy/audit.py), and this search reads that log, newest first, through
`Session.search_audit`.  The caller's role narrows what it may read
(privacy/audit_access.py: a patient sees the accesses to their own record, an administrator
their institution's entries); the entry's `id` is its seq in the log, and
`meta.security`/`extension` keep the break-the-glass flag the event was written with.
See http://hl7.org/fhir/R4/auditevent.html and http://hl7.org/fhir/R4/search.html.
"""

from __future__ import annotations

from typing import Any

from yilian.auth.principal import Principal
from yilian.fhir.outcome import Issue, IssueSeverity, IssueType, Outcome, operation_outcome
from yilian.privacy.audit_access import audit_query, restrict_audit_query
from yilian.router.context import Context
from yilian.router.headers import prefer_handling
from yilian.router.paging import links, normalised_query
from yilian.router.result import Result
from yilian.store.base import Session

__all__ = ["AUDIT_EVENT", "search_audit_log"]

AUDIT_EVENT = "AuditEvent"


async def search_audit_log(ctx: Context, session: Session) -> Result:
    """The searchset Bundle of the caller's audit-log search."""
    params = list(ctx.request.query)
    strict = prefer_handling(ctx.request.headers, ctx.settings.default_handling)
    asked, ignored = audit_query(
        params, default_count=ctx.settings.default_count, max_count=ctx.settings.max_count, strict=strict
    )
    principal = ctx.request.principal or Principal.development()
    query = restrict_audit_query(principal, asked)
    page = await session.search_audit(query)
    entries: list[dict[str, Any]] = []
    if ignored:
        warning = Issue(
            IssueType.NOT_SUPPORTED,
            f"unknown or unsupported AuditEvent search parameters ignored: {', '.join(ignored)}",
            IssueSeverity.WARNING,
            tuple(ignored),
        )
        entries.append({"resource": operation_outcome([warning]), "search": {"mode": "outcome"}})
    for logged in page.entries:
        event = {"id": str(logged.seq), **logged.entry.json()}
        entries.append(
            {
                "fullUrl": ctx.full_url(AUDIT_EVENT, str(logged.seq)),
                "resource": event,
                "search": {"mode": "match"},
            }
        )
    link_query = normalised_query([(k, v) for k, v in params if k not in ignored])
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": links(
            f"{ctx.base_url}/{AUDIT_EVENT}",
            link_query,
            count=query.count,
            offset=query.offset,
            page_size=len(page.entries),
            total=page.total,
        ),
    }
    if entries:
        bundle["entry"] = entries
    return Result(Outcome.OK, body=bundle)
