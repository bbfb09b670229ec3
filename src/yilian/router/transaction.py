"""Transaction Bundles: all entries or none (http://hl7.org/fhir/R4/http.html#transaction).

Everything runs in ONE `repository.transaction()`; any failing entry raises, which rolls the
whole Bundle back, and the error names the entry (`Bundle.entry[3]`).  Processing follows the
spec's order (http://hl7.org/fhir/R4/http.html#trules):

1. DELETE entries;
2. identities: every POST gets an id chosen in advance (or, with `ifNoneExist`, the single
   existing match), every conditional PUT (`Patient?identifier=...`) its match (or a new id),
   and every conditional reference in any resource its single match (none: 400, several:
   412); `urn:uuid:` fullUrls map to the resulting `Type/id`;
3. every reference in every resource is rewritten through that map (extensions, contained
   resources and narrative included), then POST, PUT/PATCH and GET/HEAD entries run in order.

Choosing ids before writing lets entries refer to each other in any direction, cycles
included, without a second pass over stored resources.  The response Bundle lists one entry
per request entry in the original order.

Before any of that, every entry, and every conditional reference as the search of its type it
is, passes the router's guards (`Context.guard`): one refusal refuses the whole Bundle (403,
naming `Bundle.entry[i]`) before anything is written.  Each entry then runs with the `Access`
the policy gave it (its writes land in its write partition, its `ifNoneExist` and conditional
update resolve within its scope, a conditional reference only finds what the caller could
search for), and once the Bundle has committed each entry and each resolved reference is
audited as an access of its own.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any
from urllib.parse import parse_qsl

from yilian.fhir.bundle import (
    BundleEntry,
    BundlePlan,
    ReferenceMap,
    assign_ids,
    conditional_references,
    encode,
    entry_error,
    split_url,
    transaction_order,
)
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.privacy.model import Access
from yilian.router.conditional import criteria, criteria_from_text
from yilian.router.context import Context
from yilian.router.dispatch import execute
from yilian.router.entries import entry_request, response_entry
from yilian.router.resource_types import is_resource_type
from yilian.router.result import Result
from yilian.router.routes import Route
from yilian.router.status import status_code
from yilian.router.types import FhirRequest
from yilian.store.base import Repository, Session, StoredResource

__all__ = ["run_transaction"]


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclasses.dataclass(frozen=True, slots=True)
class _Admitted:
    """An entry (or a conditional reference's search) as the guards admitted it."""

    request: FhirRequest
    route: Route
    access: Access


class _Plan:
    """What phase 2 decides: the reference map, POSTs answered by an existing resource, and
    the concrete `Type/id` url of each conditional PUT; and what the guards admitted (phase 0)
    and which entry failed, for the audit."""

    def __init__(self) -> None:
        self.references: dict[str, str] = {}
        self.existing: dict[int, StoredResource] = {}
        self.put_urls: dict[int, str] = {}
        self.admitted: dict[int, _Admitted] = {}
        self.lookups: dict[str, _Admitted] = {}
        self.failed: BundleEntry | None = None
        # Each resource's JSON text (fhir.bundle's fast path reads it instead of walking the
        # resource) and its conditional references, worked out once in phase 0.
        self.raw: dict[int, bytes | None] = {}
        self.conditionals: dict[int, list[str]] = {}
        # The body each POST/PUT entry wrote: the audit reads its references from it rather
        # than parse the stored version's JSON again.
        self.written: dict[int, dict[str, Any]] = {}

    def context(self, ctx: Context, entry: BundleEntry) -> Context:
        """The context `entry` runs in: its own request and access."""
        admitted = self.admitted[entry.index]
        return ctx.for_entry(admitted.request, admitted.access)


def _lookup_request(ctx: Context, reference: str) -> tuple[FhirRequest, Route]:
    """A conditional reference as the search it is (`Patient?identifier=x` is a search of
    Patient), so the policy decides it like one."""
    rtype, _, query = reference.partition("?")
    if not is_resource_type(rtype):
        raise OutcomeError.invalid(f"conditional reference {reference!r} names an unknown resource type")
    request = FhirRequest(
        method="GET",
        path=(rtype,),
        partition=ctx.request.partition,
        query=parse_qsl(query, keep_blank_values=True),
        base_url=ctx.request.base_url,
        principal=ctx.request.principal,
    )
    return request, Route("search-type", rtype)


async def _admit(ctx: Context, entries: tuple[BundleEntry, ...], plan: _Plan) -> None:
    """Phase 0: ask the guards about every entry and every conditional reference, before the
    database transaction opens; the first refusal refuses the Bundle."""
    for entry in entries:
        try:
            request, route = entry_request(ctx, entry)
            access = await ctx.guard.admit(request, route)
            plan.admitted[entry.index] = _Admitted(request, route, access)
            if entry.resource is None:
                continue
            raw = plan.raw[entry.index] = encode(entry.resource)
            references = plan.conditionals[entry.index] = sorted(conditional_references(entry.resource, raw))
            for reference in references:
                if reference not in plan.lookups:
                    lookup, lookup_route = _lookup_request(ctx, reference)
                    plan.lookups[reference] = _Admitted(
                        lookup, lookup_route, await ctx.guard.admit(lookup, lookup_route)
                    )
        except OutcomeError as error:
            raise entry_error(entry, error) from error


async def _resolve_post(ctx: Context, session: Session, entry: BundleEntry, new_id: str, plan: _Plan) -> None:
    path, _ = split_url(entry.url, ctx.base_url)
    if len(path) != 1:
        return  # not a create; routing reports the problem when the entry runs
    rtype = path[0]
    rid = new_id
    if entry.if_none_exist:
        conditions = criteria_from_text(rtype, entry.if_none_exist, "ifNoneExist")
        ids = await session.resolve_ids(rtype, conditions, ctx.access.scope)
        if len(ids) > 1:
            raise OutcomeError(
                Outcome.PRECONDITION_FAILED,
                IssueType.MULTIPLE_MATCHES,
                "ifNoneExist matches more than one resource",
            )
        if ids:
            plan.existing[entry.index] = await session.read(rtype, ids[0], ctx.access.scope)
            rid = ids[0]
    if entry.full_url:
        plan.references[entry.full_url] = f"{rtype}/{rid}"


async def _resolve_put(ctx: Context, session: Session, entry: BundleEntry, plan: _Plan) -> None:
    path, query = split_url(entry.url, ctx.base_url)
    if len(path) == 2 and entry.full_url:
        plan.references[entry.full_url] = f"{path[0]}/{path[1]}"
    if len(path) != 1 or not is_resource_type(path[0]):
        return
    rtype = path[0]
    ids = await session.resolve_ids(rtype, criteria(rtype, query, "conditional update"), ctx.access.scope)
    if len(ids) > 1:
        raise OutcomeError(
            Outcome.PRECONDITION_FAILED,
            IssueType.MULTIPLE_MATCHES,
            f"conditional update: the criteria match more than one {rtype}",
        )
    body_id = entry.resource.get("id") if entry.resource else None
    if ids and body_id is not None and body_id != ids[0]:
        raise OutcomeError.invalid(
            f"resource id {body_id!r} differs from the id {ids[0]!r} the condition matched"
        )
    rid = ids[0] if ids else (body_id if isinstance(body_id, str) else _new_id())
    plan.put_urls[entry.index] = f"{rtype}/{rid}"
    if entry.full_url:
        plan.references[entry.full_url] = f"{rtype}/{rid}"


async def _resolve_reference(ctx: Context, session: Session, reference: str) -> str:
    rtype, _, query = reference.partition("?")
    conditions = criteria(
        rtype, parse_qsl(query, keep_blank_values=True), f"conditional reference {reference!r}"
    )
    ids = await session.resolve_ids(rtype, conditions, ctx.access.scope)
    if not ids:
        raise OutcomeError(
            Outcome.BAD_REQUEST,
            IssueType.NOT_FOUND,
            f"conditional reference {reference!r} matches no resource",
        )
    if len(ids) > 1:
        raise OutcomeError(
            Outcome.PRECONDITION_FAILED,
            IssueType.MULTIPLE_MATCHES,
            f"conditional reference {reference!r} matches more than one resource",
        )
    return f"{rtype}/{ids[0]}"


async def _run_entry(
    ctx: Context,
    session: Session,
    entry: BundleEntry,
    plan: _Plan,
    new_id: str | None,
    references: ReferenceMap | None = None,
) -> Result:
    if entry.index in plan.existing:
        return Result(Outcome.OK, plan.existing[entry.index], write=True)
    admitted = plan.admitted[entry.index]
    body: Any = None
    if entry.resource is not None:
        assert references is not None  # every entry with a resource runs after phase 2
        body, dangling = references.rewrite(entry.resource, plan.raw.get(entry.index))
        if dangling:
            raise OutcomeError.invalid(
                f"{', '.join(sorted(dangling))} matches no entry's fullUrl in this Bundle",
                [f"{entry.where}.resource"],
            )
    url = plan.put_urls.get(entry.index)
    if url is not None:
        if isinstance(body, dict):
            body["id"] = url.split("/", 1)[1]
        # ifNoneExist was settled in phase 2; the create must use the id chosen there.
        request, route = entry_request(
            ctx, dataclasses.replace(entry, if_none_exist=None), url=url, body=body
        )
    else:  # the request phase 0 admitted, with the rewritten body and without ifNoneExist
        request, route = _with_body(admitted.request, body), admitted.route
    entry_ctx = ctx.for_entry(request, admitted.access)
    result = await execute(entry_ctx, session, route, assigned_id=new_id)
    if isinstance(body, dict) and result.write and result.body is None:
        plan.written[entry.index] = body
    return result


def _with_body(admitted: FhirRequest, body: Any) -> FhirRequest:
    """`admitted` (an entry's request as phase 0 built it) to run: its resource replaced by
    the rewritten `body` and its If-None-Exist dropped (phase 2 settled it)."""
    headers = admitted.headers
    if "if-none-exist" in headers:
        headers = {k: v for k, v in headers.items() if k != "if-none-exist"}
    return FhirRequest(
        method=admitted.method,
        path=admitted.path,
        partition=admitted.partition,
        query=admitted.query,
        headers=headers,
        body=admitted.body if body is None else body,
        base_url=admitted.base_url,
        principal=admitted.principal,
    )


async def run_transaction(ctx: Context, repository: Repository, bundle: BundlePlan) -> Result:
    """Process a transaction Bundle; raises the failing entry's error (nothing is written)."""
    entries = bundle.entries
    new_ids = assign_ids(entries, _new_id)
    plan = _Plan()
    await _admit(ctx, entries, plan)
    results: dict[int, Result] = {}
    ordered = transaction_order(entries)
    try:
        async with repository.transaction() as session:
            for entry in ordered:
                if entry.method == "DELETE":
                    results[entry.index] = await _guard(
                        plan, entry, _run_entry(ctx, session, entry, plan, None)
                    )
            for entry in entries:
                if entry.method == "POST":
                    entry_ctx = plan.context(ctx, entry)
                    await _guard(
                        plan, entry, _resolve_post(entry_ctx, session, entry, new_ids[entry.index], plan)
                    )
                elif entry.method == "PUT":
                    await _guard(plan, entry, _resolve_put(plan.context(ctx, entry), session, entry, plan))
            for entry in entries:
                for reference in plan.conditionals.get(entry.index, ()):
                    if reference not in plan.references:
                        lookup = plan.lookups[reference]
                        lookup_ctx = ctx.for_entry(lookup.request, lookup.access)
                        plan.references[reference] = await _guard(
                            plan, entry, _resolve_reference(lookup_ctx, session, reference)
                        )
            references = ReferenceMap(plan.references)
            for entry in ordered:
                if entry.method != "DELETE":
                    results[entry.index] = await _guard(
                        plan,
                        entry,
                        _run_entry(ctx, session, entry, plan, new_ids.get(entry.index), references),
                    )
    except OutcomeError as error:
        await _record_failure(ctx, plan, error)
        raise
    await _record(ctx, plan, results)
    response_entries = [response_entry(plan.context(ctx, e), e, results[e.index]) for e in entries]
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": response_entries,
    }
    return Result(Outcome.OK, body=body)


