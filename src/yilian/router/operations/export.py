"""`$export` kick-off (https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-kick-off-request).

`GET [base]/$export`, `[base]/Patient/$export` and `[base]/Group/{id}/$export` with
`Prefer: respond-async` start an export job (bulk/export.py) on the composition root's
`JobManager` and answer `202 Accepted` with `Content-Location: [base]/$export-poll-status?_jobId=...`.
The job reads with the scope the access policy decided for this request, so it sees exactly
what a search by the same caller through the same base sees.  Without `respond-async`, or with
a bad parameter, an unknown or memberless Group: a 4xx OperationOutcome and no job.
"""

from __future__ import annotations

from urllib.parse import urlencode

from yilian.auth.principal import Principal
from yilian.bulk.export import ExportLevel, export_runner, group_members, parse_export
from yilian.bulk.jobs import JobManager
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.router.context import Context
from yilian.router.result import Result, information
from yilian.router.routes import Route
from yilian.store.base import Session

__all__ = ["export_kickoff", "job_manager", "require_async"]


def job_manager(ctx: Context) -> JobManager:
    jobs = ctx.settings.jobs
    if jobs is None:
        raise OutcomeError(
            Outcome.NOT_IMPLEMENTED, IssueType.NOT_SUPPORTED, "bulk data jobs are not enabled on this server"
        )
    return jobs


def require_async(ctx: Context, operation: str) -> None:
    """Bulk operations are asynchronous only: `Prefer: respond-async` is required."""
    prefer = ctx.request.headers.get("prefer", "")
    if "respond-async" not in {p.strip().split("=")[0].lower() for p in prefer.replace(";", ",").split(",")}:
        raise OutcomeError.invalid(f"${operation} needs the header Prefer: respond-async", ["Prefer"])


def _level(route: Route) -> ExportLevel:
    if route.resource_type is None:
        return "system"
    if route.resource_type == "Patient" and route.id is None:
        return "patient"
    if route.resource_type == "Group" and route.id is not None:
        return "group"
    where = "/".join(p for p in (route.resource_type, route.id) if p)
    raise OutcomeError(
        Outcome.NOT_FOUND,
        IssueType.NOT_SUPPORTED,
        f"$export is defined on the system, Patient and Group/[id], not on {where}",
    )


def kickoff_url(ctx: Context, route: Route) -> str:
    path = "/".join(p for p in (route.resource_type, route.id) if p)
    url = f"{ctx.base_url}/{path + '/' if path else ''}${route.operation}"
    query = urlencode(list(ctx.request.query))
    return f"{url}?{query}" if query else url


async def export_kickoff(ctx: Context, session: Session, route: Route) -> Result:
    jobs = job_manager(ctx)
    level = _level(route)
    if ctx.request.method.upper() not in ("GET", "POST"):
        raise OutcomeError(Outcome.METHOD_NOT_ALLOWED, IssueType.NOT_SUPPORTED, "$export is GET (or POST)")
    require_async(ctx, "export")
    request = parse_export(list(ctx.request.query), level)
    scope = ctx.access.scope
    patients = None
    if level == "group":
        assert route.id is not None
        group = (await session.read("Group", route.id, scope)).json()  # 404 / 410 first
        patients = group_members(group)
        if not patients:
            raise OutcomeError.invalid(f"Group/{route.id} has no Patient members to export", ["Group.member"])
    elif level == "patient":
        patients = frozenset()
    principal = ctx.request.principal or Principal.development()
    params = {**request.params(), "group": route.id if level == "group" else None}
    runner = export_runner(jobs.repository, scope, request, patients=patients)
    job = await jobs.submit(
        "export", principal.subject, ctx.request.partition, kickoff_url(ctx, route), params, runner
    )
    status_url = f"{ctx.base_url}/$export-poll-status?_jobId={job.id}"
    return Result(
        Outcome.ACCEPTED,
        body=information(f"export job {job.id} accepted; poll {status_url}"),
        headers={"Content-Location": status_url},
    )
