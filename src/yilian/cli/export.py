"""`yilian export OUTDIR`: a Bulk Data export into a folder of NDJSON files, with a progress bar.

`--db URL` (the default, from configuration) runs the export in this process against the
database (`JobManager.run_inline` with the same export job the server runs, as the alliance's
system client, narrowed to `--institution` when given) and moves the files into OUTDIR.
`--server URL --token TOKEN` kicks off `$export` on a running server
(https://hl7.org/fhir/uv/bulkdata/export.html), polls its status, and downloads the files of
the manifest.  Either way the bar shows resources written, resources/s and an ETA (the total is
counted before the export starts), and a table of files and counts closes the run.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from yilian.bulk.export import ExportRequest, export_runner, parse_export
from yilian.bulk.jobs import BulkJob, JobManager
from yilian.cli.keys import settings_with_codec
from yilian.fhir.outcome import OutcomeError
from yilian.store.base import Scope, StoreUnavailableError
from yilian.store.codec import KeyConfigurationError
from yilian.store.factory import open_repository

__all__ = ["export_command"]

console = Console()
errors = Console(stderr=True)


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]export"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} resources/s"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _query(types: list[str], since: str | None) -> list[tuple[str, str]]:
    query = [("_type", ",".join(types))] if types else []
    if since:
        query.append(("_since", since))
    return query


def _summary(outputs: list[tuple[str, str, int]], seconds: float) -> None:
    table = Table("type", "file", "resources")
    for rtype, name, count in outputs:
        table.add_row(rtype, name, str(count))
    console.print(table)
    total = sum(c for _, _, c in outputs)
    rate = total / seconds if seconds > 0 else 0.0
    console.print(f"{total} resources in {len(outputs)} files, {seconds:.1f} s, {rate:,.0f} resources/s")


async def _inline(
    url: str, outdir: Path, request: ExportRequest, institution: str | None, codec: Any
) -> BulkJob:
    repository = open_repository(url, codec=codec)
    await repository.open()
    work = Path(tempfile.mkdtemp(prefix="yilian-export-", dir=outdir))
    try:
        jobs = JobManager(repository, work)
        scope = Scope.partition(institution) if institution else Scope.everything()
        with _bar() as bar:
            task = bar.add_task("export", total=None, rate="0")
            started = time.monotonic()

            def observe(done: int, total: int | None) -> None:
                elapsed = max(time.monotonic() - started, 1e-6)
                bar.update(task, completed=done, total=total, rate=f"{done / elapsed:,.0f}")

            runner = export_runner(repository, scope, request, observer=observe)
            job = await jobs.run_inline(
                "export", "yilian-cli", institution, f"yilian export {outdir}", request.params(), runner
            )
        if job.status == "completed":
            for item in job.output:
                shutil.move(str(work / job.id / str(item["url"])), outdir / str(item["url"]))
        return job
    finally:
        shutil.rmtree(work, ignore_errors=True)
        await repository.close()


def _remote(
    server: str, token: str, outdir: Path, query: list[tuple[str, str]]
) -> list[tuple[str, str, int]]:
    headers = {"Authorization": f"Bearer {token}"}
    base = server.rstrip("/")
    with httpx.Client(timeout=120, headers=headers) as client, _bar() as bar:
        r = client.get(f"{base}/$export", params=tuple(query), headers={"Prefer": "respond-async"})
        if r.status_code != 202:
            raise OutcomeError.invalid(f"kick-off refused ({r.status_code}): {_diagnostics(r)}")
        status = r.headers["content-location"]
        task = bar.add_task("export", total=None, rate="0")
        started = time.monotonic()
        while True:
            r = client.get(status)
            if r.status_code != 202:
                break
            done, total = _progress(r.headers.get("x-progress", ""))
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f}")
            time.sleep(0.5)
        if r.status_code != 200:
            raise OutcomeError.invalid(f"export failed ({r.status_code}): {_diagnostics(r)}")
        manifest = r.json()
        outputs = []
        for item in manifest["output"]:
            name = str(item["url"]).rsplit("/", 1)[-1]
            with client.stream("GET", item["url"]) as download, (outdir / name).open("wb") as out:
                download.raise_for_status()
                for chunk in download.iter_bytes():
                    out.write(chunk)
            outputs.append((str(item["type"]), name, int(item["count"])))
        total_count = sum(c for _, _, c in outputs)
        bar.update(task, completed=total_count, total=total_count)
        client.delete(status)  # the server may drop its copy now
    return outputs


def _progress(text: str) -> tuple[int, int | None]:
    """(done, total) from the server's `X-Progress` ("12 of 40 (30%)" or "12 done")."""
    words = text.split()
    try:
        done = int(words[0])
    except (IndexError, ValueError):
        return 0, None
    total = int(words[2]) if len(words) > 2 and words[1] == "of" and words[2].isdigit() else None
    return done, total


def _diagnostics(r: httpx.Response) -> str:
    try:
        return "; ".join(i.get("diagnostics", "") for i in r.json().get("issue", []))
    except ValueError:
        return r.text[:200]


def export_command(
    outdir: Annotated[
        Path, typer.Argument(help="Folder the NDJSON files are written to (created if absent)")
    ],
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Resource type to export (repeatable)")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only resources updated at or after this instant")
    ] = None,
    institution: Annotated[
        str | None, typer.Option("--institution", help="Only this institution's records (--db)")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: from configuration)")] = None,
    server: Annotated[str | None, typer.Option("--server", help="FHIR base of a running server")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Bearer token for --server")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file", dir_okay=False)
    ] = None,
) -> None:
    """Export resources as NDJSON files (Bulk Data $export), one or more per type."""
    outdir.mkdir(parents=True, exist_ok=True)
    query = _query(list(types or []), since)
    started = time.monotonic()
    try:
        request = parse_export(query, "system")
        if server:
            if db or institution:
                errors.print("[red]--server exports through the server: drop --db and --institution[/red]")
                raise typer.Exit(2)
            if not token:
                errors.print("[red]--server needs --token (a bearer token the server trusts)[/red]")
                raise typer.Exit(2)
            outputs = _remote(server, token, outdir, query)
        else:
            settings, codec = settings_with_codec(config, db)
            job = anyio.run(_inline, settings.database_url, outdir, request, institution, codec)
            if job.status != "completed":
                errors.print(f"[red]export {job.status}:[/red]", escape(job.message))
                raise typer.Exit(1)
            outputs = [(str(o["type"]), str(o["url"]), int(o["count"])) for o in job.output]
    except OutcomeError as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        errors.print("[red]cannot reach the server:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None
    except (StoreUnavailableError, KeyConfigurationError) as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None
    _summary(outputs, time.monotonic() - started)
