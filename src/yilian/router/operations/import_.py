"""`$import` kick-off: `POST [base]/$import` with a Parameters body and `Prefer: respond-async`.

The Bulk Data import style (https://hl7.org/fhir/uv/bulkdata/, the `$import` proposal): the
body names NDJSON inputs (yilian.ingest.inputs), the server answers `202 Accepted` with
`Content-Location: [base]/$import-poll-status?_jobId=...` and loads them in the background
(yilian.ingest.job); polling, the manifest and cancelling work as for `$export`
(operations/bulk_status.py).  Resources keep their ids (PUT semantics) and land in the
caller's write partition: the institution of an institution base, `default` through the
alliance base; an id another institution holds is reported, not moved.

Local inputs are checked at kick-off, so a path outside `import_allowed_dirs` is a 403 at once
rather than a failed job; remote ones are fetched by the job.  An input url naming an upload
of this server (`[base]/$import-upload?_uploadId=`, operations/import_upload.py) is the file
the caller sent there: it must be the caller's own, and the job takes it.
"""

from __future__ import annotations

from yilian.auth.principal import Principal
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.ingest.inputs import local_path, parse_import
from yilian.ingest.job import ImportPlan, import_runner
from yilian.ingest.loader import LoaderOptions
from yilian.router.context import Context
from yilian.router.operations.export import job_manager, kickoff_url, require_async
from yilian.router.operations.import_upload import upload_id_of
from yilian.router.result import Result, information
from yilian.router.routes import Route

__all__ = ["import_kickoff"]


async def import_kickoff(ctx: Context, route: Route) -> Result:
    if route.resource_type is not None:
        raise OutcomeError(Outcome.NOT_FOUND, IssueType.NOT_SUPPORTED, "$import is a system-level operation")
    if ctx.request.method.upper() != "POST":
        raise OutcomeError(Outcome.METHOD_NOT_ALLOWED, IssueType.NOT_SUPPORTED, "$import is POST")
    jobs = job_manager(ctx)
    require_async(ctx, "import")
    inputs = parse_import(ctx.request.body)
    allowed = ctx.settings.import_allowed_dirs
    principal = ctx.request.principal or Principal.development()
    uploads: list[tuple[str, str]] = []
    for given in inputs:
        upload_id = upload_id_of(given.url, ctx.base_url)
        if upload_id is not None:
            try:
                jobs.uploads.get(upload_id, principal.subject)
            except OutcomeError:
                raise OutcomeError.invalid(f"input {given.url!r} names no upload of yours") from None
            uploads.append((given.url, upload_id))
        elif not given.remote:
            local_path(given.url, allowed)
    access = ctx.access
    plan = ImportPlan(
        tuple(inputs),
        access.write_partition,
        access.scope,
        tuple(allowed),
        LoaderOptions(validate=ctx.settings.validate),
        tuple(uploads),
        principal.subject,
    )
    params = {"inputs": [i.to_json() for i in inputs], "partition": access.write_partition}
    job = await jobs.submit(
        "import",
        principal.subject,
        ctx.request.partition,
        kickoff_url(ctx, route),
        params,
        import_runner(jobs.repository, plan, jobs.uploads),
    )
    status_url = f"{ctx.base_url}/$import-poll-status?_jobId={job.id}"
    return Result(
        Outcome.ACCEPTED,
        body=information(f"import job {job.id} accepted; poll {status_url}"),
        headers={"Content-Location": status_url},
    )
