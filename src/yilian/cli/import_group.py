"""`yilian import`: resources (`yilian import PATH...`, as always) or a front sheet
(`yilian import frontsheet FILE ...`).

`import` is a command group whose sub-commands are `fhir` (NDJSON and Bundle files,
cli/import_.py) and `frontsheet` (cli/import_frontsheet.py).  The group routes any first
argument that is not a sub-command's name to `fhir`, so `yilian import exported/ --db URL`
keeps working exactly as the README shows it, and `yilian import fhir exported/` says the
same thing explicitly.  (A folder literally named `frontsheet` is imported as
`yilian import ./frontsheet` or `yilian import fhir frontsheet`.)
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from yilian.cli.import_ import import_command
from yilian.cli.import_frontsheet import frontsheet_command

__all__ = ["import_app"]

DEFAULT = "fhir"


class _ImportGroup(TyperGroup):
    """A group whose default sub-command is `fhir`: arguments that do not start with a
    sub-command's name are `fhir`'s.  Only `yilian import` alone or `yilian import --help`
    show the group's help."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT, *args]
        return super().parse_args(ctx, args)


import_app = typer.Typer(
    cls=_ImportGroup,
    help="Import records: `yilian import PATH...` (NDJSON / Bundle files, the `fhir` command) "
    "or `yilian import frontsheet FILE --institution CODE` (a front-sheet export).",
    no_args_is_help=True,
)
import_app.command(DEFAULT)(import_command)
import_app.command("frontsheet")(frontsheet_command)
