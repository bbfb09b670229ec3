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
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any
from urllib.parse import parse_qsl

from yilian.fhir.bundle import (
    BundleEntry,
    BundlePlan,
    assign_ids,
    conditional_references,
    entry_error,
    local_references,
    rewrite_references,
    split_url,
    transaction_order,
)
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.router.conditional import criteria, criteria_from_text
from yilian.router.context import Context
from yilian.router.dispatch import execute
from yilian.router.entries import entry_request, response_entry
from yilian.router.resource_types import is_resource_type
from yilian.router.result import Result
from yilian.store.base import Repository, Session, StoredResource

__all__ = ["run_transaction"]


def _new_id() -> str:
    return str(uuid.uuid4())


class _Plan:
    """What phase 2 decides: the reference map, POSTs answered by an existing resource, and
    the concrete `Type/id` url of each conditional PUT."""

    def __init__(self) -> None:
        self.references: dict[str, str] = {}
        self.existing: dict[int, StoredResource] = {}
        self.put_urls: dict[int, str] = {}


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
    if not is_resource_type(rtype):
        raise OutcomeError.invalid(f"conditional reference {reference!r} names an unknown resource type")
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
    ctx: Context, session: Session, entry: BundleEntry, plan: _Plan, new_id: str | None
) -> Result:
    if entry.index in plan.existing:
        return Result(Outcome.OK, plan.existing[entry.index], write=True)
    body: Any = None
    if entry.resource is not None:
        body = rewrite_references(entry.resource, plan.references)
        dangling = local_references(body)
        if dangling:
            raise OutcomeError.invalid(
                f"{', '.join(sorted(dangling))} matches no entry's fullUrl in this Bundle",
                [f"{entry.where}.resource"],
            )
    url = plan.put_urls.get(entry.index)
    if url is not None and isinstance(body, dict):
        body["id"] = url.split("/", 1)[1]
    # ifNoneExist was settled in phase 2; the create must use the id chosen there.
    request, route = entry_request(ctx, dataclasses.replace(entry, if_none_exist=None), url=url, body=body)
    return await execute(ctx.with_request(request), session, route, assigned_id=new_id)


async def run_transaction(ctx: Context, repository: Repository, bundle: BundlePlan) -> Result:
    """Process a transaction Bundle; raises the failing entry's error (nothing is written)."""
    entries = bundle.entries
    new_ids = assign_ids(entries, _new_id)
    plan = _Plan()
    results: dict[int, Result] = {}
    ordered = transaction_order(entries)
    async with repository.transaction() as session:
        for entry in ordered:
            if entry.method == "DELETE":
                results[entry.index] = await _guard(entry, _run_entry(ctx, session, entry, plan, None))
        for entry in entries:
            if entry.method == "POST":
                await _guard(entry, _resolve_post(ctx, session, entry, new_ids[entry.index], plan))
            elif entry.method == "PUT":
                await _guard(entry, _resolve_put(ctx, session, entry, plan))
        for entry in entries:
            for reference in sorted(conditional_references(entry.resource or {})):
                if reference not in plan.references:
                    plan.references[reference] = await _guard(
                        entry, _resolve_reference(ctx, session, reference)
                    )
        for entry in ordered:
            if entry.method != "DELETE":
                results[entry.index] = await _guard(
                    entry, _run_entry(ctx, session, entry, plan, new_ids.get(entry.index))
                )
    response_entries = [response_entry(ctx, e, results[e.index]) for e in entries]
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": response_entries,
    }
    return Result(Outcome.OK, body=body)


async def _guard(entry: BundleEntry, step: Any) -> Any:
    """Await `step`, restating any OutcomeError as the entry's (`Bundle.entry[i] ...`)."""
    try:
        return await step
    except OutcomeError as error:
        raise entry_error(entry, error) from error
