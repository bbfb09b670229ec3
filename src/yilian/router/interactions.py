"""The single-resource interactions: create, read, vread, update, patch, delete
(http://hl7.org/fhir/R4/http.html), each with its conditional form.

Each function runs inside the `Session` it is given, so the same code serves a plain request,
a batch entry (its own transaction) and a transaction entry (the Bundle's one transaction).
"""

from __future__ import annotations

from typing import Any

from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.fhir.patch import apply_patch
from yilian.fhir.projection import select_elements, summarize
from yilian.router.conditional import criteria, criteria_from_text, if_match, if_none_exist, if_none_match
from yilian.router.context import Context
from yilian.router.result import Result, information
from yilian.router.validation import check_resource, validate_or_raise
from yilian.store.base import Session, conditional_create, conditional_delete, conditional_update

__all__ = ["create", "delete", "patch", "read", "update", "vread"]

_SUMMARY_MODES = ("true", "false", "text", "data")


def _fresh(resource: dict[str, Any]) -> dict[str, Any]:
    """The body as the store should receive it: without the client's id (the server assigns
    one on create) and without version metadata (the server sets it).  Called after the body
    was validated as sent: a resource exported from another server carries that server's
    versionId and lastUpdated, and a `meta` left empty once they are set aside is dropped, not
    kept as `{}` (which breaks ele-1)."""
    out = {k: v for k, v in resource.items() if k != "id"}
    meta = out.get("meta")
    if isinstance(meta, dict):
        rest = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        if rest:
            out["meta"] = rest
        else:
            del out["meta"]
    return out


async def create(
    ctx: Context, session: Session, resource_type: str, *, assigned_id: str | None = None
) -> Result:
    """POST Type: store a new resource (any id in the body is ignored, as R4 requires); with
    If-None-Exist, return the single existing match instead (200) or 412 for several."""
    request = ctx.request
    sent = check_resource(request.body, resource_type)
    validate_or_raise(sent, ctx.settings.validate)
    resource = _fresh(sent)
    condition = if_none_exist(request.headers)
    if condition is not None:
        conditions = criteria_from_text(resource_type, condition, "If-None-Exist")
        stored, created = await conditional_create(
            session, resource, ctx.access.write_partition, conditions, ctx.access.scope
        )
        if not created:
            return Result(
                Outcome.OK, stored, write=True, message="a matching resource exists; nothing created"
            )
    else:
        stored = await session.create(resource, ctx.access.write_partition, id=assigned_id)
    return Result(Outcome.CREATED, stored, write=True, message=f"created {resource_type}/{stored.id}")


def _project(ctx: Context, resource: dict[str, Any]) -> dict[str, Any] | None:
    """`_summary` / `_elements` on a read (http://hl7.org/fhir/R4/search.html#summary), or None."""
    query = dict(ctx.request.query)
    mode = query.get("_summary")
    elements = query.get("_elements")
    if mode is not None and mode != "false":
        if mode not in _SUMMARY_MODES:
            raise OutcomeError.invalid(
                f"_summary={mode!r} is not one of true, text, data, false", ["_summary"]
            )
        return summarize(resource, mode)
    if elements:
        return select_elements(resource, tuple(e.strip() for e in elements.split(",") if e.strip()))
    return None


async def read(ctx: Context, session: Session, resource_type: str, id: str) -> Result:
    """GET Type/id: the current version; gone (410) once deleted.  `If-None-Match` with the
    current version gives 304 (http://hl7.org/fhir/R4/http.html#cread)."""
    stored = await session.read(resource_type, id, ctx.access.scope)
    wanted = if_none_match(ctx.request.headers)
    if wanted is not None and wanted == stored.version:
        return Result(Outcome.NOT_MODIFIED, stored)
    return Result(Outcome.OK, stored, body=_project(ctx, stored.json()))


async def vread(ctx: Context, session: Session, resource_type: str, id: str, version: int) -> Result:
    """GET Type/id/_history/vid."""
    stored = await session.vread(resource_type, id, version, ctx.access.scope)
    return Result(Outcome.OK, stored, body=_project(ctx, stored.json()))


