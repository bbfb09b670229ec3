"""`yilian token`: print a bearer token signed by the development issuer.

The token is accepted by a server that trusts the development issuer (`auth_dev_issuer`, on
for `yilian demo`) and shares its key file (`dev_issuer_key_path`, the same `--config` or
working directory).  Only the token goes to stdout, so `TOKEN=$(yilian token ...)` works.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from yilian.auth.dev_issuer import DevelopmentIssuer
from yilian.auth.principal import ROLES
from yilian.config import SettingsError, load_settings

__all__ = ["parse_ttl", "token_command"]

_TTL = re.compile(r"^(\d{1,7})([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> timedelta:
    """`90`, `90s`, `30m`, `1h`, `7d` as a timedelta (ValueError otherwise)."""
    match = _TTL.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"--ttl must be a positive number with an optional s, m, h or d suffix, not {text!r}"
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def token_command(
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}")],
    scopes: Annotated[
        str,
        typer.Option(
            "--scopes", help='SMART scopes, space-separated, e.g. "user/*.rs patient/Observation.r"'
        ),
    ],
    institution: Annotated[
        str | None, typer.Option("--institution", help="Institution code (omit for alliance-level callers)")
    ] = None,
    patient: Annotated[
        str | None, typer.Option("--patient", help="Patient id (required for role patient)")
    ] = None,
    ttl: Annotated[str, typer.Option("--ttl", help="Lifetime: 90s, 30m, 1h, 7d")] = "1h",
    subject: Annotated[
        str | None, typer.Option("--subject", help="The sub claim (default role@institution)")
    ] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="Default purpose of use claim")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML settings file (default: $YILIAN_CONFIG)", dir_okay=False),
    ] = None,
) -> None:
    """Print a development bearer token (the server must trust the development issuer)."""
    errors = Console(stderr=True)
    try:
        settings = load_settings(config_file=config)
        lifetime = parse_ttl(ttl)
        issuer = DevelopmentIssuer(settings.dev_issuer_key, audience=settings.audience)
        token = issuer.issue(
            institution, role, scopes, patient=patient, ttl=lifetime, subject=subject, purpose=purpose
        )
    except (SettingsError, ValueError) as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None
    typer.echo(token)
