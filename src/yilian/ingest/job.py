"""The `$import` job: fetch the inputs, load them, and leave a manifest of what happened.

Runs under the bulk job framework (yilian.bulk.jobs): remote inputs are downloaded first (an
unreachable URL fails the job before anything is written) and uploads taken into the job's
folder, then every input loads through the `Loader` in batches, reporting progress (resources
and input bytes read) and stopping between batches when the job is cancelled.  On completion
the manifest lists, per resource type, a small OperationOutcome file saying how many were
created, updated and unchanged (`count`: how many the store now holds as the input says; the
same numbers, for programs, in the entry's `extension`: `created`, `updated`, `unchanged`,
`refused`), and `error` names `errors.ndjson`, one OperationOutcome per line that was not
loaded, naming its input and line.  A database failure fails the job with the loader's
message; the batches before it stay committed and a re-run completes the rest without
duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson

from yilian.bulk.jobs import JobContext, JobRunner
from yilian.bulk.uploads import UploadStore
from yilian.fhir.outcome import Issue, IssueSeverity, IssueType, Outcome, OutcomeError, operation_outcome
from yilian.ingest.inputs import ImportInput, fetch, local_path
from yilian.ingest.loader import Loader, LoaderOptions, LoadFailed
from yilian.ingest.report import LoadReport, ProblemFile
from yilian.store.base import Repository, Scope

__all__ = ["ERROR_FILE", "ImportPlan", "import_runner"]

ERROR_FILE = "errors.ndjson"


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What one `$import` job loads, where, and under which access."""

    inputs: tuple[ImportInput, ...]
    partition: str
    scope: Scope
    allowed_dirs: tuple[str, ...] = ()
    options: LoaderOptions = field(default_factory=LoaderOptions)
    uploads: tuple[tuple[str, str], ...] = ()  # (input url, upload id) of the staged inputs
    owner: str = ""  # whose uploads they are


def import_runner(repository: Repository, plan: ImportPlan, uploads: UploadStore | None = None) -> JobRunner:
    """The job body for `JobManager.submit` / `run_inline`."""

    async def run(ctx: JobContext) -> None:
        files = await _resolve(plan, uploads, ctx.directory)
        total = sum(path.stat().st_size for _, path, _ in files)
        problems = ProblemFile(ctx.directory / ERROR_FILE)
        await ctx.progress(0, bytes_done=0, bytes_total=total)

        async def progress(report: LoadReport) -> None:
            await ctx.progress(report.records, bytes_done=report.bytes_done)

        loader = Loader(
            repository,
            plan.partition,
            plan.scope,
            plan.options,
            problems=problems.write,
            progress=progress,
            cancelled=ctx.cancelled,
        )
        loader.report.bytes_total = total
        try:
            for given, path, source in files:
                await loader.load_file(path, source=source, resource_type=given.type)
                if loader.report.cancelled:
                    return
                if given.remote:  # downloaded or uploaded: the job's own copy
                    path.unlink(missing_ok=True)
        except LoadFailed as failed:
            raise OutcomeError(Outcome.SERVER_ERROR, IssueType.EXCEPTION, str(failed)) from None
        finally:
            problems.close()
            await loader.aclose()  # the preparing worker processes stop with the job
        await ctx.progress(loader.report.records, loader.report.records, bytes_done=total)
        _manifest(ctx, loader.report, problems)

    return run


async def _resolve(
    plan: ImportPlan, uploads: UploadStore | None, directory: Path
) -> list[tuple[ImportInput, Path, str]]:
    """Each input's file on this machine and the name its problems are reported under: uploads
    taken (under the client's name for the file), local ones checked, remote ones downloaded."""
    staged = dict(plan.uploads)
    out: list[tuple[ImportInput, Path, str]] = []
    for number, given in enumerate(plan.inputs, start=1):
        if given.url in staged and uploads is not None:
            upload = uploads.take(staged[given.url], plan.owner, directory / f"input-{number}")
            out.append((given, upload.path, upload.name))
        elif given.remote:
            out.append((given, await fetch(given.url, directory, f"input-{number}"), given.url))
        else:
            out.append((given, local_path(given.url, plan.allowed_dirs), given.url))
    return out


def _manifest(ctx: JobContext, report: LoadReport, problems: ProblemFile) -> None:
    for rtype in sorted(report.types):
        counts = report.types[rtype]
        name = f"{rtype}.outcome.ndjson"
        outcome = operation_outcome(
            [
                Issue(
                    IssueType.INFORMATIONAL,
                    f"{rtype}: {counts.created} created, {counts.updated} updated, "
                    f"{counts.unchanged} unchanged, {counts.refused} refused",
                    IssueSeverity.INFORMATION,
                )
            ]
        )
        (ctx.directory / name).write_bytes(orjson.dumps(outcome) + b"\n")
        ctx.add_output(
            rtype,
            name,
            counts.loaded,
            {
                "created": counts.created,
                "updated": counts.updated,
                "unchanged": counts.unchanged,
                "refused": counts.refused,
            },
        )
    if problems.count:
        ctx.add_error(ERROR_FILE, problems.count)
