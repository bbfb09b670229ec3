"""The console's languages: Chinese by default, English on request, from gettext catalogues.

The `.po` files under `locale/` are the only source of the console's words.  They are compiled
with Babel when the console starts (`babel.messages`, a few milliseconds) rather than shipped
as committed `.mo` files, so a catalogue can never be out of date with its `.po`.

The language is `?lang=` when given (and then remembered in a cookie), else the cookie, else
Chinese.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LANG_COOKIE", "N_", "choose_language", "translations"]

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "console"
LANGUAGES = {"zh_Hans": "中文", "en": "English"}
"""Language code -> its name in itself (what the toggle shows)."""
DEFAULT_LANGUAGE = "zh_Hans"
LANG_COOKIE = "yilian_console_lang"
HTML_LANG = {"zh_Hans": "zh-Hans", "en": "en"}


@cache
def translations(language: str) -> Translations:
    """The compiled catalogue of `language` (one of LANGUAGES)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def choose_language(query: str | None, cookie: str | None) -> str:
    """The language a request asks for: `?lang=`, else the cookie, else Chinese."""
    for asked in (query, cookie):
        if asked:
            normal = asked.replace("-", "_")
            if normal in LANGUAGES:
                return normal
            if normal.lower() in ("zh", "zh_cn", "zh_hans"):
                return "zh_Hans"
    return DEFAULT_LANGUAGE


def N_(message: str) -> str:
    """Mark `message` for the catalogue without translating it now (page labels, names the
    templates translate at render time); `pybabel extract -k N_` finds it."""
    return message


NAMES_SHOWN = (
    # roles, as the layout shows who is logged in
    N_("doctor"), N_("nurse"), N_("records"), N_("insurance"), N_("researcher"),
    N_("regulator"), N_("admin"), N_("patient"), N_("system"),
    # resource types, as the dashboard's table heads them
    N_("Patient"), N_("Encounter"), N_("Condition"), N_("Observation"),
    N_("MedicationRequest"), N_("DiagnosticReport"),
)  # fmt: skip
"""Names that reach the templates as data and are translated there."""
