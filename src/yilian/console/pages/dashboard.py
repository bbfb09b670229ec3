"""`/console/`: the alliance dashboard.

Everything about records comes from the router as the user: `_summary=count` searches per
resource type and institution (so a doctor sees the counts the FHIR API would give them, and
each search is in the audit trail as theirs), and Encounters per month for the activity chart
(twelve months ending with the newest Encounter the user may see, so old or synthetic data
still draws).  Feed status reads the feed log, which is operational data outside FHIR, within
the user's `feed_scope` (console/feed_access.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from itertools import pairwise

from starlette.responses import Response

from yilian.console.dates import beijing_date, now_beijing
from yilian.console.feed_access import feed_scope
from yilian.console.i18n import N_
from yilian.console.pages import Page
from yilian.console.view import ConsoleView
from yilian.fhir.outcome import OutcomeError
from yilian.store.feed_log import FeedMessageQuery

__all__ = ["PAGE"]

RECORD_TYPES = ("Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "DiagnosticReport")
ACTIVITY_MONTHS = 12
FEED_DAYS = 14
FEED_LIMIT = 2000
"""At most this many feed-log rows are read for the feed panel (it says so when reached)."""


@dataclass(frozen=True, slots=True)
class InstitutionCounts:
    code: str
    name: str
    counts: dict[str, int | None]  # None: the user may not search that type there


async def _counts(view: ConsoleView) -> list[InstitutionCounts]:
    rows = []
    for code, name in view.institutions.items():
        counts = {t: await view.count(t, partition=code) for t in RECORD_TYPES}
        rows.append(InstitutionCounts(code, name, counts))
    return rows


def _month_starts(last: date, months: int) -> list[date]:
    first = last.replace(day=1)
    starts = [first]
    for _ in range(months):
        previous = starts[-1] - timedelta(days=1)
        starts.append(previous.replace(day=1))
    return list(reversed(starts))  # months + 1 boundaries, oldest first


async def _activity(view: ConsoleView) -> list[tuple[str, int]]:
    """(YYYY-MM, Encounters that began that month) for the chart; empty when there are none."""
    try:
        newest = await view.fhir("GET", "Encounter", query=(("_sort", "-date"), ("_count", "1")))
    except OutcomeError:
        return []
    entries = (newest.body or {}).get("entry") or []
    start = ((entries[0].get("resource") or {}).get("period") or {}).get("start") if entries else None
    if not isinstance(start, str):
        return []
    last = date.fromisoformat(beijing_date(start)[:10])
    bounds = _month_starts(last, ACTIVITY_MONTHS - 1)
    next_month = (bounds[-1] + timedelta(days=32)).replace(day=1)
    bounds.append(next_month)
    series = []
    for lo, hi in pairwise(bounds):
        n = await view.count(
            "Encounter", query=(("date", f"ge{lo.isoformat()}"), ("date", f"lt{hi.isoformat()}"))
        )
        series.append((lo.strftime("%Y-%m"), n or 0))
    return series


@dataclass(frozen=True, slots=True)
class FeedDay:
    day: str
    stored: int
    error: int
    rejected: int


async def _feed_status(view: ConsoleView) -> tuple[list[FeedDay], bool, bool]:
    """(messages per Beijing day, newest first; whether the limit was reached; whether the
    user may see the feed log at all)."""
    scope = feed_scope(view.principal)
    if not scope.visible:
        return [], False, False
    since = (now_beijing() - timedelta(days=FEED_DAYS)).astimezone(UTC).isoformat(timespec="microseconds")
    query = FeedMessageQuery(since=since, institution=scope.institution, limit=FEED_LIMIT)
    try:
        messages = await view.router.repository.search_feed_messages(query)
    except OutcomeError:
        return [], False, True  # a store without a feed log
    per_day: dict[str, Counter[str]] = {}
    for m in messages:
        per_day.setdefault(beijing_date(m.received), Counter())[m.status] += 1
    days = [
        FeedDay(d, c["stored"], c["error"], c["rejected"]) for d, c in sorted(per_day.items(), reverse=True)
    ]
    return days, len(messages) >= FEED_LIMIT, True


async def dashboard(view: ConsoleView) -> Response:
    rows = await _counts(view)
    activity = await _activity(view)
    feed_days, feed_truncated, feed_visible = await _feed_status(view)
    totals = {t: sum(r.counts[t] or 0 for r in rows) for t in RECORD_TYPES}
    chart = {
        "months": [m for m, _ in activity],
        "counts": [n for _, n in activity],
        "series": view.gettext("Encounters"),
    }
    return view.render(
        "dashboard.html",
        record_types=RECORD_TYPES,
        rows=rows,
        totals=totals,
        activity=activity,
        chart=chart,
        feed_days=feed_days,
        feed_truncated=feed_truncated,
        feed_visible=feed_visible,
        feed_days_span=FEED_DAYS,
    )


PAGE = Page("/", "dashboard", N_("Dashboard"), dashboard, order=10)
