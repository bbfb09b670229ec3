"""Asynchronous Bulk Data jobs: `$export` and `$import` run as background tasks.

The kick-off request returns at once (`202 Accepted`, https://hl7.org/fhir/uv/bulkdata/export.html#response---success);
the work runs as an asyncio task in the process that accepted it, writing its files under
`{directory}/{job id}/`.  The job's state lives in the database (`Repository.save_job` /
`load_job`, table `bulk_job`), so a status poll answered by any worker process sees it, and a
cancel recorded by any worker stops the task at its next progress report.

Lifecycle: `accepted` -> `in-progress` -> `completed` | `failed` | `cancelled`.  A runner that
raises leaves the job `failed` with the error's text; its files are removed, so nothing it
half-wrote counts as output.  `close()` (server shutdown) cancels the running tasks and marks
their jobs failed ("server stopped"); a job whose process died without closing (no progress for
`stale_seconds`) is reported failed the same way on the next poll.

Files are named by the runner (`add_output` / `add_error` take the file name inside the job's
directory); `manifest` turns them into the download URLs of the file route
(`{alliance base}/$bulk-file/{job}/{file}`, api/bulk_files.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from yilian.bulk.uploads import UploadStore
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.store.base import Repository

__all__ = [
    "FILE_ROUTE",
    "BulkJob",
    "JobContext",
    "JobKind",
    "JobManager",
    "JobRunner",
    "JobStatus",
    "manifest",
]

log = logging.getLogger(__name__)

JobKind = Literal["export", "import"]
JobStatus = Literal["accepted", "in-progress", "completed", "failed", "cancelled"]

RUNNING: tuple[JobStatus, ...] = ("accepted", "in-progress")
FILE_ROUTE = "$bulk-file"
"""The path segment, after the alliance base `/fhir`, of the file download route."""

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SERVER_STOPPED = "server stopped"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class BulkJob:
    """One job as every worker sees it (the `bulk_job` row's document)."""

    id: str
    kind: JobKind
    status: JobStatus
    owner: str  # Principal.subject of who kicked it off
    institution: str | None  # the base it was kicked off through
    request: str  # the kick-off URL as the client sent it (manifest `request`)
    params: dict[str, Any]  # kind-specific parameters (types, since, inputs, ...)
    done: int = 0  # resources written / lines read so far
    total: int | None = None  # when known
    bytes_done: int = 0  # of the input read so far ($import; its total is known from the start)
    bytes_total: int | None = None
    output: tuple[dict[str, Any], ...] = ()  # manifest entries {"type", "url", "count"}; url = file name
    errors: tuple[dict[str, Any], ...] = ()  # manifest `error` entries (OperationOutcome NDJSON files)
    message: str = ""  # why it failed or was cancelled
    created: str = ""  # FHIR instants
    updated: str = ""

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["output"] = list(self.output)
        document["errors"] = list(self.errors)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> BulkJob:
        return cls(
            id=str(document["id"]),
            kind=cast(JobKind, document["kind"]),
            status=cast(JobStatus, document["status"]),
            owner=str(document["owner"]),
            institution=document.get("institution"),
            request=str(document.get("request", "")),
            params=dict(document.get("params") or {}),
            done=int(document.get("done", 0)),
            total=document.get("total"),
            bytes_done=int(document.get("bytes_done", 0)),
            bytes_total=document.get("bytes_total"),
            output=tuple(document.get("output") or ()),
            errors=tuple(document.get("errors") or ()),
            message=str(document.get("message", "")),
            created=str(document.get("created", "")),
            updated=str(document.get("updated", "")),
        )

    def progress_text(self) -> str:
        """The `X-Progress` header of a poll while the job runs."""
        if self.status == "accepted":
            return "accepted"
        if self.total:
            text = f"{self.done} of {self.total} ({100 * self.done // max(self.total, 1)}%)"
        else:
            text = f"{self.done} done"
        if self.bytes_total is not None:  # an import: how far into its input, for a progress bar
            text += f"; {self.bytes_done} of {self.bytes_total} bytes"
        return text


def manifest(job: BulkJob, alliance_base: str) -> dict[str, Any]:
    """The completion manifest (https://hl7.org/fhir/uv/bulkdata/export.html#response---complete-status)."""

    def url(name: str) -> str:
        return f"{alliance_base.rstrip('/')}/{FILE_ROUTE}/{job.id}/{name}"

    return {
        "transactionTime": job.params.get("transactionTime", job.created),
        "request": job.request,
        "requiresAccessToken": True,
        "output": [{**o, "url": url(str(o["url"]))} for o in job.output],
        "error": [{**e, "url": url(str(e["url"]))} for e in job.errors],
    }


class JobCancelledError(Exception):
    """Raised inside a runner's `progress` call once the job has been cancelled."""


class JobContext:
    """What a running job sees: where its files go, whether it was cancelled, and how to report."""

    def __init__(self, manager: JobManager, job: BulkJob, directory: Path) -> None:
        self.job_id = job.id
        self.directory = directory
        self._manager = manager
        self._job = job
        self._cancelled = False
        self._last_save = 0.0

    @property
    def job(self) -> BulkJob:
        return self._job

    def cancelled(self) -> bool:
        """Cheap; checked between batches (a remote cancel is noticed at `progress`)."""
        return self._cancelled

    def _cancel(self) -> None:
        self._cancelled = True

    async def progress(
        self,
        done: int,
        total: int | None = None,
        *,
        bytes_done: int | None = None,
        bytes_total: int | None = None,
    ) -> None:
        """Report how far the job is; written to the database at most every
        `manager.save_interval` seconds, which is also when a cancel by another worker is seen."""
        job = self._job
        self._job = replace(
            job,
            done=done,
            total=total if total is not None else job.total,
            bytes_done=bytes_done if bytes_done is not None else job.bytes_done,
            bytes_total=bytes_total if bytes_total is not None else job.bytes_total,
        )
        if time.monotonic() - self._last_save < self._manager.save_interval:
            return
        await self._save()

    async def _save(self) -> None:
        self._last_save = time.monotonic()
        self._job = replace(self._job, updated=_now())
        written = await self._manager.repository.save_job(self._job.to_json(), only_if=RUNNING)
        if not written:
            self._cancelled = True

    def add_output(
        self, type_: str, filename: str, count: int, extension: dict[str, Any] | None = None
    ) -> None:
        """One manifest `output` entry; `extension` is the field the Bulk Data manifest keeps
        for what a server adds (https://hl7.org/fhir/uv/bulkdata/export.html#response---complete-status)."""
        entry: dict[str, Any] = {"type": type_, "url": filename, "count": count}
        if extension:
            entry["extension"] = extension
        self._job = replace(self._job, output=(*self._job.output, entry))

    def add_error(self, filename: str, count: int) -> None:
        self._job = replace(
            self._job,
            errors=(*self._job.errors, {"type": "OperationOutcome", "url": filename, "count": count}),
        )

    def set_params(self, **params: Any) -> None:
        """Record facts the runner learns (e.g. `transactionTime`) in the job's params."""
        self._job = replace(self._job, params={**self._job.params, **params})


JobRunner = Callable[[JobContext], Awaitable[None]]


class JobManager:
    """Starts, tracks, cancels and cleans up the jobs of one process.

    `repository` keeps the job rows; `directory` (the `bulk_dir` setting) holds one folder per
    job, and `uploads/` the staged `$import` inputs (bulk/uploads.py).  Created and closed by
    the composition root (api/app.py lifespan, the CLI)."""

    def __init__(
        self,
        repository: Repository,
        directory: Path,
        *,
        save_interval: float = 0.5,
        stale_seconds: float = 600.0,
    ) -> None:
        self.repository = repository
        self.directory = Path(directory)
        self.save_interval = save_interval
        self.stale_seconds = stale_seconds
        self.uploads = UploadStore(self.directory / "uploads")
        self._tasks: dict[str, asyncio.Task[BulkJob]] = {}
        self._contexts: dict[str, JobContext] = {}

    # -- starting -------------------------------------------------------------------------
    async def _create(
        self, kind: JobKind, owner: str, institution: str | None, request: str, params: dict[str, Any]
    ) -> tuple[BulkJob, JobContext]:
        now = _now()
        job = BulkJob(
            id=uuid.uuid4().hex,
            kind=kind,
            status="accepted",
            owner=owner,
            institution=institution,
            request=request,
            params=dict(params),
            created=now,
            updated=now,
        )
        await self.repository.save_job(job.to_json())
        context = JobContext(self, job, self.directory / job.id)
        self._contexts[job.id] = context
        return job, context

    async def submit(
        self,
        kind: JobKind,
        owner: str,
        institution: str | None,
        request: str,
        params: dict[str, Any],
        runner: JobRunner,
    ) -> BulkJob:
        """Record the job and start it as a task of this process; returns it `accepted`."""
        job, context = await self._create(kind, owner, institution, request, params)
        self._tasks[job.id] = asyncio.create_task(self._run(context, runner), name=f"bulk-{kind}-{job.id}")
        return job

    async def run_inline(
        self,
        kind: JobKind,
        owner: str,
        institution: str | None,
        request: str,
        params: dict[str, Any],
        runner: JobRunner,
    ) -> BulkJob:
        """Run a job to completion in this task (the CLI); returns its final state."""
        _, context = await self._create(kind, owner, institution, request, params)
        return await self._run(context, runner)

    async def _run(self, context: JobContext, runner: JobRunner) -> BulkJob:
        job_id = context.job_id
        try:
            context.directory.mkdir(parents=True, exist_ok=True)
            context._job = replace(context.job, status="in-progress")
            await context._save()
            if context.cancelled():
                return await self._finish_cancelled(context)
            try:
                await runner(context)
            except JobCancelledError:
                return await self._finish_cancelled(context)
            except asyncio.CancelledError:
                await self._finish(context, "failed", SERVER_STOPPED)
                raise
            except OutcomeError as exc:
                return await self._finish(context, "failed", str(exc))
            except Exception as exc:
                log.exception("bulk %s job %s failed", context.job.kind, job_id)
                return await self._finish(context, "failed", f"{type(exc).__name__}: {exc}")
            if context.cancelled():
                return await self._finish_cancelled(context)
            return await self._finish(context, "completed", "")
        finally:
            self._tasks.pop(job_id, None)
            self._contexts.pop(job_id, None)

    async def _finish(self, context: JobContext, status: JobStatus, message: str) -> BulkJob:
        job = replace(context.job, status=status, message=message, updated=_now())
        if status != "completed":
            job = replace(job, output=(), errors=())
            self._remove_files(job.id)
        written = await self.repository.save_job(job.to_json(), only_if=RUNNING)
        if not written:  # cancelled meanwhile (by another worker): the cancel stands
            self._remove_files(job.id)
            stored = await self.get(job.id)
            return stored or job
        return job

    async def _finish_cancelled(self, context: JobContext) -> BulkJob:
        self._remove_files(context.job_id)
        stored = await self.get(context.job_id)
        if stored is not None and stored.status == "cancelled":
            return stored
        job = replace(
            context.job, status="cancelled", output=(), errors=(), message="cancelled", updated=_now()
        )
        await self.repository.save_job(job.to_json(), only_if=RUNNING)
        return job

    # -- asking -----------------------------------------------------------------------------
    async def get(self, job_id: str) -> BulkJob | None:
        """The job as stored; a running job nobody has reported on for `stale_seconds` (its
        process died) is failed here, once."""
        if not _JOB_ID.fullmatch(job_id):
            return None
        document = await self.repository.load_job(job_id)
        if document is None:
            return None
        job = BulkJob.from_json(document)
        if job.running and job_id not in self._tasks and self._stale(job):
            failed = replace(
                job, status="failed", message=SERVER_STOPPED, output=(), errors=(), updated=_now()
            )
            if await self.repository.save_job(failed.to_json(), only_if=RUNNING):
                self._remove_files(job_id)
                return failed
            return await self.get(job_id)
        return job

    def _stale(self, job: BulkJob) -> bool:
        try:
            updated = datetime.fromisoformat(job.updated)
        except ValueError:
            return True
        return (datetime.now(UTC) - updated).total_seconds() > self.stale_seconds

    async def cancel(self, job_id: str) -> BulkJob | None:
        """Cancel a job: recorded as `cancelled` at once, its files deleted; a task of this
        process is stopped at its next batch (one of another process at its next progress
        report).  A finished job is cancelled too, which deletes its files (the DELETE of
        https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-delete-request)."""
        job = await self.get(job_id)
        if job is None:
            return None
        if job.status == "cancelled":
            return job
        cancelled = replace(job, status="cancelled", message="cancelled by the client", updated=_now())
        await self.repository.save_job(cancelled.to_json(), only_if=(*RUNNING, "completed", "failed"))
        context = self._contexts.get(job_id)
        if context is not None:
            context._cancel()
        task = self._tasks.get(job_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=30)
        self._remove_files(job_id)
        return await self.get(job_id)

    # -- files ------------------------------------------------------------------------------
    def job_directory(self, job_id: str) -> Path:
        if not _JOB_ID.fullmatch(job_id):
            raise OutcomeError.not_found(f"no bulk data job {job_id!r}")
        return self.directory / job_id

    def file_path(self, job_id: str, filename: str) -> Path:
        """The path of one of a job's files; refuses `../`, odd names and missing files."""
        if not _FILE_NAME.fullmatch(filename) or ".." in filename:
            raise OutcomeError(Outcome.NOT_FOUND, IssueType.NOT_FOUND, f"no bulk data file {filename!r}")
        path = self.job_directory(job_id) / filename
        if not path.is_file():
            raise OutcomeError(Outcome.NOT_FOUND, IssueType.NOT_FOUND, f"no bulk data file {filename!r}")
        return path

    def _remove_files(self, job_id: str) -> None:
        with contextlib.suppress(OutcomeError):
            shutil.rmtree(self.job_directory(job_id), ignore_errors=True)

    # -- shutting down ----------------------------------------------------------------------
    async def close(self) -> None:
        """Stop every running task; their jobs become failed ("server stopped")."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
