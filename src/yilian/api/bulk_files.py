"""Downloading a bulk job's files: `GET /fhir/$bulk-file/{job}/{file}`.

The manifest of a completed `$export` (router/operations/bulk_status.py) lists these URLs with
`requiresAccessToken: true` (https://hl7.org/fhir/uv/bulkdata/export.html#file-request): the
caller sends the same bearer token as to the FHIR routes, verified the same way
(api/auth.py), and must be the job's owner or the system client.  The file must be one the
job's manifest names; it is streamed from disk as `application/fhir+ndjson`, so a large file
never sits in memory.  Every download, allowed or refused, is told to the audit sink.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from yilian.api.auth import Authenticator, challenge
from yilian.api.errors import outcome_response
from yilian.api.request import FHIR_PREFIX, request_headers
from yilian.auth.principal import Principal
from yilian.bulk.jobs import FILE_ROUTE, JobManager
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.privacy.model import AccessRecord, AuditSink
from yilian.router.operations.bulk_status import may_manage
from yilian.router.status import status_code

__all__ = ["NDJSON_MEDIA_TYPE", "add_bulk_file_route"]

NDJSON_MEDIA_TYPE = "application/fhir+ndjson"


def add_bulk_file_route(app: FastAPI, auth: Authenticator, jobs: JobManager, audit: AuditSink) -> None:
    """Register the download route (before the `/fhir/{path}` catch-all, which would take it)."""

    async def bulk_file(request: Request, job_id: str, name: str) -> Response:
        principal = Principal.anonymous()
        try:
            principal = await auth.principal(request_headers(request))
            job = await jobs.get(job_id)
            if job is None or not may_manage(principal, job) or job.status != "completed":
                raise OutcomeError.not_found(f"no bulk data file {job_id}/{name}")
            if name not in {str(f["url"]) for f in (*job.output, *job.errors)}:
                raise OutcomeError.not_found(f"bulk data job {job_id} has no file {name!r}")
            path = jobs.file_path(job_id, name)
        except OutcomeError as exc:
            await _record(audit, principal, job_id, name, status_code(exc.kind), str(exc))
            response = outcome_response(exc)
            if exc.kind is Outcome.UNAUTHORIZED:
                response.headers["www-authenticate"] = challenge(exc)
            return response
        await _record(audit, principal, job_id, name, 200, "")
        return FileResponse(path, media_type=NDJSON_MEDIA_TYPE, filename=name)

    app.add_api_route(
        f"{FHIR_PREFIX}/{FILE_ROUTE}/{{job_id}}/{{name}}",
        bulk_file,
        methods=["GET"],
        name="bulk_file",
        summary="Download a file of a completed bulk data job (NDJSON)",
        tags=["Bulk Data"],
        response_class=Response,
    )


async def _record(
    audit: AuditSink, principal: Principal, job_id: str, name: str, outcome: int, detail: str
) -> None:
    await audit.record(
        AccessRecord(
            principal=principal,
            interaction="operation",
            partition=None,
            outcome=outcome,
            query=f"bulk-file={job_id}/{name}",
            detail=detail[:500],
        )
    )
