"""Reading one front-sheet cell as its column's type: dates, times, numbers, codes.

Each reader returns the value or raises `BadValue` with a sentence for the error report.
Exports write dates every way a spreadsheet can (`2024-03-05`, `2024/3/5`, `20240305`,
`2024年3月5日`) and times with or without seconds; all are accepted.  Diagnosis and procedure
codes are checked for their shape only (the terminology service, later, knows which codes
exist): ICD-10 医保版 2.0 `I10.x00`, `K35.800x001`, with an optional dagger/asterisk mark;
ICD-9-CM-3 医保版 `47.0900`, `36.0600x004`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

__all__ = [
    "CHINA_TIME",
    "BadValue",
    "When",
    "read_code",
    "read_date",
    "read_datetime",
    "read_decimal",
    "read_icd9cm3",
    "read_icd10",
    "read_integer",
]

CHINA_TIME = timezone(timedelta(hours=8), "CST")
"""Front sheets write local time without a zone; China keeps one zone, UTC+08:00."""


class BadValue(ValueError):
    """A cell that is not a value of its column's type; the message says what was expected."""


_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{4})(\d{2})(\d{2})")
_TIME = re.compile(r"(\d{1,2})(?:[:时](\d{2})分?)?(?:[:分](\d{2})(?:\.\d+)?秒?)?|(\d{2})(\d{2})(\d{2})?")
_ICD10 = re.compile(r"[A-Z]\d{2}(?:\.[0-9x]{1,3}(?:x\d{3})?)?[+*†]?")
_ICD9CM3 = re.compile(r"\d{2}(?:\.[0-9x]{1,4}(?:x\d{3})?)?")


@dataclass(frozen=True, slots=True)
class When:
    """A point in time as precise as the sheet gave it: a date alone, or a date and time."""

    value: datetime
    has_time: bool

    @property
    def fhir(self) -> str:
        """As a FHIR dateTime: `2024-03-05` or `2024-03-05T14:30:00+08:00`."""
        if not self.has_time:
            return self.value.date().isoformat()
        return self.value.isoformat(timespec="seconds")


def read_date(text: str) -> date:
    """A calendar date."""
    head, _, rest = text.strip().replace("T", " ").partition(" ")
    match = _DATE.fullmatch(head)
    if match is None or rest.strip() not in ("", "00:00", "00:00:00"):
        raise BadValue(f"{text!r} is not a date (expected YYYY-MM-DD)")
    year, month, day = (int(g) for g in match.groups() if g is not None)
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise BadValue(f"{text!r} is not a date: {exc}") from None


def read_datetime(text: str) -> When:
    """A date with an optional time of day (local time, UTC+08:00)."""
    text = text.strip()
    compact = re.fullmatch(r"(\d{8})(\d{4}(?:\d{2})?)", text)
    if compact:
        head, rest = compact[1], compact[2]
    else:
        head, _, rest = text.replace("T", " ", 1).partition(" ")
    day = read_date(head) if _DATE.fullmatch(head) else None
    if day is None:
        raise BadValue(f"{text!r} is not a date and time (expected YYYY-MM-DD HH:MM)")
    rest = rest.strip()
    if not rest:
        return When(datetime(day.year, day.month, day.day, tzinfo=CHINA_TIME), False)
    match = _TIME.fullmatch(rest)
    if match is None:
        raise BadValue(f"{text!r} is not a date and time (expected YYYY-MM-DD HH:MM)")
    parts = [int(g) for g in (match[1] or match[4], match[2] or match[5], match[3] or match[6]) if g]
    hour, minute, second = [*parts, 0, 0][:3]
    try:
        moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=CHINA_TIME)
    except ValueError as exc:
        raise BadValue(f"{text!r} is not a date and time: {exc}") from None
    return When(moment, True)


def read_integer(text: str) -> int:
    """A whole number, zero or more (`12`, also `12.0` as spreadsheets write it)."""
    cleaned = text.strip()
    if cleaned.endswith(".0"):
        cleaned = cleaned[:-2]
    if not cleaned.isdigit():
        raise BadValue(f"{text!r} is not a whole number")
    return int(cleaned)


def read_decimal(text: str) -> Decimal:
    """An amount in yuan, zero or more, at most two decimals (`1,234.50` and `¥12` too)."""
    cleaned = text.strip().removeprefix("¥").removeprefix("￥").removesuffix("元").replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise BadValue(f"{text!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise BadValue(f"{text!r} is not an amount of zero or more")
    if amount != amount.quantize(Decimal("0.01")):
        raise BadValue(f"{text!r} has more than two decimals (amounts are in yuan and fen)")
    return amount.quantize(Decimal("0.01"))


def read_code(text: str, table: Mapping[str, str]) -> str:
    """A code of `table`, given as the code or as its Chinese display; returns the code."""
    cleaned = text.strip()
    if cleaned.endswith(".0") and cleaned[:-2] in table:  # a code cell a spreadsheet made a number
        cleaned = cleaned[:-2]
    if cleaned in table:
        return cleaned
    for code, display in table.items():
        if display == cleaned:
            return code
    listed = ", ".join(f"{c} {d}" for c, d in table.items())
    raise BadValue(f"{text!r} is not in the table ({listed})")


def _case(text: str) -> str:
    """Codes with the letters as 医保版 writes them: upper case, the placeholder x lower."""
    upper = text.strip().upper()
    return upper[:1] + upper[1:].replace("X", "x")


def read_icd10(text: str) -> str:
    """An ICD-10 医保版 2.0 diagnosis code of the right shape (`I10.x00`)."""
    code = _case(text)
    if not _ICD10.fullmatch(code):
        raise BadValue(f"{text!r} is not shaped like an ICD-10 医保版 code (e.g. I10.x00, K35.800x001)")
    return code


def read_icd9cm3(text: str) -> str:
    """An ICD-9-CM-3 医保版 procedure code of the right shape (`47.0900`)."""
    code = text.strip().lower()
    if not _ICD9CM3.fullmatch(code):
        raise BadValue(f"{text!r} is not shaped like an ICD-9-CM-3 医保版 code (e.g. 47.0900, 36.0600x004)")
    return code
