"""Dates as Chinese users write them: Beijing time (UTC+8, no daylight saving), `2026-12-04
08:30`.  FHIR instants are stored in UTC or with their own offset; the console shows them all
in the alliance's time zone so two institutions' times line up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

__all__ = ["BEIJING", "beijing_date", "beijing_time", "now_beijing"]

BEIJING = timezone(timedelta(hours=8), "CST")


def _parse(value: str | datetime) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING)


def beijing_time(value: str | datetime | None) -> str:
    """`2026-12-04 08:30` in Beijing time; the text itself when it is no instant."""
    if value is None:
        return ""
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else str(value)


def beijing_date(value: str | datetime | None) -> str:
    """`2026-12-04` in Beijing time (a bare FHIR date is shown as written)."""
    if value is None:
        return ""
    if isinstance(value, str) and len(value) <= 10:
        return value
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d") if moment else str(value)


def now_beijing() -> datetime:
    return datetime.now(BEIJING)
