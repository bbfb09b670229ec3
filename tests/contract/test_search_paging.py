"""`_sort`, paging, `_total` and `_summary=count`
(http://hl7.org/fhir/R4/search.html#sort, #count, #total, #summary)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from tests.contract.conftest import search

from yilian.store.base import DEFAULT_PARTITION, Repository

pytestmark = pytest.mark.anyio

FAMILIES = ["Zhao", "Qian", "Sun", "Li", "Zhou", "Wu", "Zheng", "Wang"]


def _patients() -> list[dict[str, Any]]:
    """23 patients: families repeat (so the second key matters), some have no birth date
    (they sort last either way), one has two names (sorts by its lowest/highest)."""
    out: list[dict[str, Any]] = []
    for n in range(23):
        body: dict[str, Any] = {
            "resourceType": "Patient",
            "name": [{"family": FAMILIES[n % len(FAMILIES)], "given": [f"G{n:02d}"]}],
            "gender": "female" if n % 2 else "male",
        }
        if n % 5 != 4:
            body["birthDate"] = f"19{50 + (n * 7) % 40:02d}-0{1 + n % 9}-1{n % 10}"
        out.append(body)
    out[0]["name"].append({"family": "Aardvark"})  # lowest family overall
    return out


@pytest.fixture
async def crowd(repo: Repository) -> list[dict[str, Any]]:
    stored = []
    async with repo.transaction() as s:
        for body in _patients():
            made = await s.create(body, DEFAULT_PARTITION)
            stored.append(made.json())
    return stored


def _family_keys(body: dict[str, Any]) -> list[str]:
    return sorted(n["family"].lower() for n in body["name"])


async def test_sort_by_string_asc_then_date_desc(repo: Repository, crowd: list[dict[str, Any]]) -> None:
    result = await search(repo, "Patient", [("_sort", "family,-birthdate"), ("_count", "100")])
    got = [m.json() for m in result.matches]
    assert len(got) == 23
    assert got[0]["name"][1]["family"] == "Aardvark"
    firsts = [_family_keys(b)[0] for b in got]
    assert firsts == sorted(firsts)
    for a, b in itertools.pairwise(got):
        if _family_keys(a)[0] == _family_keys(b)[0]:
            da, db = a.get("birthDate"), b.get("birthDate")
            assert db is None or (da is not None and da >= db), "desc dates, missing last"


async def test_sort_descending_uses_highest_value(repo: Repository, crowd: list[dict[str, Any]]) -> None:
    result = await search(repo, "Patient", [("_sort", "-family"), ("_count", "100")])
    lasts = [_family_keys(m.json())[-1] for m in result.matches]
    assert lasts == sorted(lasts, reverse=True)
    assert result.matches[-1].json()["name"][0]["family"] != "Zhao" or len(lasts) == 1


async def test_missing_values_sort_last_both_ways(repo: Repository, crowd: list[dict[str, Any]]) -> None:
    for order in ("birthdate", "-birthdate"):
        result = await search(repo, "Patient", [("_sort", order), ("_count", "100")])
        dates = [m.json().get("birthDate") for m in result.matches]
        present = [d for d in dates if d is not None]
        assert dates[len(present) :] == [None] * (len(dates) - len(present))
        assert present == sorted(present, reverse=order.startswith("-"))


async def test_sort_by_id_and_last_updated(repo: Repository, crowd: list[dict[str, Any]]) -> None:
    by_id = await search(repo, "Patient", [("_sort", "-_id"), ("_count", "100")])
    assert [m.id for m in by_id.matches] == sorted((b["id"] for b in crowd), reverse=True)
    by_time = await search(repo, "Patient", [("_sort", "_lastUpdated"), ("_count", "100")])
    assert [m.id for m in by_time.matches] == [b["id"] for b in crowd]  # created in this order


@pytest.mark.parametrize("sort", ["gender", "family,-birthdate", "-gender,_id", "birthdate"])
async def test_pages_cover_everything_once(repo: Repository, crowd: list[dict[str, Any]], sort: str) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        page = await search(repo, "Patient", [("_sort", sort), ("_count", "5"), ("_offset", str(offset))])
        assert page.total == 23
        if not page.matches:
            break
        seen.extend(m.id for m in page.matches)
        offset += 5
    assert len(seen) == 23 and set(seen) == {b["id"] for b in crowd}
    whole = await search(repo, "Patient", [("_sort", sort), ("_count", "100")])
    assert [m.id for m in whole.matches] == seen  # the same order page by page


async def test_total_accurate_none_and_summary_count(repo: Repository, crowd: list[dict[str, Any]]) -> None:
    accurate = await search(repo, "Patient", [("gender", "male"), ("_count", "3")])
    assert accurate.total == 12 and len(accurate.matches) == 3
    none = await search(repo, "Patient", [("gender", "male"), ("_total", "none")])
    assert none.total is None and len(none.matches) == 12
    count = await search(repo, "Patient", [("gender", "female"), ("_summary", "count")])
    assert count.total == 11 and count.matches == [] and count.included == []


async def test_count_zero_returns_only_the_total(repo: Repository, crowd: list[dict[str, Any]]) -> None:
    result = await search(repo, "Patient", [("_count", "0")])
    assert result.matches == [] and result.total == 23
