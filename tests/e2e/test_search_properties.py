"""Random searches over the loaded Synthea sample, each answered by the server (every page of
it) and by `search_oracle` (plain Python over the JSON), on both backends.

Each search draws one to four criteria on one resource type: parameters of every type
(string, token, date, reference, quantity, number, uri), OR by comma, AND by repeating a
parameter, modifiers (`:exact`, `:contains`, `:not`, `:missing`), prefixes, chains (one and
two levels), `_has`, and `_tag` / `_id` / `_lastUpdated` on top; then a `_sort` and a page
size, and the test walks every `next` link.  The server must return exactly the oracle's set,
no resource twice, a `total` equal to what the walk found, and the pages in `_sort` order.

The seed is fixed; `make test` runs YILIAN_SEARCH_EXAMPLES (default 40) searches per backend.
A longer run:

    YILIAN_SEARCH_EXAMPLES=2000 .venv/bin/python -m pytest tests/e2e/test_search_properties.py
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from tests.e2e.search_oracle import (
    CATALOGUE,
    TYPE_OF,
    Criterion,
    Oracle,
    Param,
    Value,
    decimal_range,
    fold,
    interval,
    param,
)
from tests.e2e.test_synthea_search import Loaded

pytestmark = [pytest.mark.shared_data]

EXAMPLES = int(os.environ.get("YILIAN_SEARCH_EXAMPLES", "40"))
SHRINK = os.environ.get("YILIAN_SEARCH_SHRINK") == "1"
"""Shrinking a failure costs a server walk per attempt (minutes); the failing query is in the
assertion message either way, so it is opt-in."""
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
MODIFIERS = {
    "string": ("", "", "exact", "contains", "missing"),
    "token": ("", "", "", "not", "missing"),
    "date": ("", "", "", "missing"),
    "reference": ("", "", "missing"),
    "quantity": ("",),
    "number": ("",),
    "uri": ("",),
}
MAX_PAGES = 8
"""Large answers are walked in at most this many pages (each page runs the search again);
small ones in pages of a random size down to one resource."""


@pytest.fixture(scope="module")
def oracle(synthea_server: Loaded) -> Oracle:
    return Oracle(synthea_server.corpus, synthea_server.ids, synthea_server.last_updated)


def escape(text: str) -> str:
    """A value as FHIR search writes it: `\\`, `,`, `$` and `|` escaped."""
    for ch in "\\,$|":
        text = text.replace(ch, "\\" + ch)
    return text


class Draw:
    """Hypothesis draws of criteria whose values come from the loaded resources."""

    def __init__(self, data: st.DataObject, oracle: Oracle) -> None:
        self.data = data
        self.oracle = oracle

    def pick(self, items: list[Any] | tuple[Any, ...]) -> Any:
        return self.data.draw(st.sampled_from(items))

    def holder(self, res_type: str, name: str) -> Any:
        """A value of `name` from one resource that has one."""
        having = _having(self.oracle, res_type, name)
        url = self.pick(having)
        return self.pick(self.oracle.values(res_type, name, url))

    def criterion(self, res_type: str, depth: int = 0) -> Criterion:
        kinds = ["simple"] * 6 + ["_id", "_lastUpdated"]
        if depth < 2 and _chainable(res_type):
            kinds += ["chain"] * 2
        if depth == 0 and _referrers(res_type):
            kinds += ["has"] * 2
        kind = self.pick(kinds)
        if kind == "chain":
            p = self.pick(_chainable(res_type))
            target = p.targets[0]
            return Criterion(p.name, chain=(target, self.criterion(target, depth + 1)))
        if kind == "has":
            source, ref = self.pick(_referrers(res_type))
            return Criterion("_has", has=(source, ref, self.criterion(source, depth + 1)))
        if kind == "_id":
            urls = self.data.draw(
                st.lists(st.sampled_from(self.oracle.by_type[res_type]), min_size=1, max_size=3)
            )
            ids = [self.oracle.ids[u].split("/")[1] for u in urls]
            return Criterion("_id", tuple(Value(i, ids=frozenset({i})) for i in ids))
        if kind == "_lastUpdated":
            return Criterion(
                "_lastUpdated", tuple(self.last_updated(res_type) for _ in range(self._how_many()))
            )
        p = self.pick([p for p in CATALOGUE[res_type] if _having(self.oracle, res_type, p.name)])
        modifier = self.pick(MODIFIERS[p.type])
        if modifier == "missing":
            return Criterion(p.name, (Value(self.pick(["true", "false"])),), "missing")
        values = tuple(self.value(res_type, p, modifier) for _ in range(self._how_many()))
        return Criterion(p.name, values, modifier)

    def _how_many(self) -> int:
        return int(self.data.draw(st.sampled_from([1, 1, 1, 2, 2, 3])))

    def value(self, res_type: str, p: Param, modifier: str) -> Value:
        v = self.holder(res_type, p.name)
        if p.type == "string":
            if modifier == "exact":
                return Value(escape(v))
            if modifier == "contains":
                start = self.data.draw(st.integers(0, max(len(v) - 1, 0)))
                size = self.data.draw(st.integers(1, 4))
                return Value(escape(v[start : start + size]))
            size = self.data.draw(st.integers(1, len(v)))
            text = v[:size]
            return Value(escape(text.upper() if self.data.draw(st.booleans()) else text))
        if p.type == "token":
            system, code = v
            forms = ["code"] if system is None else ["code", "system|code", "system|code", "system|"]
            form = self.pick(forms)
            if form == "code":
                return Value(escape(code), token=(None, code))
            if form == "system|":
                return Value(f"{escape(system)}|", token=(system, None))
            return Value(f"{escape(system)}|{escape(code)}", token=(system, code))
        if p.type == "date":
            start = v[0] if v[0].year > 1 else v[1]
            text = self.pick([start.strftime("%Y"), start.strftime("%Y-%m"), start.strftime("%Y-%m-%d")])
            prefix = self.pick(PREFIXES)
            return Value(f"{prefix}{text}", prefix=prefix, span=interval(text))
        if p.type == "reference":
            rid = self.oracle.ids[v]
            return Value(self.pick([rid, rid.split("/")[1]]), target=v)
        if p.type in ("quantity", "number"):
            threshold = self.pick(_safe_thresholds(self.oracle, res_type, p.name))
            prefix = self.pick(PREFIXES)
            text = f"{prefix}{threshold}"
            if p.type == "quantity" and self.data.draw(st.booleans()):
                _, system, code, _ = v
                if system and code:
                    return Value(
                        f"{text}|{escape(system)}|{escape(code)}",
                        prefix,
                        number=threshold,
                        unit=(system, code),
                    )
            return Value(text, prefix, number=threshold)
        if p.type == "uri":
            return Value(escape(v))
        raise AssertionError(p.type)

    def last_updated(self, res_type: str) -> Value:
        url = self.pick(self.oracle.by_type[res_type])
        stamp = datetime.fromisoformat(self.oracle.last_updated[url]).astimezone(UTC)
        text = self.pick([stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), stamp.isoformat(timespec="microseconds")])
        prefix = self.pick(PREFIXES)
        return Value(f"{prefix}{text}", prefix, span=interval(text.replace("+00:00", "Z")))

    def sort(self, res_type: str) -> list[str]:
        keys = [p.name for p in CATALOGUE[res_type] if p.sortable and p.type in ("string", "token", "date")]
        keys += ["_id", "_lastUpdated"]
        chosen = self.data.draw(st.lists(st.sampled_from(keys), max_size=2, unique=True))
        return [("-" if self.data.draw(st.booleans()) else "") + k for k in chosen]


# ------------------------------------------------------------------------ cached facts

_CACHE: dict[tuple[Any, ...], Any] = {}


def _having(oracle: Oracle, res_type: str, name: str) -> list[str]:
    key = ("having", id(oracle), res_type, name)
    if key not in _CACHE:
        _CACHE[key] = [u for u in oracle.by_type.get(res_type, []) if oracle.values(res_type, name, u)]
    return list(_CACHE[key])


def _chainable(res_type: str) -> list[Param]:
    return [
        p for p in CATALOGUE[res_type] if p.type == "reference" and p.targets and p.targets[0] in CATALOGUE
    ]


def _referrers(res_type: str) -> list[tuple[str, str]]:
    return [
        (t, p.name)
        for t, ps in CATALOGUE.items()
        for p in ps
        if p.type == "reference" and res_type in p.targets
    ]


def _safe_thresholds(oracle: Oracle, res_type: str, name: str) -> list[Decimal]:
    """One-decimal thresholds no stored value's implicit range comes near, so the answer does
    not depend on how a server rounds either side (the oracle applies R4's rule regardless)."""
    key = ("safe", id(oracle), res_type, name)
    if key not in _CACHE:
        numbers = sorted(
            v if isinstance(v, Decimal) else v[0]
            for u in _having(oracle, res_type, name)
            for v in oracle.values(res_type, name, u)
        )
        widths = {n: decimal_range(n)[1] - n for n in numbers}
        safe: set[Decimal] = set()
        for n in numbers[:: max(1, len(numbers) // 400)]:
            for step in range(-3, 4):
                t = (n + Decimal(step) / 10).quantize(Decimal("0.1"))
                i = bisect.bisect_left(numbers, t - 2)
                near = numbers[i : bisect.bisect_right(numbers, t + 2)]
                if all(abs(m - t) > widths[m] + Decimal("0.051") for m in near):
                    safe.add(t)
        assert safe, f"no safe threshold for {res_type}.{name}"
        _CACHE[key] = sorted(safe)
    return list(_CACHE[key])


# ------------------------------------------------------------------------------- checks


def _sort_key(oracle: Oracle, res_type: str, key: str, url: str) -> Any:
    name = key.lstrip("-")
    descending = key.startswith("-")
    if name == "_id":
        return oracle.ids[url].split("/")[1]
    if name == "_lastUpdated":
        return interval(oracle.last_updated[url].replace("+00:00", "Z"))[0]
    p = param(res_type, name)
    values = p.read(oracle.corpus.by_url[url])
    if not values:
        return None
    if p.type == "string":
        keys = [fold(v) for v in values]
    elif p.type == "token":
        keys = [c for _, c in values if c is not None]
    else:  # date: ascending by the earliest start, descending by the latest end
        keys = [v[1] if descending else v[0] for v in values]
    if not keys:
        return None
    return max(keys) if descending else min(keys)


def _in_order(oracle: Oracle, res_type: str, sort: list[str], a: str, b: str) -> bool:
    for key in sort:
        ka, kb = _sort_key(oracle, res_type, key, a), _sort_key(oracle, res_type, key, b)
        if ka is None or kb is None:
            if ka is None and kb is not None:
                return False  # resources without a value come last, either direction
            if kb is None and ka is not None:
                return True
            continue
        if ka != kb:
            return bool(ka > kb) if key.startswith("-") else bool(ka < kb)
    return True


@seed(20261204)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, *([Phase.shrink] if SHRINK else [])],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_random_searches_match_the_oracle(
    synthea_server: Loaded, oracle: Oracle, data: st.DataObject
) -> None:
    draw = Draw(data, oracle)
    res_type = draw.pick(sorted(CATALOGUE))
    criteria = [draw.criterion(res_type) for _ in range(data.draw(st.integers(1, 4)))]
    if data.draw(st.booleans()) and res_type != "RiskAssessment":  # _tag on top
        criteria.append(
            Criterion(
                "_tag",
                (
                    Value(
                        "https://smarthealthit.org/tags|synthea-5-2019",
                        token=("https://smarthealthit.org/tags", "synthea-5-2019"),
                    ),
                ),
            )
        )
    expected = oracle.select(res_type, criteria)
    sort = draw.sort(res_type)
    count = max(data.draw(st.integers(1, 50)), math.ceil(len(expected) / MAX_PAGES))
    query = "&".join(quote(c.query(), safe="=:.,|$-_\\") for c in criteria)
    query += f"&_count={min(count, 1000)}" + (f"&_sort={','.join(sort)}" if sort else "")
    found, _, total = synthea_server.search_all(f"{res_type}?{query}")
    back = {v: k for k, v in oracle.ids.items()}
    want = {oracle.ids[u] for u in expected}
    got = set(found)
    assert len(found) == len(got), f"{res_type}?{query}: {len(found) - len(got)} repeated across pages"
    assert got == want, (
        f"{res_type}?{query}: {len(got)} found, {len(want)} expected; "
        f"missing {sorted(want - got)[:5]}, extra {sorted(got - want)[:5]}"
    )
    assert total is None or total == len(found), f"{res_type}?{query}: total {total} but {len(found)} walked"
    urls = [back[k] for k in found]
    for a, b in itertools.pairwise(urls):
        assert _in_order(oracle, res_type, sort, a, b), (
            f"{res_type}?{query}: {oracle.ids[a]} before {oracle.ids[b]}"
        )
    assert all(TYPE_OF[u] == res_type for u in urls)
