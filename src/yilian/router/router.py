"""`FhirRouter`: FHIR REST semantics over a repository, without HTTP.

Modelled on Medplum's fhir-router: the api layer (or a batch entry, or the CLI) builds a
`FhirRequest`; `handle` checks the base's institution, works out the interaction
(`routes`), opens one database transaction (read-only for reads) and runs the interaction
(`dispatch`); failures are `OutcomeError`s that the api layer turns into HTTP.
See http://hl7.org/fhir/R4/http.html.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from yilian.auth.principal import Principal
from yilian.fhir.bundle import parse_bundle
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.privacy.model import Access, AccessPolicy, AccessRecord, AccessRequest, AuditSink
from yilian.router.access import NoAudit, PartitionPolicy
from yilian.router.batch import run_batch
from yilian.router.capabilities import capability_statement
from yilian.router.context import Context
from yilian.router.dispatch import execute
from yilian.router.result import Result, render
from yilian.router.routes import Route, match_route
from yilian.router.settings import RouterSettings
from yilian.router.status import status_code
from yilian.router.transaction import run_transaction
from yilian.router.types import FhirRequest, FhirResponse
from yilian.store.base import Repository

__all__ = ["FhirRouter", "RouterSettings"]


class FhirRouter:
    """Answers `FhirRequest`s from one repository under fixed settings."""

    def __init__(
        self,
        repository: Repository,
        settings: RouterSettings | None = None,
        *,
        policy: AccessPolicy | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self.repository = repository
        self.settings = settings or RouterSettings()
        self.policy: AccessPolicy = policy or PartitionPolicy()
        self.audit: AuditSink = audit or NoAudit()
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
        """Raises OutcomeError for failures; the api layer maps them to HTTP.

        The guards wrap every interaction here: the policy decides the access (or refuses),
        and the audit sink hears of every access and every refusal.  A batch or transaction
        is decided entry by entry (`_EntryGuard`), each entry as if it had come alone; the
        Bundle's own record keeps its outcome, the entries' records what they touched."""
        await self._check_partition(request.partition)
        route = match_route(request)
        asked = _asked(request, route)
        access = await self._admit(request, asked)
        ctx = Context(request, access, self.settings, _EntryGuard(self))
        try:
            result = await self._run(ctx, route)
        except OutcomeError as failed:
            await self._record(
                request, asked, status_code(failed.kind), detail=str(failed), btg=access.break_glass
            )
            raise
        response = render(ctx, result)
        body = None if route.interaction == "bundle" else response.body
        await self._record(request, asked, status_code(response.outcome), body, btg=access.break_glass)
        return response

    async def _admit(self, request: FhirRequest, asked: AccessRequest) -> Access:
        """The policy's access for `asked`; a refusal is audited, then raised."""
        try:
            return await self.policy.access(self.repository, asked)
        except OutcomeError as refused:
            await self._record(request, asked, status_code(refused.kind), detail=str(refused))
            raise

    async def _run(self, ctx: Context, route: Route) -> Result:
        request = ctx.request
        if route.interaction == "capabilities":
            return Result(Outcome.OK, body=capability_statement(ctx.base_url))
        if route.interaction == "bundle":
            plan = parse_bundle(request.body, max_entries=self.settings.max_bundle_entries)
            if plan.type == "transaction":
                return await run_transaction(ctx, self.repository, plan)
            return await run_batch(ctx, self.repository, plan)
        async with self.repository.transaction(read_only=route.read_only) as session:
            return await execute(ctx, session, route)

    async def _record(
        self,
        request: FhirRequest,
        asked: AccessRequest,
        outcome: int,
        body: dict[str, Any] | None = None,
        *,
        detail: str = "",
        btg: bool = False,
    ) -> None:
        query = urlencode(request.query) if request.query else ""  # reads have none: skip the call
        entities, patients = _touched(body)
        await self.audit.record(
            AccessRecord(
                principal=asked.principal,
                interaction=asked.interaction,
                partition=asked.partition,
                outcome=outcome,
                resource_type=asked.resource_type,
                resource_id=asked.resource_id,
                query=query,
                entities=entities,
                break_glass=btg,
                detail=detail,
                patients=patients,
            )
        )


def _asked(request: FhirRequest, route: Route) -> AccessRequest:
    """What `request` attempts, as the policy is asked it."""
    principal = request.principal or Principal.development()
    return AccessRequest(
        principal, route.interaction, request.partition, route.resource_type, route.id, route.operation
    )


class _EntryGuard:
    """`EntryGuard` for the entries of one Bundle: the router's own policy and audit sink.
    Identical questions within the Bundle (a thousand creates of Observation) are decided
    once; every refusal is still audited per entry."""

    def __init__(self, router: FhirRouter) -> None:
        self._router = router
        self._decided: dict[AccessRequest, Access | OutcomeError] = {}

    async def admit(self, request: FhirRequest, route: Route) -> Access:
        asked = _asked(request, route)
        decided = self._decided.get(asked)
        if decided is None:
            try:
                decided = await self._router.policy.access(self._router.repository, asked)
            except OutcomeError as refused:
                decided = refused
            self._decided[asked] = decided
        if isinstance(decided, OutcomeError):
            await self._router._record(request, asked, status_code(decided.kind), detail=str(decided))
            raise decided
        return decided

    async def record(
        self,
        request: FhirRequest,
        route: Route,
        access: Access,
        outcome: int,
        body: dict[str, Any] | None = None,
        *,
        detail: str = "",
    ) -> None:
        await self._router._record(
            request, _asked(request, route), outcome, body, detail=detail, btg=access.break_glass
        )


def _touched(body: dict[str, Any] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The `Type/id`s a response carries (the resource itself, or a Bundle's entries) and the
    patients whose records they are: a patient listing who accessed their record must see a
    read of their Observation, not only of their Patient resource."""
    if not body:
        return (), ()
    patients: set[str] = set()
    if body.get("resourceType") == "Bundle":
        found = []
        for entry in body.get("entry", []):
            resource = entry.get("resource")
            if isinstance(resource, dict) and "id" in resource:
                found.append(f"{resource['resourceType']}/{resource['id']}")
                _patients_in(resource, patients)
        return tuple(found), tuple(sorted(patients))
    if "id" in body and body.get("resourceType") not in (None, "OperationOutcome"):
        _patients_in(body, patients)
        return (f"{body['resourceType']}/{body['id']}",), tuple(sorted(patients))
    return (), ()


def _patients_in(resource: dict[str, Any], into: set[str]) -> None:
    """Patients a resource belongs to, from its top-level references (`subject`, `patient`,
    `beneficiary`, `performer`...): the R4 Patient compartment's links are all top-level
    elements, and looking no deeper keeps this cheap on the request path."""
    if resource.get("resourceType") == "Patient":
        return
    for value in resource.values():
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and ref.startswith("Patient/"):
                into.add(ref[8:])
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    ref = item.get("reference")
                    if isinstance(ref, str) and ref.startswith("Patient/"):
                        into.add(ref[8:])
