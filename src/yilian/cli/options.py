"""What every `yilian` command takes the same way: `--db`, `--config`, and settings resolved
from them (defaults < TOML file < `YILIAN_*` environment < options), a malformed one being
one red line and exit status 2, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from yilian.config import Settings, SettingsError, load_settings

__all__ = ["ConfigOption", "DbOption", "resolve_settings"]

DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL: sqlite:///path.db or postgresql://user@host/db")
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file (default: $YILIAN_CONFIG)", dir_okay=False)
]


def resolve_settings(config: Path | None, **overrides: Any) -> Settings:
    """The settings with `overrides` (None values: not given) applied last."""
    try:
        return load_settings(config_file=config, overrides=overrides)
    except SettingsError as exc:
        Console(stderr=True).print("[red]invalid settings:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None
