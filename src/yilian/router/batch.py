"""Batch Bundles: each entry on its own (http://hl7.org/fhir/R4/http.html#brules).

Every entry runs in its own database transaction; a failure becomes that entry's
`response.status` and `response.outcome` and the others still take effect.  Entries must not
depend on each other, so a resource that refers to another entry's `urn:uuid:` fullUrl fails
with 400 (use a transaction for that).
"""

from __future__ import annotations

from typing import Any

from yilian.fhir.bundle import BundlePlan, entry_error, local_references
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.router.context import Context
from yilian.router.dispatch import execute
from yilian.router.entries import entry_request, error_entry, response_entry
from yilian.router.result import Result
from yilian.store.base import Repository

__all__ = ["run_batch"]


async def run_batch(ctx: Context, repository: Repository, bundle: BundlePlan) -> Result:
    """Process a batch Bundle; always 200 with a batch-response entry per request entry."""
    full_urls = {e.full_url for e in bundle.entries if e.full_url}
    out: list[dict[str, Any]] = []
    for entry in bundle.entries:
        try:
            crossing = local_references(entry.resource or {}) & full_urls
            if crossing:
                raise OutcomeError.invalid(
                    f"batch entries may not refer to each other ({', '.join(sorted(crossing))}); "
                    "use a transaction",
                    [f"{entry.where}.resource"],
                )
            request, route = entry_request(ctx, entry)
            async with repository.transaction(read_only=route.read_only) as session:
                result = await execute(ctx.with_request(request), session, route)
            out.append(response_entry(ctx, entry, result))
        except OutcomeError as error:
            out.append(error_entry(entry_error(entry, error)))
    body: dict[str, Any] = {"resourceType": "Bundle", "type": "batch-response", "entry": out}
    return Result(Outcome.OK, body=body)
