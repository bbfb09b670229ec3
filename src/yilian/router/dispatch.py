"""Run a routed interaction inside a session: the one switch from `Route` to implementation.

Plain requests, batch entries and transaction entries all come through `execute`, so an
interaction behaves the same whichever way it arrives.
"""

from __future__ import annotations

from yilian.bulk.uploads import UPLOAD_OPERATION
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.router import interactions
from yilian.router.audit_log import AUDIT_EVENT, search_audit_log
from yilian.router.capabilities import capability_statement
from yilian.router.context import Context
from yilian.router.history import history
from yilian.router.operations.bulk_status import BULK_OPERATIONS, bulk_operation
from yilian.router.operations.everything import everything
from yilian.router.operations.import_ import import_kickoff
from yilian.router.operations.import_upload import import_upload
from yilian.router.operations.validate import validate
from yilian.router.result import Result
from yilian.router.routes import Route
from yilian.router.search import search_system, search_type
from yilian.store.base import Session

__all__ = ["execute"]


def _type(route: Route) -> str:
    assert route.resource_type is not None  # match_route sets it for every type-level route
    return route.resource_type


def _id(route: Route) -> str:
    assert route.id is not None
    return route.id


async def _operation(ctx: Context, session: Session, route: Route) -> Result:
    name = route.operation or ""
    if name == "validate" and route.resource_type is not None:
        return await validate(ctx, session, route.resource_type, route.id)
    if name == "everything" and route.resource_type is not None and route.id is not None:
        return await everything(ctx, session, route.resource_type, route.id)
    if name == "import":  # $import kick-off (issue 4, yilian.ingest)
        return await import_kickoff(ctx, route)
    if name == UPLOAD_OPERATION:  # an $import input staged by the client (bulk/uploads.py)
        return await import_upload(ctx, route)
    if name in BULK_OPERATIONS:  # $export, $export-poll-status (issue 4, bulk data)
        return await bulk_operation(ctx, session, route)
    where = "/".join(p for p in (route.resource_type, route.id) if p) or "the system level"
    raise OutcomeError(
        Outcome.NOT_FOUND if name not in ("validate", "everything") else Outcome.BAD_REQUEST,
        IssueType.NOT_SUPPORTED,
        f"operation ${name} is not supported on {where}",
    )


async def execute(ctx: Context, session: Session, route: Route, *, assigned_id: str | None = None) -> Result:
    """Perform `route` for `ctx.request`.  `assigned_id` is the id a transaction chose for a
    create in advance (so `urn:uuid:` references to it could be rewritten)."""
    match route.interaction:
        case "read":
            return await interactions.read(ctx, session, _type(route), _id(route))
        case "vread":
            assert route.version is not None
            return await interactions.vread(ctx, session, _type(route), _id(route), route.version)
        case "create":
            return await interactions.create(ctx, session, _type(route), assigned_id=assigned_id)
        case "update":
            return await interactions.update(ctx, session, _type(route), route.id)
        case "patch":
            return await interactions.patch(ctx, session, _type(route), route.id)
        case "delete":
            return await interactions.delete(ctx, session, _type(route), route.id)
        case "search-type" if route.resource_type == AUDIT_EVENT:
            return await search_audit_log(ctx, session)  # served from the audit log
        case "search-type":
            return await search_type(ctx, session, _type(route))
        case "search-system":
            return await search_system(ctx, session)
        case "history-instance":
            return await history(ctx, session, _type(route), _id(route))
        case "history-type":
            return await history(ctx, session, _type(route))
        case "history-system":
            return await history(ctx, session)
        case "capabilities":
            return Result(Outcome.OK, body=capability_statement(ctx.base_url))
        case "operation":
            return await _operation(ctx, session, route)
        case "bundle":
            raise OutcomeError.invalid("a batch or transaction cannot contain another Bundle request")
    raise OutcomeError.not_supported(f"interaction {route.interaction} is not supported")
