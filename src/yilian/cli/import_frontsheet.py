"""`yilian import frontsheet FILE --institution CODE`: a front-sheet export into the store.

Runs inside the server's own composition (`cli.serve.within_app`: the store with its codec,
so resident IDs are protected as the server protects them, the router, the access policy and
the audit trail, which records every row written as the importing user's), and hands the router
to `feeds.frontsheet`, which does the work; this module shows a progress bar and the summary.
Exit status 0 when every row loaded (or was already there), 1 when some rows failed (listed
in the error report), 2 when the file could not be imported at all (unreadable,
required columns missing, institution not registered).
"""

from __future__ import annotations

import asyncio
import getpass
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from yilian.auth.principal import Principal, SmartScope
from yilian.cli.options import resolve_settings
from yilian.cli.serve import prepared_settings, within_app
from yilian.feeds.frontsheet import FileRefused, FrontSheetReport, import_frontsheet, report_path_for

__all__ = ["frontsheet_command"]

console = Console()
errors = Console(stderr=True)
SHOW_PROBLEMS = 5


def frontsheet_command(
    file: Annotated[
        Path, typer.Argument(help="Front-sheet export: CSV (UTF-8 or GBK, comma or tab) or XLSX")
    ],
    institution: Annotated[
        str, typer.Option("--institution", help="The registered institution it comes from")
    ],
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Error report CSV (default: NAME.errors.csv beside the file)", dir_okay=False
        ),
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: from configuration)")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file", dir_okay=False)
    ] = None,
) -> None:
    """Import an inpatient front sheet (病案首页) or settlement list: one row per discharge,
    columns in docs/frontsheet.md.  Re-importing a file changes nothing.

    Exits 1 when some rows failed (every problem is in the report), 2 when the file could not
    be imported at all."""
    settings = prepared_settings(resolve_settings(config, db_url=db))
    started = time.monotonic()
    report_path = report or report_path_for(file)

    async def work(app: Any) -> FrontSheetReport | FileRefused:
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]front sheet[/bold] {task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("import", total=None, counts="")

            async def progress(done: FrontSheetReport) -> None:
                bar.update(task, counts=done.summary())

            try:
                return await import_frontsheet(
                    app.state.router,
                    file,
                    institution,
                    report_path=report_path,
                    principal=_importer(institution),
                    progress=progress,
                )
            except FileRefused as refused:
                return refused

    outcome = asyncio.run(within_app(settings, work))
    if isinstance(outcome, FileRefused):
        errors.print("[red]file refused:[/red]", escape(str(outcome)), soft_wrap=True)
        errors.print(f"nothing loaded; report: {escape(str(report_path))}", soft_wrap=True)
        raise typer.Exit(2)
    seconds = time.monotonic() - started
    console.print(f"{outcome.summary()}; {seconds:.1f} s", soft_wrap=True)
    for p in outcome.problems[:SHOW_PROBLEMS]:
        where = f"row {p.row}" + (f", {p.column}" if p.column else "")
        errors.print(f"[yellow]{escape(where)}: {escape(p.problem)}[/yellow]", soft_wrap=True)
    if len(outcome.problems) > SHOW_PROBLEMS:
        errors.print(f"... and {len(outcome.problems) - SHOW_PROBLEMS} more")
    console.print(f"error report: {escape(str(outcome.report_path))}", soft_wrap=True)
    if outcome.failed:
        raise typer.Exit(1)


def _importer(institution: str) -> Principal:
    """Who the rows are written as in the audit trail: the operator at the machine, acting as
    a system client of that one institution."""
    return Principal(
        subject=f"frontsheet-import:{getpass.getuser()}",
        role="system",
        institution=institution,
        scopes=(SmartScope("system", "*", frozenset(("c", "r", "u", "s"))),),
    )
