"""Date criteria ANDed on a parameter with at most one value per resource compile to one
predicate over one `idx_date` row (`criteria.merge_dates`); the answers must be exactly those
of the criteria taken one at a time and intersected, which is what AND means
(http://hl7.org/fhir/R4/search.html#combining), for every prefix and at every precision on
both sides of the bounds.  Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import random

import pytest
from tests.contract.conftest import ids

from yilian.fhir.search.parse import parse_search
from yilian.store.base import DEFAULT_PARTITION, Repository, Scope
from yilian.store.sql.criteria import DateRange, merge_dates

pytestmark = pytest.mark.anyio

# Values at every precision just before, on and just after 1970 and 1980.
BIRTH_DATES = [
    "1969",
    "1970",
    "1979",
    "1980",
    "1969-12",
    "1970-01",
    "1979-12",
    "1980-01",
    "1969-12-31",
    "1970-01-01",
    "1970-01-02",
    "1979-12-31",
    "1980-01-01",
    "1975-06-15",
]
DEATH_TIMES = [
    "1969",
    "1970-01",
    "1979-12-31",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "1970-01-01T08:00:00+08:00",
    "1970-01-01T07:59:59+08:00",
    "1979-12-31T23:59:59.999Z",
    "1980-01-01T00:00Z",
    "1979-12-31T20:00:00-05:00",
]
PERIODS: list[dict[str, str]] = [
    {"start": "1969-12-31", "end": "1970-01-01"},
    {"start": "1970-01-01"},
    {"end": "1979-12-31T23:59:59Z"},
    {"start": "1960", "end": "1990"},
    {"start": "1970-01-01T00:00:00Z", "end": "1979-12-31T23:59:59Z"},
    {"start": "1979-12", "end": "1980-01"},
    {"start": "1975", "end": "1975"},
]
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
QUERY_VALUES = ("1970", "1970-01", "1970-01-01", "1979-12-31", "1980", "1980-01-01T00:00:00Z")


async def _load(repo: Repository) -> None:
    async with repo.transaction() as session:
        for i, birth in enumerate(BIRTH_DATES):
            await session.update(
                {"resourceType": "Patient", "id": f"b{i}", "birthDate": birth},
                DEFAULT_PARTITION,
                scope=Scope.everything(),
            )
        for i, death in enumerate(DEATH_TIMES):
            await session.update(
                {"resourceType": "Patient", "id": f"d{i}", "deceasedDateTime": death},
                DEFAULT_PARTITION,
                scope=Scope.everything(),
            )
        for i, period in enumerate(PERIODS):
            await session.update(
                {"resourceType": "Encounter", "id": f"e{i}", "status": "finished", "period": period},
                DEFAULT_PARTITION,
                scope=Scope.everything(),
            )


def _pairs(seed: int, n: int) -> list[tuple[str, str]]:
    """`n` pairs of `prefix+value` criteria, always including the issue's ge/lt decade."""
    single = [p + v for p, v in itertools.product(PREFIXES, QUERY_VALUES)]
    pairs = list(itertools.combinations(single, 2))
    random.Random(seed).shuffle(pairs)
    return [("ge1970-01-01", "lt1980-01-01"), ("gt1969", "le1979-12-31"), *pairs[:n]]


@pytest.mark.parametrize(
    ("resource_type", "code", "seed"),
    [("Patient", "birthdate", 1), ("Patient", "death-date", 2), ("Encounter", "date", 3)],
)
async def test_merged_equals_criteria_intersected(
    repo: Repository, resource_type: str, code: str, seed: int
) -> None:
    await _load(repo)
    single: dict[str, set[str]] = {}

    async def one(value: str) -> set[str]:
        if value not in single:
            single[value] = await ids(repo, resource_type, [(code, value)])
        return single[value]

    for a, b in _pairs(seed, 60):
        query = [(code, a), (code, b)]
        merged = merge_dates(parse_search((resource_type,), query).conditions)
        assert len(merged) == 1 and isinstance(merged[0], DateRange), query
        assert await ids(repo, resource_type, query) == await one(a) & await one(b), query
    # Three criteria, one of them ORed values, and the merged range as a probe behind an _id.
    three = [(code, "ge1969-12"), (code, "lt1980,eq1975-06-15"), (code, "ne1970-01-01")]
    expected = await one("ge1969-12") & await one("lt1980,eq1975-06-15") & await one("ne1970-01-01")
    assert await ids(repo, resource_type, three) == expected
    every = {i for v in single.values() for i in v} | expected
    for rid in sorted(every)[:5]:
        probed = await ids(repo, resource_type, [("_id", rid), *three])
        assert probed == ({rid} & expected)


async def test_the_decade_answers(repo: Repository) -> None:
    """The issue's query, checked by hand: born in the 1970s, by FHIR's range semantics
    (`ge1970-01-01`: the range ends after 1 January 1970 or lies inside it)."""
    await _load(repo)
    found = await ids(repo, "Patient", [("birthdate", "ge1970-01-01"), ("birthdate", "lt1980-01-01")])
    names = {f"b{i}": b for i, b in enumerate(BIRTH_DATES)}
    assert sorted(names[i] for i in found) == sorted(
        ["1970", "1979", "1970-01", "1979-12", "1970-01-01", "1970-01-02", "1979-12-31", "1975-06-15"]
    )
