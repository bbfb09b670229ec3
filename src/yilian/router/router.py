"""`FhirRouter`: FHIR REST semantics over a repository, without HTTP.

Modelled on Medplum's fhir-router: the api layer (or a batch entry, or the CLI) builds a
`FhirRequest`; `handle` checks the base's institution, works out the interaction
(`routes`), opens one database transaction (read-only for reads) and runs the interaction
(`dispatch`); failures are `OutcomeError`s that the api layer turns into HTTP.
See http://hl7.org/fhir/R4/http.html.
"""

from __future__ import annotations

import time

from yilian.fhir.bundle import parse_bundle
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.router.access import access_for
from yilian.router.batch import run_batch
from yilian.router.capabilities import capability_statement
from yilian.router.context import Context
from yilian.router.dispatch import execute
from yilian.router.result import Result, render
from yilian.router.routes import match_route
from yilian.router.settings import RouterSettings
from yilian.router.transaction import run_transaction
from yilian.router.types import FhirRequest, FhirResponse
from yilian.store.base import Repository

__all__ = ["FhirRouter", "RouterSettings"]


class FhirRouter:
    """Answers `FhirRequest`s from one repository under fixed settings."""

    def __init__(self, repository: Repository, settings: RouterSettings | None = None) -> None:
        self.repository = repository
        self.settings = settings or RouterSettings()
        self._partitions: frozenset[str] | None = None
        self._partitions_read = 0.0

    async def _check_partition(self, code: str | None) -> None:
        """404 unless `code` (the institution in `/fhir/{code}/`) is registered.  The list is
        cached and refreshed on a miss, so a newly added institution is seen at once, and
        every `settings.partition_cache_seconds`, so a removed one (from the CLI, in another process)
        stops answering within that time."""
        if code is None:
            return
        stale = time.monotonic() - self._partitions_read > self.settings.partition_cache_seconds
        if self._partitions is None or code not in self._partitions or stale:
            self._partitions = frozenset(p.code for p in await self.repository.list_partitions())
            self._partitions_read = time.monotonic()
        if code not in self._partitions:
            raise OutcomeError.not_found(f"institution {code!r} is not registered with this alliance")

    async def handle(self, request: FhirRequest) -> FhirResponse:
        """Raises OutcomeError for failures; the api layer maps them to HTTP."""
        await self._check_partition(request.partition)
        route = match_route(request)
        ctx = Context(request, access_for(request.partition), self.settings)
        result: Result
        if route.interaction == "capabilities":
            result = Result(Outcome.OK, body=capability_statement(ctx.base_url))
        elif route.interaction == "bundle":
            plan = parse_bundle(request.body, max_entries=self.settings.max_bundle_entries)
            if plan.type == "transaction":
                result = await run_transaction(ctx, self.repository, plan)
            else:
                result = await run_batch(ctx, self.repository, plan)
        else:
            async with self.repository.transaction(read_only=route.read_only) as session:
                result = await execute(ctx, session, route)
        return render(ctx, result)
