"""Checks for the R4 primitive datatypes: JSON type, regex, range and calendar.

Each primitive type (http://hl7.org/fhir/R4/datatypes.html#primitive) has a JSON
representation (http://hl7.org/fhir/R4/json.html#primitive): `boolean` is a JSON boolean,
`integer`, `positiveInt`, `unsignedInt` and `decimal` are JSON numbers, everything else is a
JSON string matching the regex the type's StructureDefinition declares.  Those regexes are
XML Schema regular expressions, whose `\\s` is XML whitespace only (a no-break space or an
ideographic space is ordinary text to them), so they go through `xsdregex` before being
compiled, once, when this module's `PrimitiveCheckers` is built; a check is one dict lookup
and one `fullmatch`.  Whitespace means XML whitespace everywhere here for the same reason.

A check returns None when the value is valid, else a `Finding` (severity, issue code and a
diagnostic); the validator adds the location.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from yilian.fhir.outcome import IssueSeverity, IssueType
from yilian.fhir.validation.xsdregex import XSD_SPACE, compile_xsd, is_xsd_space

__all__ = ["Finding", "PrimitiveCheck", "PrimitiveCheckers", "is_base64", "json_type_name"]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# http://hl7.org/fhir/R4/datatypes.html#string: strings SHALL NOT exceed 1 MB.
MAX_STRING = 1024 * 1024
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NUMBER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "decimal"})
_BASE64_TEXT = compile_xsd(r"[0-9a-zA-Z\+/=\s]*")


@dataclass(frozen=True, slots=True)
class Finding:
    """What is wrong with one primitive value (the validator adds where)."""

    code: IssueType
    diagnostics: str
    severity: IssueSeverity = IssueSeverity.ERROR


PrimitiveCheck = Callable[[object], Finding | None]


def json_type_name(value: object) -> str:
    """The JSON name of a parsed value's type, for diagnostics."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _wrong_json(expected: str, code: str, value: object) -> Finding:
    return Finding(IssueType.STRUCTURE, f"a {code} must be a JSON {expected}, not {json_type_name(value)}")


def _calendar_ok(text: str) -> bool:
    """Reject impossible days (2023-02-30) that the R4 regexes let through."""
    if len(text) < 10:
        return True
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    if day <= 28:
        return True
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS[month - 1]


class PrimitiveCheckers:
    """One compiled check per R4 primitive type code."""

    def __init__(self, regexes: Mapping[str, str]) -> None:
        self._checks: dict[str, PrimitiveCheck] = {}
        for code, pattern in regexes.items():
            if code == "boolean":
                self._checks[code] = self._boolean
            elif code == "base64Binary":
                self._checks[code] = self._base64
            elif code in _NUMBER_TYPES:
                self._checks[code] = self._number(code)
            else:
                self._checks[code] = self._string(code, compile_xsd(pattern) if pattern else None)

    def get(self, code: str) -> PrimitiveCheck | None:
        """The check for a primitive type code, or None when `code` is not primitive."""
        return self._checks.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._checks

    @staticmethod
    def _boolean(value: object) -> Finding | None:
        return None if isinstance(value, bool) else _wrong_json("boolean", "boolean", value)

    @staticmethod
    def _base64(value: object) -> Finding | None:
        if not isinstance(value, str):
            return _wrong_json("string", "base64Binary", value)
        if not is_base64(value):
            return Finding(IssueType.VALUE, f"{_clip(value)!r} is not a valid base64Binary")
        return None

    @staticmethod
    def _number(code: str) -> PrimitiveCheck:
        low = {"integer": INT32_MIN, "positiveInt": 1, "unsignedInt": 0}.get(code)

        def check(value: object) -> Finding | None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return _wrong_json("number", code, value)
            if code == "decimal":
                if isinstance(value, float) and not math.isfinite(value):
                    return Finding(IssueType.VALUE, f"a decimal must be finite, not {value}")
                return None
            if isinstance(value, float):
                return Finding(IssueType.VALUE, f"an {code} must be a whole number, not {value!r}")
            if low is not None and not low <= value <= INT32_MAX:
                return Finding(
                    IssueType.VALUE, f"{value} is outside the range of {code} ({low}..{INT32_MAX})"
                )
            return None

        return check

    @staticmethod
    def _string(code: str, regex: re.Pattern[str] | None) -> PrimitiveCheck:
        fullmatch = regex.fullmatch if regex is not None else None
        dated = code in ("date", "dateTime", "instant")
        free_text = code in ("string", "markdown")
        is_xhtml = code == "xhtml"

        def check(value: object) -> Finding | None:
            if not isinstance(value, str):
                return _wrong_json("string", code, value)
            if not value:
                # http://hl7.org/fhir/R4/json.html: a value is never empty.
                return Finding(IssueType.INVARIANT, f"a {code} must not be empty")
            if not free_text and is_xsd_space(value):
                return Finding(IssueType.INVARIANT, f"a {code} must not be only whitespace")
            if free_text and len(value) > MAX_STRING:
                return Finding(IssueType.TOO_LONG, f"a {code} must not exceed 1 MB")
            if fullmatch is not None and fullmatch(value) is None:
                return Finding(IssueType.VALUE, f"{_clip(value)!r} is not a valid {code}")
            if is_xhtml and not value.lstrip(XSD_SPACE).startswith("<div"):
                return Finding(IssueType.VALUE, "Narrative.div must be an xhtml <div> element (txt-1)")
            if dated and not _calendar_ok(value):
                return Finding(IssueType.VALUE, f"{_clip(value)!r} is not a valid {code} (no such day)")
            if free_text:
                # http://hl7.org/fhir/R4/datatypes.html#string: leading and trailing whitespace
                # is allowed, and strings SHOULD contain non-whitespace content: warnings only.
                if is_xsd_space(value):
                    return Finding(
                        IssueType.VALUE, f"a {code} should not be only whitespace", IssueSeverity.WARNING
                    )
                if value[0] in XSD_SPACE or value[-1] in XSD_SPACE:
                    return Finding(
                        IssueType.VALUE,
                        f"a {code} should not have leading or trailing whitespace",
                        IssueSeverity.WARNING,
                    )
                if _CONTROL.search(value) is not None:
                    return Finding(
                        IssueType.VALUE,
                        f"a {code} should not contain control characters",
                        IssueSeverity.WARNING,
                    )
            return None

        return check


def is_base64(value: str) -> bool:
    """Whether the R4 base64Binary regex, `(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+`, matches `value`.

    The regex itself backtracks exponentially on a long near-miss (whitespace between two
    groups can go to either group's `\\s*`: forty groups and a stray character take minutes),
    so the same language is checked in linear time: base64 characters and XML whitespace only,
    the whitespace falling between groups of four.
    """
    if _BASE64_TEXT.fullmatch(value) is None:
        return False
    runs = value.split()  # only XML whitespace is left to split on, and str.split is fast
    return bool(runs) and all(len(run) % 4 == 0 for run in runs)


def _clip(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "..."
