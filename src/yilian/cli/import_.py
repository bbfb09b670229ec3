"""`yilian import PATH...`: NDJSON files, Bundle JSON files and folders of them into the store.

`--db URL` (the default, from configuration) loads in this process through `yilian.ingest`
(`Loader`: validated, PUT-style, batches of 1,000 per transaction), as the alliance's system
client, into `--institution`'s partition when given (else `default`).  `--server URL --token T`
kicks off `$import` on a running server with `file://` URLs of the files (the server must be
able to read them: same machine, folder listed in its `import_allowed_dirs`), polls it and
reads the manifest.  Either way a progress bar shows resources read, resources/s and an ETA
from the input sizes, and a summary closes the run: loaded (created / updated / unchanged) and
the lines not loaded with the first few reasons.  `--errors FILE` keeps every reason as
OperationOutcome NDJSON.  Exit status 1 when the load failed (database down, server refused);
lines not loaded are reported but do not change the status.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from yilian.cli.keys import settings_with_codec
from yilian.fhir.outcome import OutcomeError
from yilian.ingest import Loader, LoadFailed, LoadReport, expand_paths
from yilian.ingest.report import ProblemFile
from yilian.store.base import DEFAULT_PARTITION, Scope, StoreUnavailableError
from yilian.store.factory import open_repository

__all__ = ["import_command"]

console = Console()
errors = Console(stderr=True)
SHOW_PROBLEMS = 5


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]import"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[records]} resources, {task.fields[rate]} resources/s"),
        TimeRemainingColumn(),
        console=console,
    )


def _summary(report: LoadReport, seconds: float) -> None:
    table = Table("type", "created", "updated", "unchanged", "refused")
    for rtype in sorted(report.types):
        c = report.types[rtype]
        table.add_row(rtype, str(c.created), str(c.updated), str(c.unchanged), str(c.refused))
    console.print(table)
    rate = report.records / seconds if seconds > 0 else 0.0
    console.print(f"{report.summary()}; {seconds:.1f} s, {rate:,.0f} resources/s", soft_wrap=True)
    for problem in report.first_problems[:SHOW_PROBLEMS]:
        errors.print(f"[yellow]{escape(problem.where)}:[/yellow] {escape(problem.message)}", soft_wrap=True)
    if report.problems > SHOW_PROBLEMS:
        errors.print(f"... and {report.problems - SHOW_PROBLEMS} more")


async def _inline(
    url: str, files: list[Path], institution: str | None, codec: Any, errors_file: Path | None
) -> LoadReport:
    repository = open_repository(url, codec=codec)
    await repository.open()
    sink = ProblemFile(errors_file) if errors_file else None
    try:
        if institution is not None and institution not in {
            p.code for p in await repository.list_partitions()
        }:
            raise OutcomeError.not_found(f"institution {institution!r} is not registered")
        partition = institution or DEFAULT_PARTITION
        scope = Scope.partition(institution) if institution else Scope.everything()
        with _bar() as bar:
            task = bar.add_task("import", total=sum(f.stat().st_size for f in files), records=0, rate="0")
            started = time.monotonic()

            async def progress(report: LoadReport) -> None:
                _show(bar, task, report, started)

            async with Loader(
                repository, partition, scope, problems=sink.write if sink else None, progress=progress
            ) as loader:  # stops the preparing worker processes on every way out
                for path in files:
                    await loader.load_file(path)
            _show(bar, task, loader.report, started)
        return loader.report
    finally:
        if sink is not None:
            sink.close()
        await repository.close()


def _show(bar: Progress, task: TaskID, report: LoadReport, started: float) -> None:
    rate = report.records / max(time.monotonic() - started, 1e-6)
    bar.update(task, completed=report.bytes_done, records=report.records, rate=f"{rate:,.0f}")


def _remote(server: str, token: str, institution: str | None, files: list[Path]) -> LoadReport:
    """$import on a running server; the manifest becomes the report (per-type loaded counts;
    the first few problems read from its error file)."""
    base = server.rstrip("/") + (f"/{institution}" if institution else "")
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
            *({"name": "input", "part": [{"name": "url", "valueUrl": f.resolve().as_uri()}]} for f in files),
        ],
    }
    report = LoadReport(bytes_total=sum(f.stat().st_size for f in files))
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=120, headers=headers) as client, _bar() as bar:
        r = client.post(
            f"{base}/$import",
            content=orjson.dumps(body),
            headers={"Prefer": "respond-async", "Content-Type": "application/fhir+json"},
        )
        if r.status_code != 202:
            raise OutcomeError.invalid(f"kick-off refused ({r.status_code}): {_diagnostics(r)}")
        status = r.headers["content-location"]
        task = bar.add_task("import", total=None, records=0, rate="0")
        started = time.monotonic()
        while True:
            r = client.get(status)
            if r.status_code != 202:
                break
            done = _done(r.headers.get("x-progress", ""))
            bar.update(task, records=done, rate=f"{done / max(time.monotonic() - started, 1e-6):,.0f}")
            time.sleep(0.5)
        if r.status_code != 200:
            raise OutcomeError.invalid(f"import failed ({r.status_code}): {_diagnostics(r)}")
        manifest = r.json()
        for item in manifest.get("output", []):
            report.counts(str(item["type"])).unchanged += int(item["count"])  # loaded, as far as we know
        for item in manifest.get("error", []):
            report.problems += int(item.get("count", 0))
            lines = client.get(item["url"]).content.splitlines()[:SHOW_PROBLEMS]
            for line in lines:
                for issue in orjson.loads(line).get("issue", []):
                    errors.print(
                        f"[yellow]{escape(str(issue.get('diagnostics', '')))}[/yellow]", soft_wrap=True
                    )
        report.records = sum(c.loaded for c in report.types.values()) + report.problems
        bar.update(task, records=report.records)
        client.delete(status)
    return report


def _done(text: str) -> int:
    try:
        return int(text.split()[0])
    except (IndexError, ValueError):
        return 0


def _diagnostics(r: httpx.Response) -> str:
    try:
        return "; ".join(i.get("diagnostics", "") for i in r.json().get("issue", []))
    except ValueError:
        return r.text[:200]


def import_command(
    paths: Annotated[list[Path], typer.Argument(help="NDJSON / Bundle JSON files or folders of them")],
    institution: Annotated[
        str | None, typer.Option("--institution", help="Load into this institution (default: the alliance's)")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: from configuration)")] = None,
    server: Annotated[str | None, typer.Option("--server", help="FHIR base of a running server")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Bearer token for --server")] = None,
    errors_file: Annotated[
        Path | None, typer.Option("--errors", help="Write every refused line as OperationOutcome NDJSON")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file", dir_okay=False)
    ] = None,
) -> None:
    """Import resources (Bulk Data $import style: ids kept, re-runs create no duplicates)."""
    try:
        files = expand_paths(paths)
    except FileNotFoundError as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None
    if not files:
        errors.print("[red]no .ndjson or .json files found in the paths given[/red]")
        raise typer.Exit(2)
    started = time.monotonic()
    try:
        if server:
            if db:
                errors.print("[red]--server imports through the server: drop --db[/red]")
                raise typer.Exit(2)
            if not token:
                errors.print("[red]--server needs --token (a bearer token the server trusts)[/red]")
                raise typer.Exit(2)
            report = _remote(server, token, institution, files)
        else:
            settings, codec = settings_with_codec(config, db)
            report = anyio.run(_inline, settings.database_url, files, institution, codec, errors_file)
    except (OutcomeError, LoadFailed, StoreUnavailableError) as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        errors.print("[red]cannot reach the server:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None
    _summary(report, time.monotonic() - started)
