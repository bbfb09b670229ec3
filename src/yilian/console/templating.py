"""The console's Jinja2 environment: templates from the package, autoescape on, and gettext
callables bound to the request's language.

The i18n extension's "newstyle" gettext is built here per language (instead of installed once
on the environment) because two requests in different languages are rendered at the same
time: each render gets its own `_`, `gettext` and `ngettext` in its context.  Like Jinja2's
newstyle gettext they escape the variables they format in (`_("%(name)s", name=...)`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from yilian.console.codes import code_label
from yilian.console.dates import beijing_date, beijing_time
from yilian.console.i18n import translations

__all__ = ["environment", "gettext_callables"]

TEMPLATE_DIR = Path(__file__).parent / "templates"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["beijing_time"] = beijing_time
    env.filters["beijing_date"] = beijing_date
    env.filters["code_label"] = code_label
    return env


@cache
def gettext_callables(language: str) -> dict[str, Callable[..., Any]]:
    """`_`, `gettext` and `ngettext` of `language` for a template context."""
    catalogue = translations(language)

    @pass_context
    def gettext(context: Context, message: str, **variables: Any) -> str:
        text = catalogue.gettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables if variables else text

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, n: int, **variables: Any) -> str:
        variables.setdefault("num", n)
        text = catalogue.ngettext(singular, plural, n)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}
