"""Batch Bundles: each entry on its own (http://hl7.org/fhir/R4/http.html#brules).

Every entry runs in its own database transaction; a failure becomes that entry's
`response.status` and `response.outcome` and the others still take effect.  Entries must not
depend on each other, so a resource that refers to another entry's `urn:uuid:` fullUrl fails
with 400 (use a transaction for that).

Each entry is admitted by the router's guards (`Context.guard`) as if it had been sent alone:
the access policy decides it (a refusal becomes that entry's 403) and gives it its own
`Access`, and the audit sink hears what it did.
"""

from __future__ import annotations

from typing import Any

from yilian.fhir.bundle import BundleEntry, BundlePlan, entry_error, local_references
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.router.context import Context
from yilian.router.dispatch import execute
from yilian.router.entries import entry_request, error_entry, response_entry
from yilian.router.result import Result
from yilian.router.status import status_code
from yilian.store.base import Repository

__all__ = ["run_batch"]


async def run_batch(ctx: Context, repository: Repository, bundle: BundlePlan) -> Result:
    """Process a batch Bundle; always 200 with a batch-response entry per request entry."""
    full_urls = {e.full_url for e in bundle.entries if e.full_url}
    out: list[dict[str, Any]] = []
    for entry in bundle.entries:
        try:
            out.append(await _run_entry(ctx, repository, entry, full_urls))
        except OutcomeError as error:
            out.append(error_entry(entry_error(entry, error)))
    body: dict[str, Any] = {"resourceType": "Bundle", "type": "batch-response", "entry": out}
    return Result(Outcome.OK, body=body)


async def _run_entry(
    ctx: Context, repository: Repository, entry: BundleEntry, full_urls: set[str]
) -> dict[str, Any]:
    crossing = local_references(entry.resource or {}) & full_urls
    if crossing:
        raise OutcomeError.invalid(
            f"batch entries may not refer to each other ({', '.join(sorted(crossing))}); use a transaction",
            [f"{entry.where}.resource"],
        )
    request, route = entry_request(ctx, entry)
    access = await ctx.guard.admit(request, route)
    entry_ctx = ctx.for_entry(request, access)
    try:
        async with repository.transaction(read_only=route.read_only) as session:
            result = await execute(entry_ctx, session, route)
    except OutcomeError as failed:
        await ctx.guard.record(request, route, access, status_code(failed.kind), detail=str(failed))
        raise
    await ctx.guard.record(request, route, access, status_code(result.outcome), result.resource())
    return response_entry(entry_ctx, entry, result)
