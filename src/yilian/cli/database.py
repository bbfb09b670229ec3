"""Opening the repository for one command: the URL check, open/close and the exit codes.

Every command that works on the database the same way shares these, so a bad URL is always
exit status 2 and an unreachable database or a refused operation always exit status 1, with
one message and no traceback.  They live apart from the `yilian` command itself so that its
subcommands (`yilian audit`, ...) can use them without importing the command that mounts them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import typer
from rich.console import Console
from rich.markup import escape

from yilian.fhir.outcome import OutcomeError
from yilian.store.base import Repository, StoreUnavailableError
from yilian.store.codec import ResourceCodec
from yilian.store.factory import open_repository

__all__ = ["check_url", "with_repository"]

T = TypeVar("T")

errors = Console(stderr=True)


def with_repository(
    url: str, work: Callable[[Repository], Awaitable[T]], codec: ResourceCodec | None = None
) -> T:
    """Open the repository, run `work`, close it; an OutcomeError becomes exit status 1.
    Without a `codec` (commands that never read protected identifiers) keys are not checked."""

    async def run() -> T:
        repository = open_repository(url, codec=codec) if codec else open_repository(url, check_keys=False)
        try:
            await repository.open()
        except StoreUnavailableError as exc:
            raise _CannotOpenError(str(exc)) from exc
        except Exception as exc:  # a backend's own error: still one line
            reason = " ".join(str(exc).split())
            raise _CannotOpenError(f"cannot open the database: {type(exc).__name__}: {reason}") from exc
        try:
            return await work(repository)
        finally:
            await repository.close()

    check_url(url)
    try:
        return anyio.run(run)
    except (OutcomeError, _CannotOpenError) as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None


class _CannotOpenError(Exception):
    """The database could not be reached or opened."""


def check_url(url: str) -> None:
    """Exit with status 2 and a clear message if no backend takes `url` (nothing connects)."""
    try:
        open_repository(url)
    except ValueError as exc:
        errors.print("[red]invalid database URL:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None
