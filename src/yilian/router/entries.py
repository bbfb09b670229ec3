"""Bundle entries as router requests, and router results as `Bundle.entry.response`.

Shared by `batch` and `transaction` (http://hl7.org/fhir/R4/bundle.html#bundle-transaction-response):
an entry's `request` becomes a `FhirRequest` on the same base (its `ifMatch`,
`ifNoneExist`, `ifNoneMatch` become headers, the outer `Prefer` is kept), and each result
becomes a response entry with the status line, Location (relative), ETag and lastModified.
"""

from __future__ import annotations

from typing import Any

from yilian.fhir.bundle import BundleEntry, split_url
from yilian.fhir.outcome import OutcomeError
from yilian.router.context import Context
from yilian.router.headers import etag, prefer_return
from yilian.router.result import Result
from yilian.router.routes import Route, match_route
from yilian.router.status import status_line
from yilian.router.types import FhirRequest

__all__ = ["entry_request", "error_entry", "response_entry"]


def entry_request(
    ctx: Context, entry: BundleEntry, *, url: str | None = None, body: Any = None
) -> tuple[FhirRequest, Route]:
    """The request an entry makes (optionally with its url or body replaced), and its route."""
    path, query = split_url(url or entry.url, ctx.base_url)
    headers: dict[str, str] = {}
    outer = ctx.request.headers
    if "prefer" in outer:
        headers["prefer"] = outer["prefer"]
    if entry.if_match:
        headers["if-match"] = entry.if_match
    if entry.if_none_exist:
        headers["if-none-exist"] = entry.if_none_exist
    if entry.if_none_match:
        headers["if-none-match"] = entry.if_none_match
    if body is None:
        body = entry.patch if entry.method == "PATCH" else entry.resource
    request = FhirRequest(
        method=entry.method,
        path=path,
        partition=ctx.request.partition,
        query=query,
        headers=headers,
        body=body,
        base_url=ctx.request.base_url,
        principal=ctx.request.principal,
    )
    route = match_route(request)
    if route.interaction == "bundle":
        raise OutcomeError.invalid("a batch or transaction entry cannot post another Bundle")
    return request, route


def response_entry(ctx: Context, entry: BundleEntry, result: Result) -> dict[str, Any]:
    """`Bundle.entry` of a batch-/transaction-response for a successful entry.  Reads always
    carry their resource; writes carry it when the client asked `Prefer: return=representation`
    explicitly (it is left out by default to keep large loads small)."""
    response: dict[str, Any] = {"status": status_line(result.outcome)}
    stored = result.stored
    out: dict[str, Any] = {}
    if stored is not None:
        out["fullUrl"] = ctx.full_url(stored.resource_type, stored.id)
        if result.write:
            response["location"] = f"{stored.resource_type}/{stored.id}/_history/{stored.version}"
        response["etag"] = etag(stored.version)
        response["lastModified"] = stored.last_updated
    wants = "prefer" in ctx.request.headers and prefer_return(ctx.request.headers) == "representation"
    if entry.method in ("GET", "HEAD") or (result.write and wants):
        resource = result.resource()
        if resource is not None:
            out["resource"] = resource
    elif _outcome_type(result):
        response["outcome"] = result.resource()
    out["response"] = response
    return out


def _outcome_type(result: Result) -> bool:
    """Whether `result.resource()` is an OperationOutcome, without parsing a stored version's
    JSON to find out."""
    if result.body is not None:
        return result.body.get("resourceType") == "OperationOutcome"
    stored = result.stored
    return stored is not None and not stored.deleted and stored.resource_type == "OperationOutcome"


def error_entry(error: OutcomeError) -> dict[str, Any]:
    """A batch-response entry for a failed entry: its status and the OperationOutcome."""
    return {"response": {"status": status_line(error.kind), "outcome": error.to_resource()}}
