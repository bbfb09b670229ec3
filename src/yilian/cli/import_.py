"""`yilian import PATH...`: NDJSON files, Bundle JSON files and folders of them into the store.

`--db URL` (the default, from configuration) loads in this process through `yilian.ingest`
(`Loader`: validated, PUT-style, batches of 1,000 per transaction), as the alliance's system
client, into `--institution`'s partition when given (else `default`).  `--server URL --token T`
sends each file to the running server in chunks (`$import-upload`, bulk/uploads.py; each
chunk within the server's body limit, so a file of any size goes through and the server
needs no access to this machine's disk), kicks off `$import` naming the uploads, polls it and
reads the manifest; `--server-reads-files` names the files by `file://` URL instead (a server
on this machine with the folder in its `import_allowed_dirs`).  Either way a progress bar
shows input bytes, resources read, resources/s and an ETA, and a summary closes the run: a
table per type and one line, both from the same `LoadReport` (the job's own counts for
`--server`).  `--errors FILE` keeps every refused line as OperationOutcome NDJSON.  Exit
status 1 when the load failed (database down, server refused) or when lines were refused
(unless `--accept-refused`).
"""

from __future__ import annotations

import re
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
from yilian.ingest.report import ProblemFile, TypeCounts
from yilian.store.base import DEFAULT_PARTITION, Scope, StoreUnavailableError
from yilian.store.codec import KeyConfigurationError
from yilian.store.factory import open_repository

__all__ = ["import_command"]

console = Console()
errors = Console(stderr=True)
SHOW_PROBLEMS = 5
CHUNK_BYTES = 8 * 1024 * 1024  # under the default body limit (20 MiB); halved on a 413
MIN_CHUNK_BYTES = 64 * 1024
_BYTES = re.compile(r"(\d+) of (\d+) bytes")


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[phase]}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[records]} resources, {task.fields[rate]} resources/s"),
        TimeRemainingColumn(),
        console=console,
    )


def _summary(report: LoadReport, seconds: float, problems: list[str]) -> None:
    """The table and the line, both read from `report`: the table's total row is the line."""
    table = Table("type", "created", "updated", "unchanged", "refused")
    rows = [(rtype, report.types[rtype]) for rtype in sorted(report.types)]
    if report.untyped_refused:
        rows.append(("(unreadable lines)", TypeCounts(refused=report.untyped_refused)))
    for rtype, c in rows:
        table.add_row(rtype, str(c.created), str(c.updated), str(c.unchanged), str(c.refused))
    table.add_section()
    table.add_row(
        "total", str(report.created), str(report.updated), str(report.unchanged), str(report.problems)
    )
    console.print(table)
    rate = report.records / seconds if seconds > 0 else 0.0
    console.print(f"{report.summary()}; {seconds:.1f} s, {rate:,.0f} resources/s", soft_wrap=True)
    for problem in problems[:SHOW_PROBLEMS]:
        errors.print(f"[yellow]{escape(problem)}[/yellow]", soft_wrap=True)
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
            total = sum(f.stat().st_size for f in files)
            task = bar.add_task("import", total=total, records=0, rate="0", phase="import")
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


def _upload(client: httpx.Client, base: str, path: Path, sent: Any) -> str:
    """Send `path` to the server in chunks; the URL that names it as a `$import` input."""
    octets = {"Content-Type": "application/octet-stream"}
    r = client.post(f"{base}/$import-upload", params={"name": str(path)}, content=b"", headers=octets)
    if r.status_code != 201:
        raise OutcomeError.invalid(f"upload of {path} refused ({r.status_code}): {_diagnostics(r)}")
    url = r.headers["location"]
    offset, size = 0, CHUNK_BYTES
    with path.open("rb") as source:
        while chunk := source.read(size):
            r = client.post(f"{url}&offset={offset}", content=chunk, headers=octets)
            if r.status_code == 413 and size > MIN_CHUNK_BYTES:  # a server with a lower body limit
                size //= 2
                source.seek(offset)
                continue
            if r.status_code != 200:
                raise OutcomeError.invalid(f"upload of {path} failed ({r.status_code}): {_diagnostics(r)}")
            offset += len(chunk)
            sent(len(chunk))
    return url