async def update(ctx: Context, session: Session, resource_type: str, id: str | None) -> Result:
    """PUT Type/id (update, or update-as-create: 201) and PUT Type?criteria (conditional).

    The body must carry the URL's id (400 otherwise); If-Match makes it a versioned update
    (412 when the current version differs)."""
    request = ctx.request
    resource = check_resource(request.body, resource_type)
    expected = if_match(request.headers)
    access = ctx.access
    if id is None:
        conditions = criteria(resource_type, request.query, "conditional update")
        validate_or_raise(resource, ctx.settings.validate)
        stored, created = await conditional_update(
            session, resource, access.write_partition, conditions, access.scope, if_match=expected
        )
    else:
        body_id = resource.get("id")
        if body_id is None:
            raise OutcomeError.invalid(
                f"an update needs the resource id in the body ({resource_type}.id = {id!r})",
                [f"{resource_type}.id"],
            )
        if body_id != id:
            raise OutcomeError.invalid(
                f"the body id {body_id!r} differs from the id {id!r} in the URL", [f"{resource_type}.id"]
            )
        validate_or_raise(resource, ctx.settings.validate)
        stored, created = await session.update(
            resource, access.write_partition, if_match=expected, scope=access.scope
        )
    outcome = Outcome.CREATED if created else Outcome.OK
    return Result(
        outcome,
        stored,
        write=True,
        message=f"{'created' if created else 'updated'} {resource_type}/{stored.id}",
    )


async def _single_match(ctx: Context, session: Session, resource_type: str, what: str) -> str:
    conditions = criteria(resource_type, ctx.request.query, what)
    ids = await session.resolve_ids(resource_type, conditions, ctx.access.scope)
    if not ids:
        raise OutcomeError.not_found(f"{what}: no {resource_type} matches the criteria")
    if len(ids) > 1:
        raise OutcomeError.precondition_failed(f"{what}: the criteria match more than one {resource_type}")
    return ids[0]


async def patch(ctx: Context, session: Session, resource_type: str, id: str | None) -> Result:
    """PATCH Type/id with a JSON Patch document (http://hl7.org/fhir/R4/http.html#patch), or
    PATCH Type?criteria for the single match.  The patch applies to the version read here and
    the write requires that version still be current, so a concurrent update is a 412 rather
    than a lost update; If-Match names the version explicitly."""
    rid = id if id is not None else await _single_match(ctx, session, resource_type, "conditional patch")
    expected = if_match(ctx.request.headers)
    current = await session.read(resource_type, rid, ctx.access.scope)
    if expected is not None and expected != current.version:
        raise OutcomeError.precondition_failed(
            f"If-Match names version {expected} but {resource_type}/{rid} is at version {current.version}"
        )
    patched = apply_patch(current.json(), ctx.request.body)
    validate_or_raise(patched, ctx.settings.validate)
    stored, _ = await session.update(
        patched, ctx.access.write_partition, if_match=current.version, scope=ctx.access.scope
    )
    return Result(Outcome.OK, stored, write=True, message=f"patched {resource_type}/{rid}")


async def delete(ctx: Context, session: Session, resource_type: str, id: str | None) -> Result:
    """DELETE Type/id and DELETE Type?criteria (single match).  Deleting what is absent or
    already deleted succeeds too (http://hl7.org/fhir/R4/http.html#delete); the answer is 200
    with an OperationOutcome saying which happened."""
    if id is None:
        conditions = criteria(resource_type, ctx.request.query, "conditional delete")
        stored = await conditional_delete(session, resource_type, conditions, ctx.access.scope)
    else:
        stored = await session.delete(resource_type, id, ctx.access.scope)
    if stored is None:
        return Result(Outcome.OK, body=information(f"no current {resource_type} matched; nothing deleted"))
    message = f"deleted {resource_type}/{stored.id}"
    return Result(Outcome.OK, stored, body=information(message), message=message)
