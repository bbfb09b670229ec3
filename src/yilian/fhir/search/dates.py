"""FHIR date, dateTime, instant and time values as the UTC ranges search compares.

Search treats every date as the interval it covers (http://hl7.org/fhir/R4/search.html#date):
`2020` is the whole year, `2020-03-04T10:00` the whole minute.  `date_range` turns any R4
date / dateTime / instant (http://hl7.org/fhir/R4/datatypes.html#dateTime) into the inclusive
range `[low, high]` in the fixed-width UTC text form `YYYY-MM-DDTHH:MM:SS.ffffff` that
`search.model` documents, so text comparison in SQL is time comparison.  A value without a
zone is read as UTC; a zone shifts both ends; results past year 1 or 9999 clamp to
`DATE_MIN` / `DATE_MAX`.

Minute precision (`2020-03-04T10:00`) is not a valid R4 dateTime but search allows it, so it
is accepted here.  Invalid input raises ValueError; the query parser turns that into an
OperationOutcome, and the extractor skips the element.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from yilian.fhir.search.model import DATE_MAX, DATE_MIN

__all__ = ["date_range", "normalize_instant", "normalize_time", "now_instant"]

_DATE_RE = re.compile(
    r"(?P<y>[0-9]{4})"
    r"(?:-(?P<m>[0-9]{2})"
    r"(?:-(?P<d>[0-9]{2})"
    r"(?:T(?P<H>[0-9]{2}):(?P<M>[0-9]{2})"
    r"(?::(?P<S>[0-9]{2})(?:\.(?P<f>[0-9]+))?)?"
    r"(?P<z>Z|[+-][0-9]{2}:[0-9]{2})?"
    r")?)?)?"
)
_TIME_RE = re.compile(r"(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:\.(?P<f>[0-9]+))?)?")

_ONE_MICRO = timedelta(microseconds=1)


def _fmt(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _add_months(start: datetime, months: int) -> datetime | None:
    """The first instant `months` later, or None past year 9999."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    if year > 9999:
        return None
    return start.replace(year=year, month=month + 1)


def _zone_offset(zone: str | None) -> timedelta:
    if zone is None or zone == "Z":
        return timedelta()
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(f"time zone offset {zone!r} is out of range")
    delta = timedelta(hours=hours, minutes=minutes)
    return -delta if zone[0] == "-" else delta


def _shift(value: datetime, offset: timedelta) -> str:
    """`value` in a zone `offset` east of UTC, as UTC text; clamped at the calendar's ends."""
    try:
        return _fmt(value - offset)
    except OverflowError:
        return DATE_MIN if offset > timedelta() else DATE_MAX


def date_range(text: str) -> tuple[str, str]:
    """The inclusive UTC range `(low, high)` a FHIR date, dateTime or instant covers.

    Precision is that of the text: a year, month, day, minute, second, or the written
    fraction of a second (up to microseconds).  Raises ValueError on anything else."""
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a FHIR date, dateTime or instant")
    g = match.groupdict()
    try:
        low = datetime(
            int(g["y"]),
            int(g["m"] or 1),
            int(g["d"] or 1),
            int(g["H"] or 0),
            int(g["M"] or 0),
            min(int(g["S"] or 0), 59),  # a leap second 60 counts as the end of minute 59
            int((g["f"] or "0")[:6].ljust(6, "0")),
        )
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date: {exc}") from None
    high: datetime | None
    if g["f"] is not None:
        digits = min(len(g["f"]), 6)
        high = low + timedelta(microseconds=10 ** (6 - digits))
    elif g["S"] is not None:
        high = low + timedelta(seconds=1)
    elif g["H"] is not None:
        high = low + timedelta(minutes=1)
    elif g["d"] is not None:
        high = low + timedelta(days=1) if low.date() != datetime.max.date() else None
    elif g["m"] is not None:
        high = _add_months(low, 1)
    else:
        high = _add_months(low, 12)
    if g["S"] == "60":
        high = low.replace(microsecond=0) + timedelta(seconds=1)
    offset = _zone_offset(g["z"])
    low_text = _shift(low, offset)
    high_text = DATE_MAX if high is None else _shift(high - _ONE_MICRO, offset)
    return low_text, high_text


def normalize_instant(text: str) -> str:
    """The fixed-width UTC form of an instant (the low end of its range), as stored in the
    index and compared by `_lastUpdated`.  Raises ValueError on an invalid value."""
    return date_range(text)[0]


def now_instant() -> str:
    """The current time as a FHIR instant with microseconds and an explicit `+00:00` zone,
    as the server writes `meta.lastUpdated` (http://hl7.org/fhir/R4/datatypes.html#instant)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def normalize_time(text: str) -> str:
    """A FHIR `time` (`hh:mm[:ss[.fff]]`) as fixed-width `HH:MM:SS.ffffff`.

    Raises ValueError on an invalid time."""
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a FHIR time")
    hours, minutes, seconds = int(match["H"]), int(match["M"]), int(match["S"] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"{text!r} is not a valid time of day")
    fraction = (match["f"] or "0")[:6].ljust(6, "0")
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction}"