async def _guard(plan: _Plan, entry: BundleEntry, step: Any) -> Any:
    """Await `step`, restating any OutcomeError as the entry's (`Bundle.entry[i] ...`)."""
    try:
        return await step
    except OutcomeError as error:
        plan.failed = entry
        raise entry_error(entry, error) from error


async def _record(ctx: Context, plan: _Plan, results: dict[int, Result]) -> None:
    """Audit a committed Bundle: every entry, and every conditional reference it resolved
    (a lookup of that patient's or resource's id is an access of its own)."""
    for index, result in sorted(results.items()):
        a = plan.admitted[index]
        await ctx.guard.record(
            a.request,
            a.route,
            a.access,
            status_code(result.outcome),
            _audited(result, plan.written.get(index)),
        )
    for reference, lookup in plan.lookups.items():
        rtype, _, rid = plan.references.get(reference, "").partition("/")
        found = {"resourceType": rtype, "id": rid} if rid else None
        await ctx.guard.record(lookup.request, lookup.route, lookup.access, 200, found)


def _audited(result: Result, written: dict[str, Any] | None) -> dict[str, Any] | None:
    """The resource the audit is told an entry's result holds: `result.resource()`, except
    that a version this Bundle wrote is given as the body it was written from (stamped with
    its type and id), which has the stored version's elements and references, rather than
    by parsing the stored JSON again."""
    stored = result.stored
    if written is not None and stored is not None and not stored.deleted:
        return {**written, "resourceType": stored.resource_type, "id": stored.id}
    return result.resource()


async def _record_failure(ctx: Context, plan: _Plan, error: OutcomeError) -> None:
    """Audit the entry that failed the Bundle (the Bundle's own record names it too)."""
    failed = plan.failed
    if failed is not None and failed.index in plan.admitted:
        a = plan.admitted[failed.index]
        await ctx.guard.record(a.request, a.route, a.access, status_code(error.kind), detail=str(error))
