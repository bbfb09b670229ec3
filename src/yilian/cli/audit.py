"""`yilian audit verify [--db URL]`: check the audit log's hash chain and signed checkpoints.

Exit status 0 with a summary when the chain is intact; 1 naming the first entry (seq) that
was altered, removed or reordered and what is wrong with it; 2 for bad settings or URL; 3
when nothing was found altered but the checkpoints were signed with another key than the one
given (each checkpoint names its key by an id that reveals nothing of it), so the operator
retries with the right key instead of raising a tampering alarm.  The
checkpoint key is the one `yilian serve` signs with: `--key`, else the `audit_signing_key`
setting (`YILIAN_AUDIT_SIGNING_KEY` or the TOML file), else the key file
`audit_signing_key_file` (default `data_dir`/audit-key, which serve creates; never created
here); without one the hashes are still checked but the signatures cannot be.  The work is
`yilian.privacy.audit.verify_chain`; this module only wires it to the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from yilian.cli.audit_key import resolve_audit_key
from yilian.cli.database import with_repository
from yilian.config import SettingsError, load_settings
from yilian.privacy.audit import VerifyReport, verify_chain

__all__ = ["TAMPERED", "WRONG_KEY", "audit_app"]

TAMPERED = 1
WRONG_KEY = 3

audit_app = typer.Typer(help="Check the tamper-evident audit log.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@audit_app.command("verify")
def verify(
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL: sqlite:///path.db or postgresql://user@host/db")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", help="Checkpoint key (default: audit_signing_key, else audit_signing_key_file)"
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML settings file (default: $YILIAN_CONFIG)", dir_okay=False),
    ] = None,
) -> None:
    """Recompute every hash of the audit log in order and check every checkpoint signature."""
    try:
        settings = load_settings(config_file=config, overrides={"db_url": db, "audit_signing_key": key})
        resolved = resolve_audit_key(settings.replace(audit="on"), create=False)
    except SettingsError as exc:
        errors.print("[red]invalid settings:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None
    signing_key = resolved.settings.audit_signing_key.encode() or None
    if signing_key is None:
        errors.print(f"[yellow]{escape(resolved.message)}[/yellow]")
    url = settings.database_url
    report: VerifyReport = with_repository(url, lambda repo: verify_chain(repo, signing_key))
    # One line per verdict, never wrapped, so logs and scripts can grep for it.
    if report.ok:
        console.print(escape(report.summary()), soft_wrap=True)
        return
    errors.print(f"[red]{escape(report.summary())}[/red]", soft_wrap=True)
    raise typer.Exit(WRONG_KEY if report.wrong_key else TAMPERED)
