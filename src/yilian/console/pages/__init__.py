"""The console's page registry: one module per page, each declaring a `PAGE`.

A page module says where it lives (`path`, below `/console`), what the navigation calls it (a
message id, translated at render time), where it sits in the navigation and whether it shows
there, and the handler that answers it.  `discover()` imports every module of this package
and collects their pages, so adding a page is one module here plus one template; nothing else
has to be edited.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.responses import Response

if TYPE_CHECKING:
    from yilian.console.view import ConsoleView

__all__ = ["Handler", "Page", "discover"]

Handler = Callable[["ConsoleView"], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Page:
    """One console page.  `label` is a gettext message id (the catalogue translates it);
    `public` pages answer without a session (the login page); `methods` are the HTTP
    methods the handler takes (every POST is CSRF-checked before the handler runs)."""

    path: str
    name: str
    label: str
    handler: Handler
    order: int = 100
    in_nav: bool = True
    public: bool = False
    methods: tuple[str, ...] = ("GET",)


def discover() -> list[Page]:
    """Every page of every module in this package, in navigation order."""
    pages: list[Page] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found = getattr(module, "PAGE", None)
        if isinstance(found, Page):
            pages.append(found)
        pages.extend(p for p in getattr(module, "PAGES", ()) if isinstance(p, Page))
    names = [p.name for p in pages]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"console pages declared twice: {', '.join(sorted(duplicates))}")
    return sorted(pages, key=lambda p: (p.order, p.name))
