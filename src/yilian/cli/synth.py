"""`yilian synth`: write a synthetic Chinese alliance to a folder (see docs/synth.md).

The generator is `yilian.synth.output.write`; this command checks the arguments, shows a
progress bar over the persons and prints what was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from yilian.synth.alliance import MAX_PATIENTS
from yilian.synth.directory import MAX_INSTITUTIONS
from yilian.synth.output import FORMATS, write

__all__ = ["synth_command"]

console = Console()
errors = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


def synth_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (created if missing)", file_okay=False)],
    patients: Annotated[int, typer.Option("--patients", help=f"Persons, 1..{MAX_PATIENTS:,}")] = 1000,
    institutions: Annotated[
        int, typer.Option("--institutions", help=f"Alliance members, 1..{MAX_INSTITUTIONS}")
    ] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files")] = 2026,
    formats: Annotated[
        str, typer.Option("--formats", help=f"Comma-separated: {', '.join(FORMATS)}")
    ] = ",".join(FORMATS),
) -> None:
    """Generate a synthetic alliance: FHIR NDJSON and Bundles, HL7 v2, front sheets, truth files."""
    if not 1 <= patients <= MAX_PATIENTS:
        raise _fail(f"--patients must be 1..{MAX_PATIENTS:,}, got {patients}")
    if not 1 <= institutions <= MAX_INSTITUTIONS:
        raise _fail(f"--institutions must be 1..{MAX_INSTITUTIONS}, got {institutions}")
    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise _fail(f"unknown format {', '.join(unknown) or '(none given)'}; known: {', '.join(FORMATS)}")
    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out} exists and is not a folder")
    with Progress(
        TextColumn("[bold]persons"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task("synth", total=patients)
        try:
            summary = write(
                out, patients, institutions, seed, wanted, lambda n: bar.update(task, completed=n)
            )
        except OSError as exc:
            raise _fail(f"cannot write {out}: {exc}") from None
    table = Table(
        "resource type", "count", title=f"yilian synth: {summary.persons:,} persons -> {escape(str(out))}"
    )
    for rtype, count in summary.resources.items():
        if count:
            table.add_row(rtype, f"{count:,}")
    table.add_section()
    table.add_row("total", f"{summary.total_resources:,}")
    if "fhir" in wanted:
        console.print(table)
    rate = summary.total_resources / summary.seconds if summary.seconds > 0 else 0.0
    parts = [f"{summary.persons:,} persons"]
    if "fhir" in wanted:
        parts.append(f"{summary.total_resources:,} resources in {summary.bundles:,} bundles")
    if "hl7" in wanted:
        parts.append(f"{summary.messages:,} HL7 messages")
    if "frontsheet" in wanted:
        parts.append(f"{summary.frontsheet_rows:,} front-sheet rows")
    console.print(f"{'; '.join(parts)}; {summary.seconds:.1f} s, {rate:,.0f} resources/s", soft_wrap=True)
    console.print(
        f"truth files: {escape(str(out / 'truth'))}; manifest: {escape(str(out / 'manifest.json'))}"
    )
