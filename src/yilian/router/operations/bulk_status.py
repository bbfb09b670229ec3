"""Bulk Data status: `$export-poll-status` for every bulk job, and the operations' switch.

https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-status-request: `GET ...?_jobId=` answers
`202` with `X-Progress` (and `Retry-After`) while the job runs, `200` with the manifest when it is
complete, and the job's error as an OperationOutcome when it failed; `DELETE` cancels it (`202`),
removing its files.  Only the job's owner (the token subject that kicked it off) or the
alliance's system client may poll or cancel; anyone else, like an unknown id, gets a 404, so
job ids reveal nothing.  `$import` jobs (yilian.ingest) are polled here too.
"""

from __future__ import annotations

from yilian.auth.principal import Principal
from yilian.bulk.jobs import BulkJob, manifest
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.router.context import Context
from yilian.router.operations.export import export_kickoff, job_manager
from yilian.router.result import Result, information
from yilian.router.routes import Route
from yilian.store.base import Session

__all__ = ["BULK_OPERATIONS", "alliance_base", "bulk_operation", "may_manage", "poll_status"]

STATUS_OPERATIONS = frozenset({"export-poll-status", "import-poll-status"})
BULK_OPERATIONS = frozenset({"export"}) | STATUS_OPERATIONS


def may_manage(principal: Principal | None, job: BulkJob) -> bool:
    """Whether `principal` may poll, download or cancel `job`."""
    caller = principal or Principal.development()
    return caller.subject == job.owner or caller.role == "system"


def alliance_base(ctx: Context) -> str:
    """`/fhir` of this server (the file route hangs off it, whatever base was used)."""
    base = ctx.base_url
    partition = ctx.request.partition
    if partition and base.endswith(f"/{partition}"):
        return base[: -len(partition) - 1]
    return base


async def bulk_operation(ctx: Context, session: Session, route: Route) -> Result:
    if route.operation == "export":
        return await export_kickoff(ctx, session, route)
    if route.resource_type is not None:
        raise OutcomeError(
            Outcome.NOT_FOUND, IssueType.NOT_SUPPORTED, f"${route.operation} is a system-level operation"
        )
    return await poll_status(ctx)


async def poll_status(ctx: Context) -> Result:
    jobs = job_manager(ctx)
    ids = [v for k, v in ctx.request.query if k == "_jobId"]
    if len(ids) != 1 or not ids[0].strip():
        raise OutcomeError.invalid(
            "name the job: ?_jobId=<id from the kick-off's Content-Location>", ["_jobId"]
        )
    job_id = ids[0].strip()
    job = await jobs.get(job_id)
    if job is None or not may_manage(ctx.request.principal, job):
        raise OutcomeError.not_found(f"no bulk data job {job_id!r}")
    method = ctx.request.method.upper()
    if method == "DELETE":
        await jobs.cancel(job_id)
        return Result(
            Outcome.ACCEPTED, body=information(f"bulk data job {job_id} cancelled; its files are deleted")
        )
    if method not in ("GET", "HEAD"):
        raise OutcomeError(
            Outcome.METHOD_NOT_ALLOWED, IssueType.NOT_SUPPORTED, "poll with GET, cancel with DELETE"
        )
    if job.running:
        return Result(
            Outcome.ACCEPTED,
            headers={"X-Progress": job.progress_text(), "Retry-After": "1"},
        )
    if job.status == "completed":
        return Result(Outcome.OK, body=manifest(job, alliance_base(ctx)), headers={"Expires": _expires(job)})
    if job.status == "cancelled":
        raise OutcomeError.not_found(f"bulk data job {job_id} was cancelled")
    raise OutcomeError(
        Outcome.SERVER_ERROR, IssueType.EXCEPTION, f"bulk data job {job_id} failed: {job.message}"
    )


def _expires(job: BulkJob) -> str:
    """Files are kept until the client cancels (DELETE) them; say so with no fixed expiry."""
    return "-1"
