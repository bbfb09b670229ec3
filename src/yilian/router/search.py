"""Search: type-level (`GET Type?...`, `POST Type/_search`) and system-level (`GET ?_type=...`)
and the searchset Bundle (http://hl7.org/fhir/R4/search.html, http://hl7.org/fhir/R4/bundle.html).

The Bundle carries `total` when the store computed it, paging links over the normalised query
(see `paging`), each match with `search.mode = match` and each `_include`/`_revinclude` with
`include`, `_summary`/`_elements` applied to matches, and under lenient handling an
OperationOutcome entry (`search.mode = outcome`) naming the parameters that were ignored
(http://hl7.org/fhir/R4/search.html#errors).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from yilian.fhir.outcome import Issue, IssueSeverity, IssueType, Outcome, operation_outcome
from yilian.fhir.projection import select_elements, summarize
from yilian.fhir.search.model import SearchRequest
from yilian.fhir.search.parse import parse_search
from yilian.router.context import Context
from yilian.router.headers import prefer_handling
from yilian.router.paging import links, normalised_query
from yilian.router.result import Result
from yilian.store.base import SearchResult, Session, StoredResource

__all__ = ["search_bundle", "search_system", "search_type", "searchset"]


def _projected(request: SearchRequest, resource: dict[str, Any]) -> dict[str, Any]:
    if request.summary in ("true", "text", "data"):
        return summarize(resource, request.summary)
    if request.elements:
        return select_elements(resource, request.elements)
    return resource


def _entry(ctx: Context, stored: StoredResource, mode: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": ctx.full_url(stored.resource_type, stored.id),
        "resource": resource,
        "search": {"mode": mode},
    }


def searchset(
    ctx: Context,
    request: SearchRequest,
    found: SearchResult,
    *,
    path: str,
    query: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The searchset Bundle for one page of `found`.  `path` is what follows the base in the
    links (`Patient`, or empty for a system search); `query` is the normalised query."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if found.total is not None:
        bundle["total"] = found.total
    url = f"{ctx.base_url}/{path}" if path else (ctx.base_url or "")
    count = request.count
    if request.summary == "count":
        count = 0
    bundle["link"] = links(
        url, query, count=count, offset=request.offset, page_size=len(found.matches), total=found.total
    )
    entries: list[dict[str, Any]] = []
    if request.ignored:
        warning = Issue(
            IssueType.NOT_SUPPORTED,
            f"unknown or unsupported search parameters ignored: {', '.join(request.ignored)}",
            IssueSeverity.WARNING,
            tuple(request.ignored),
        )
        entries.append({"resource": operation_outcome([warning]), "search": {"mode": "outcome"}})
    if request.summary != "count":
        entries += [_entry(ctx, s, "match", _projected(request, s.json())) for s in found.matches]
        entries += [_entry(ctx, s, "include", s.json()) for s in found.included]
    if entries:
        bundle["entry"] = entries
    return bundle


async def search_bundle(
    ctx: Context,
    session: Session,
    types: tuple[str, ...],
    params: Sequence[tuple[str, str]],
    *,
    path: str,
    link_query: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    strict = prefer_handling(ctx.request.headers, ctx.settings.default_handling)
    request = parse_search(
        types,
        list(params),
        strict=strict,
        default_count=ctx.settings.default_count,
        max_count=ctx.settings.max_count,
    )
    found = await session.search(request, ctx.access.scope)
    return searchset(ctx, request, found, path=path, query=link_query)


async def search_type(ctx: Context, session: Session, resource_type: str) -> Result:
    """GET Type?params and POST Type/_search (the api layer merges form fields into the query)."""
    query = list(ctx.request.query)
    bundle = await search_bundle(
        ctx, session, (resource_type,), query, path=resource_type, link_query=normalised_query(query)
    )
    return Result(Outcome.OK, body=bundle)


async def search_system(ctx: Context, session: Session) -> Result:
    """GET [base]?_type=A,B&params: a search across the types `_type` names (every type when
    absent; the parser reads `_type`); only parameters every searched type has can be used."""
    query = list(ctx.request.query)
    bundle = await search_bundle(ctx, session, (), query, path="", link_query=normalised_query(query))
    return Result(Outcome.OK, body=bundle)
