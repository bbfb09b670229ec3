"""How a search statement is planned: which condition drives it, and date criteria merged.

Split from `criteria` (which turns each condition into SQL): `drive_order` picks the condition
a statement starts from (the others are probed per candidate row), and `merge_dates` folds the
date criteria on a single-valued parameter (`Patient.birthDate`) into one bounded range over
one index row, so `birthdate=ge1970&birthdate=lt1980` reads one stretch of the date index.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from yilian.fhir.definitions import registry, structures
from yilian.fhir.search.model import (
    DATE_MAX,
    DATE_MIN,
    ChainCriterion,
    Condition,
    Criterion,
    DateQuery,
    HasCriterion,
    MissingQuery,
    QuantityQuery,
    TokenQuery,
)

__all__ = [
    "Compiled",
    "DateRange",
    "date_ap",
    "drive_order",
    "drive_rank",
    "low_bounds",
    "merge_dates",
    "single_date",
]

_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class DateRange:
    """Date criteria ANDed on one parameter that holds at most one date per resource
    (`single_date`), as `birthdate=ge1970&birthdate=lt1980` asks: with one `idx_date` row per
    resource, "some row matches the first and some row matches the second" is "the row matches
    both", so they compile to one predicate over one row, bounded on `low` from both sides
    (`low_bounds`) where each criterion alone bounds at most one side.  `narrow` when the
    stored ranges are at most a year wide (date, dateTime, instant: no Period or Timing)."""

    criteria: tuple[Criterion, ...]
    narrow: bool

    @property
    def resource_type(self) -> str:
        return self.criteria[0].resource_type

    @property
    def code(self) -> str:
        return self.criteria[0].code


Compiled = Condition | DateRange
"""What a statement's conditions compile from: the request's conditions, with the date
criteria `merge_dates` folds together."""


def date_ap(q: DateQuery) -> tuple[str, str]:
    """`ap` widens the query range by 10% of the gap between now and the date, as the
    specification recommends, and at least a day."""
    try:
        low = datetime.strptime(q.low, _KEY_FORMAT).replace(tzinfo=UTC)
        high = datetime.strptime(q.high, _KEY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return q.low, q.high
    margin = max(abs(datetime.now(UTC) - low) / 10, timedelta(days=1))
    try:
        wide_low = (low - margin).strftime(_KEY_FORMAT)
    except OverflowError:
        wide_low = DATE_MIN
    try:
        wide_high = (high + margin).strftime(_KEY_FORMAT)
    except OverflowError:
        wide_high = DATE_MAX
    return _pad_year(wide_low), _pad_year(wide_high)


def _pad_year(text: str) -> str:
    """strftime does not zero-pad years before 1000 on every platform."""
    year, _, rest = text.partition("-")
    return f"{int(year):04d}-{rest}"


# ------------------------------------------------------------------------ merged date criteria

_PATH = re.compile(r"[A-Z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+")
_CAST = re.compile(r"\((?P<path>[A-Z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+) as (?P<type>[A-Za-z]+)\)")
_POINT_TYPES = frozenset({"date", "dateTime", "instant"})
_RANGE_TYPES = _POINT_TYPES | {"Period", "Timing"}
_YEAR = timedelta(days=366)
"""Wider than any range a single date, dateTime or instant covers (a leap year at year
precision; a zone shifts both ends alike)."""


@cache
def single_date(resource_type: str, code: str) -> bool | None:
    """Whether the date parameter `code` of `resource_type` yields at most one `idx_date` row
    per resource: None when not (or when its definition does not make it plain), else whether
    that row is at most a year wide (True: date, dateTime, instant; False: Period or Timing,
    which the extractor also stores as one range).

    Read off the R4 structure definitions: the parameter's expression must be a plain element
    path from the resource, or `(path as type)`, every element on it of cardinality at most 1
    (http://hl7.org/fhir/R4/elementdefinition.html), so `Patient.birthDate` qualifies and
    `Patient.contact.period` or a union does not."""
    pdef = registry().get(resource_type, code)
    if pdef is None or pdef.type != "date" or pdef.resource_type != resource_type:
        return None
    cast: str | None = None
    path = pdef.expression
    if (match := _CAST.fullmatch(path)) is not None:
        path, cast = match["path"], match["type"]
    elif _PATH.fullmatch(path) is None:
        return None
    head, *steps = path.split(".")
    if head != resource_type:
        return None
    table, structure, types = structures(), head, frozenset[str]()
    for i, step in enumerate(steps):
        found = table.get(structure)
        element = None if found is None else found.elements.get(step) or found.elements.get(f"{step}[x]")
        if element is None or element.max != 1:
            return None
        types = frozenset(t.code for t in element.types)
        if i < len(steps) - 1:
            if len(element.types) != 1:
                return None
            structure = element.types[0].code
    if cast is not None:
        if cast not in types:
            return None
        types = frozenset({cast})
    if not types or not types <= _RANGE_TYPES:
        return None
    return types <= _POINT_TYPES


def merge_dates(conds: Sequence[Condition]) -> list[Compiled]:
    """`conds` with the plain date criteria on each single-valued parameter (`single_date`)
    folded into one `DateRange`, in the place of the first of them.  A criterion with a
    modifier (`:missing`, `:not`) stays on its own."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(conds):
        if (
            isinstance(c, Criterion)
            and c.type == "date"
            and c.modifier is None
            and c.values
            and all(isinstance(v, DateQuery) for v in c.values)
            and single_date(c.resource_type, c.code) is not None
        ):
            groups.setdefault((c.resource_type, c.code), []).append(i)
    out: list[Compiled] = list(conds)
    for (rtype, code), members in groups.items():
        if len(members) < 2:
            continue
        merged = tuple(c for i in members if isinstance(c := conds[i], Criterion))
        out[members[0]] = DateRange(merged, single_date(rtype, code) is True)
    drop = {i for members in groups.values() if len(members) > 1 for i in members[1:]}
    return [c for i, c in enumerate(out) if i not in drop]


def low_bounds(m: DateRange) -> tuple[str | None, str | None]:
    """The least and greatest `low` a row matching every criterion of `m` can have (None:
    no bound), read off each prefix's predicate in `range_predicate`: `lt`, `le`, `eb` and
    `eq` bound it from above, `sa` and `eq` from below, and on a range at most a year wide
    (`m.narrow`) `gt`, `ge` and `ap` from below too (`high > x` means `low > x - a year`)."""
    lowers: list[str] = []
    uppers: list[str] = []
    for c in m.criteria:
        bounds = [_value_bounds(v, m.narrow) for v in c.values if isinstance(v, DateQuery)]
        value_lowers = [b[0] for b in bounds]
        value_uppers = [b[1] for b in bounds]
        if value_lowers and all(x is not None for x in value_lowers):
            lowers.append(min(x for x in value_lowers if x is not None))  # ORed values: the widest
        if value_uppers and all(x is not None for x in value_uppers):
            uppers.append(max(x for x in value_uppers if x is not None))
    return (max(lowers) if lowers else None), (min(uppers) if uppers else None)


def _value_bounds(q: DateQuery, narrow: bool) -> tuple[str | None, str | None]:
    match q.prefix:
        case "eq":
            return q.low, q.high
        case "gt":
            return (_year_before(q.high) if narrow else None), None
        case "ge":  # low >= ql, or high > qh
            return (min(q.low, _year_before(q.high) or DATE_MIN) if narrow else None), None
        case "lt" | "eb":
            return None, q.low
        case "le":
            return None, q.high
        case "sa":
            return q.high, None
        case "ap":
            wide_low, wide_high = date_ap(q)
            return (_year_before(wide_low) if narrow else None), wide_high
    return None, None


def _year_before(key: str) -> str | None:
    """`key` less `_YEAR`, or None before the calendar's start."""
    try:
        moment = datetime.strptime(key, _KEY_FORMAT) - _YEAR
    except (ValueError, OverflowError):
        return None
    return _pad_year(moment.strftime(_KEY_FORMAT))


# ------------------------------------------------------------------------ which criterion drives


def drive_order(conds: Sequence[Compiled]) -> tuple[Compiled | None, list[Compiled]]:
    """The condition a statement should start from and the ones to test per candidate.

    No statistics are consulted: the rank is what the criterion's kind says about how few rows
    it usually matches (an id or a reference names one resource's rows; a coded token with its
    system a few thousand at most; a bare token like `gender` or a date range a large part of
    the table; a merged date range bounded on both sides less).  Ties keep the query's order.
    A negated criterion (`:missing=true`, `:not`) never drives."""
    ranked = [(r, i) for i, c in enumerate(conds) if (r := drive_rank(c)) is not None]
    if not ranked:
        return None, list(conds)
    _, first = min(ranked)
    return conds[first], [c for i, c in enumerate(conds) if i != first]


def drive_rank(cond: Compiled) -> int | None:
    """Lower drives first; None cannot drive."""
    if isinstance(cond, DateRange):
        return 6 if None not in low_bounds(cond) else 7
    if isinstance(cond, ChainCriterion):
        return 2
    if isinstance(cond, HasCriterion):
        return 8
    missing = next((v for v in cond.values if isinstance(v, MissingQuery)), None)
    if missing is not None:
        return None if missing.missing else 9
    if cond.modifier == "not":
        return None
    if cond.code == "_id":
        return 0
    if cond.code == "_lastUpdated":
        return 7
    if cond.modifier == "identifier" or cond.type == "reference":
        return 1
    if cond.modifier in ("text", "contains"):
        return 8  # no b-tree serves these
    if cond.type == "token":
        tokens = [v for v in cond.values if isinstance(v, TokenQuery)]
        if cond.modifier or any(v.code is None for v in tokens):
            return 6
        return 3 if all(v.system for v in tokens) else 5
    if cond.type in ("string", "uri", "composite"):
        return 6 if cond.modifier in ("above", "below") else 4
    if cond.type == "quantity" and all(isinstance(v, QuantityQuery) and v.code for v in cond.values):
        return 6
    return 7
