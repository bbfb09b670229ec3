"""Partitions (member institutions) and the Scope filter on every read path.

A resource in partition `a` must be invisible to `Scope.partition("b")` in read, vread,
search, totals, includes, revincludes, chains, `_has`, history and conditional matching;
see DESIGN.md "Access policy becomes part of the SQL of every read"."""

from __future__ import annotations

import pytest
from tests.contract.conftest import ids, search

from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.fhir.search.parse import parse_criteria
from yilian.store.base import DEFAULT_PARTITION, HistoryRequest, Partition, Repository, Scope

pytestmark = pytest.mark.anyio

ALL = Scope.everything()
A = Scope.partition("a")
B = Scope.partition("b")


async def test_add_list_remove(repo: Repository) -> None:
    await repo.add_partition(Partition("county", "County Hospital", "org-county"))
    await repo.add_partition(Partition("town-1", "Township Centre 1"))
    listed = await repo.list_partitions()
    assert listed == [
        Partition("county", "County Hospital", "org-county"),
        Partition(DEFAULT_PARTITION, "Alliance-wide default partition", None),
        Partition("town-1", "Township Centre 1", None),
    ]
    with pytest.raises(OutcomeError) as err:
        await repo.add_partition(Partition("county", "Again"))
    assert err.value.kind == Outcome.CONFLICT
    with pytest.raises(OutcomeError) as err:
        await repo.add_partition(Partition("Bad Code", "x"))
    assert err.value.kind == Outcome.BAD_REQUEST
    await repo.remove_partition("town-1")
    assert [p.code for p in await repo.list_partitions()] == ["county", DEFAULT_PARTITION]
    with pytest.raises(OutcomeError) as err:
        await repo.remove_partition("town-1")
    assert err.value.kind == Outcome.NOT_FOUND
    with pytest.raises(OutcomeError) as err:
        await repo.remove_partition(DEFAULT_PARTITION)
    assert err.value.kind == Outcome.CONFLICT


async def test_remove_refuses_while_resources_remain(repo: Repository) -> None:
    await repo.add_partition(Partition("county", "County Hospital", "org-county"))
    async with repo.transaction() as s:
        await s.create({"resourceType": "Organization", "name": "County"}, "county", id="org-county")
        await s.create({"resourceType": "Patient"}, "county", id="pc")
    with pytest.raises(OutcomeError) as err:
        await repo.remove_partition("county")
    assert err.value.kind == Outcome.CONFLICT
    async with repo.transaction() as s:
        await s.delete("Patient", "pc", ALL)
    await repo.remove_partition("county")  # only its own Organization is left
    assert "county" not in [p.code for p in await repo.list_partitions()]


@pytest.fixture
async def split(repo: Repository) -> Repository:
    """Partition a: patient pa with an observation oa; partition b: patient pb with ob, and
    ob2 in b pointing at pa in a (a cross-institution reference)."""
    for code in ("a", "b"):
        await repo.add_partition(Partition(code, code.upper()))
    async with repo.transaction() as s:
        await s.create({"resourceType": "Patient", "name": [{"family": "Alpha"}]}, "a", id="pa")
        await s.create(_obs("pa"), "a", id="oa")
        await s.create({"resourceType": "Patient", "name": [{"family": "Beta"}]}, "b", id="pb")
        await s.create(_obs("pb"), "b", id="ob")
        await s.create(_obs("pa"), "b", id="ob2")
    return repo


def _obs(patient: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient}"},
    }


async def test_read_vread_outside_scope_is_not_found(split: Repository) -> None:
    async with split.transaction(read_only=True) as s:
        assert (await s.read("Patient", "pa", A)).partition == "a"
        assert (await s.read("Patient", "pa", ALL)).id == "pa"
        for call in (s.read("Patient", "pa", B), s.vread("Patient", "pa", 1, B)):
            with pytest.raises(OutcomeError) as err:
                await call
            assert err.value.kind == Outcome.NOT_FOUND


async def test_search_and_total_respect_scope(split: Repository) -> None:
    assert await ids(split, "Patient", [], ALL) == {"pa", "pb"}
    assert await ids(split, "Patient", [], B) == {"pb"}
    result = await search(split, "Observation", [("code", "8867-4")], A)
    assert [m.id for m in result.matches] == ["oa"] and result.total == 1
    count = await search(split, "Patient", [("_summary", "count")], B)
    assert count.total == 1
    both = Scope(frozenset({"a", "b"}))
    assert await ids(split, "Observation", [], both) == {"oa", "ob", "ob2"}
    assert await ids(split, "Observation", [], Scope(frozenset())) == set()


async def test_chain_and_has_do_not_see_through_scope(split: Repository) -> None:
    # ob2 (in b) points at pa (in a): from b the chain target is invisible.
    assert await ids(split, "Observation", [("subject:Patient.name", "alpha")], ALL) == {"oa", "ob2"}
    assert await ids(split, "Observation", [("subject:Patient.name", "alpha")], B) == set()
    assert await ids(split, "Observation", [("subject:Patient.name", "alpha")], A) == {"oa"}
    # pa has observations in a and b; from a, only oa counts for _has.
    assert await ids(split, "Patient", [("_has:Observation:subject:code", "8867-4")], A) == {"pa"}
    assert await ids(split, "Patient", [("_has:Observation:subject:code", "8867-4")], B) == {"pb"}


async def test_includes_respect_scope(split: Repository) -> None:
    inc = await search(split, "Observation", [("_id", "ob2"), ("_include", "Observation:subject")], B)
    assert [m.id for m in inc.matches] == ["ob2"] and inc.included == []
    inc_all = await search(split, "Observation", [("_id", "ob2"), ("_include", "Observation:subject")], ALL)
    assert [r.id for r in inc_all.included] == ["pa"]
    rev = await search(split, "Patient", [("_id", "pa"), ("_revinclude", "Observation:subject")], A)
    assert [r.id for r in rev.included] == ["oa"]
    rev_all = await search(split, "Patient", [("_id", "pa"), ("_revinclude", "Observation:subject")], ALL)
    assert sorted(r.id for r in rev_all.included) == ["oa", "ob2"]


async def test_history_and_conditionals_respect_scope(split: Repository) -> None:
    async with split.transaction() as s:
        assert (await s.history(HistoryRequest(), B)).total == 3
        assert {e.id for e in (await s.history(HistoryRequest("Patient"), A)).entries} == {"pa"}
        with pytest.raises(OutcomeError) as err:
            await s.history(HistoryRequest("Patient", "pa"), B)
        assert err.value.kind == Outcome.NOT_FOUND
        assert await s.resolve_ids("Patient", parse_criteria("Patient", "name=alpha"), B) == []
        assert await s.resolve_ids("Patient", parse_criteria("Patient", "name=alpha"), A) == ["pa"]


async def test_writes_respect_scope_and_keep_the_partition(split: Repository) -> None:
    async with split.transaction() as s:
        with pytest.raises(OutcomeError) as err:
            await s.update({"resourceType": "Patient", "id": "pa", "gender": "male"}, "b", scope=B)
        assert err.value.kind == Outcome.NOT_FOUND
        assert await s.delete("Patient", "pa", B) is None
        # An allowed update written through another partition's base stays in its partition.
        moved, created = await s.update(
            {"resourceType": "Patient", "id": "pa", "gender": "male"}, "b", scope=ALL
        )
        assert not created and moved.partition == "a"
        assert (await s.read("Patient", "pa", A)).version == 2
