"""History of an instance, a type or the whole system (http://hl7.org/fhir/R4/http.html#history).

The answer is a Bundle of type `history`, newest version first, each entry with `fullUrl`,
the resource (absent for a deletion), `request` (the method and URL that made the version)
and `response` (status, ETag, lastModified).  `_count` and `_offset` page it with the same
links as search; `_since` keeps versions written at or after an instant and `_at` the
versions current at an instant (both normalised to UTC as `fhir.search.model` specifies).
"""

from __future__ import annotations

from typing import Any

from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.fhir.search.dates import normalize_instant
from yilian.router.context import Context
from yilian.router.headers import etag
from yilian.router.paging import int_parameter, links, normalised_query
from yilian.router.result import Result
from yilian.router.status import status_line
from yilian.store.base import HistoryRequest, Session, StoredResource

__all__ = ["history"]

_KNOWN = frozenset({"_count", "_offset", "_since", "_at", "_format", "_pretty"})
_STATUS = {"POST": Outcome.CREATED, "PUT": Outcome.OK, "DELETE": Outcome.NO_CONTENT}


def _instant(ctx: Context, name: str) -> str | None:
    values = [v for k, v in ctx.request.query if k == name]
    if not values:
        return None
    try:
        return normalize_instant(values[-1].strip())
    except ValueError as exc:
        raise OutcomeError.invalid(f"{name}={values[-1]!r} is not a FHIR instant: {exc}", [name]) from exc


def _entry(ctx: Context, stored: StoredResource) -> dict[str, Any]:
    method = stored.method
    url = stored.resource_type if method == "POST" else f"{stored.resource_type}/{stored.id}"
    entry: dict[str, Any] = {"fullUrl": ctx.full_url(stored.resource_type, stored.id)}
    if not stored.deleted:
        entry["resource"] = stored.json()
    entry["request"] = {"method": method, "url": url}
    entry["response"] = {
        "status": status_line(_STATUS[method]),
        "etag": etag(stored.version),
        "lastModified": stored.last_updated,
    }
    return entry


async def history(
    ctx: Context, session: Session, resource_type: str | None = None, id: str | None = None
) -> Result:
    """The history Bundle of `Type/id`, `Type` or (neither given) the system."""
    query = ctx.request.query
    for key, _ in query:
        if key not in _KNOWN:
            raise OutcomeError.not_supported(f"history does not support the parameter {key!r}", [key])
    settings = ctx.settings
    request = HistoryRequest(
        resource_type=resource_type,
        id=id,
        since=_instant(ctx, "_since"),
        at=_instant(ctx, "_at"),
        count=int_parameter(query, "_count", settings.default_count, maximum=settings.max_count),
        offset=int_parameter(query, "_offset", 0),
    )
    page = await session.history(request, ctx.access.scope)
    if id is not None and resource_type is not None and not page.entries and request.offset == 0:
        # No versions in scope: say whether the resource exists at all (404 when not).
        await session.read(resource_type, id, ctx.access.scope)
    path = "/".join(p for p in (resource_type, id) if p)
    path = f"{path}/_history" if path else "_history"
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = links(
        f"{ctx.base_url}/{path}",
        normalised_query(query),
        count=request.count,
        offset=request.offset,
        page_size=len(page.entries),
        total=page.total,
    )
    if page.entries:
        bundle["entry"] = [_entry(ctx, s) for s in page.entries]
    return Result(Outcome.OK, body=bundle)