def _remote(
    server: str,
    token: str,
    institution: str | None,
    files: list[Path],
    errors_file: Path | None,
    by_path: bool,
) -> tuple[LoadReport, list[str]]:
    """$import on a running server; the manifest's counts become the report, its error files
    the --errors file, and their first few lines the problems shown."""
    base = server.rstrip("/") + (f"/{institution}" if institution else "")
    total = sum(f.stat().st_size for f in files)
    report = LoadReport(bytes_total=total)
    problems: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=120, headers=headers) as client, _bar() as bar:
        task = bar.add_task("import", total=total, records=0, rate="0", phase="upload")
        if by_path:
            urls = [f.resolve().as_uri() for f in files]
        else:
            urls = [_upload(client, base, f, lambda n: bar.advance(task, n)) for f in files]
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
                *({"name": "input", "part": [{"name": "url", "valueUrl": url}]} for url in urls),
            ],
        }
        r = client.post(
            f"{base}/$import",
            content=orjson.dumps(body),
            headers={"Prefer": "respond-async", "Content-Type": "application/fhir+json"},
        )
        if r.status_code != 202:
            raise OutcomeError.invalid(f"kick-off refused ({r.status_code}): {_diagnostics(r)}")
        status = r.headers["content-location"]
        bar.update(task, completed=0, phase="import")
        started = time.monotonic()
        while True:
            r = client.get(status)
            if r.status_code != 202:
                break
            done, read = _progress(r.headers.get("x-progress", ""))
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=read, records=done, rate=f"{rate:,.0f}")
            time.sleep(0.2)
        if r.status_code != 200:
            raise OutcomeError.invalid(f"import failed ({r.status_code}): {_diagnostics(r)}")
        manifest = r.json()
        for item in manifest.get("output", []):
            _add_counts(report.counts(str(item["type"])), item)
        out = errors_file.open("wb") if errors_file and manifest.get("error") else None
        try:
            for item in manifest.get("error", []):
                report.problems += int(item.get("count", 0))
                _errors(client, str(item["url"]), out, problems)
        finally:
            if out is not None:
                out.close()
        report.records = report.loaded + report.problems
        report.bytes_done = total
        bar.update(task, completed=total, records=report.records)
        client.delete(status)
    return report, problems


def _add_counts(counts: TypeCounts, item: dict[str, Any]) -> None:
    """The job's own created / updated / unchanged / refused of one type (the manifest
    entry's extension); a server without them says only how many it holds (`count`)."""
    extension = item.get("extension") or {}
    if not extension:
        errors.print(f"[yellow]the server does not say which {item['type']} were new: counted as updated")
        counts.updated += int(item.get("count", 0))
        return
    counts.created += int(extension.get("created", 0))
    counts.updated += int(extension.get("updated", 0))
    counts.unchanged += int(extension.get("unchanged", 0))
    counts.refused += int(extension.get("refused", 0))


def _errors(client: httpx.Client, url: str, out: Any, problems: list[str]) -> None:
    """Stream one error file of the manifest into `out`, keeping its first lines' diagnostics."""
    with client.stream("GET", url) as download:
        download.raise_for_status()
        for line in download.iter_lines():
            if not line.strip():
                continue
            if out is not None:
                out.write(line.encode() + b"\n")
            if len(problems) < SHOW_PROBLEMS:
                for issue in orjson.loads(line).get("issue", []):
                    problems.append(str(issue.get("diagnostics", "")))


def _progress(text: str) -> tuple[int, int]:
    """(resources read, input bytes read) from the import's `X-Progress`
    ("1200 done; 52000 of 90000 bytes")."""
    words = text.split()
    done = int(words[0]) if words and words[0].isdigit() else 0
    found = _BYTES.search(text)
    return done, int(found.group(1)) if found else 0


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
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="FHIR base of a running server; the files are sent to it in chunks ($import-upload), "
            "so it need not see this machine's disk",
        ),
    ] = None,
    token: Annotated[str | None, typer.Option("--token", help="Bearer token for --server")] = None,
    server_reads_files: Annotated[
        bool,
        typer.Option(
            "--server-reads-files",
            help="With --server: name the files by file:// URL instead of sending them "
            "(the server must see them, in its import_allowed_dirs)",
        ),
    ] = False,
    errors_file: Annotated[
        Path | None, typer.Option("--errors", help="Write every refused line as OperationOutcome NDJSON")
    ] = None,
    accept_refused: Annotated[
        bool, typer.Option("--accept-refused", help="Exit 0 even when lines were refused")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file", dir_okay=False)
    ] = None,
) -> None:
    """Import resources (Bulk Data $import style: ids kept, re-runs create no duplicates).

    Exits 1 when lines were refused (listed in --errors) unless --accept-refused is given."""
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
            report, problems = _remote(server, token, institution, files, errors_file, server_reads_files)
        else:
            settings, codec = settings_with_codec(config, db)
            report = anyio.run(_inline, settings.database_url, files, institution, codec, errors_file)
            problems = [f"{p.where}: {p.message}" for p in report.first_problems]
    except (OutcomeError, LoadFailed, StoreUnavailableError, KeyConfigurationError) as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        errors.print("[red]cannot reach the server:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None
    _summary(report, time.monotonic() - started, problems)
    if report.problems and not accept_refused:
        where = f" (every one in {errors_file})" if errors_file else " (--errors FILE lists every one)"
        errors.print(f"[red]{report.problems} lines refused{where}; --accept-refused exits 0[/red]")
        raise typer.Exit(1)
