"""The catalogues cover every message the console uses, and Chinese translates all of them."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import yilian.console
from yilian.console.i18n import LANGUAGES, LOCALE_DIR

CONSOLE_DIR = Path(yilian.console.__file__).parent
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def used_messages() -> set[str]:
    found = extract_from_dir(
        str(CONSOLE_DIR), METHODS, keywords={"_": None, "N_": None, "gettext": None}, options_map=OPTIONS
    )
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def test_every_used_message_is_in_each_catalogue_and_chinese_translates_it() -> None:
    used = used_messages()
    assert {"Dashboard", "Log in", "Alliance dashboard"} <= used
    for language in LANGUAGES:
        with (LOCALE_DIR / language / "LC_MESSAGES" / "console.po").open("rb") as po:
            catalogue = {m.id: m.string for m in read_po(po) if m.id}
        assert used <= set(catalogue), (language, sorted(used - set(catalogue)))
        if language == "zh_Hans":
            untranslated = sorted(m for m in used if not catalogue[m])
            assert not untranslated, untranslated
