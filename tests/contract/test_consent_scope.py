"""Consent grants in the Scope: the patient-compartment index on every read path.

Institution `a` reads with a grant on patient p1, whose records live in institution `b`.  The
grant must open p1's compartment in `b` (and nothing else) in read, vread, search, totals,
`_include`, `_revinclude`, chains, `_has`, history and conditional matching; excluded labels
and types must stay hidden at every version; writes never use grants.  Both backends.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.contract.conftest import ids, search

from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.fhir.search.parse import parse_criteria
from yilian.store.base import ConsentGrant, HistoryRequest, Partition, Repository, Scope
from yilian.store.factory import open_repository
from yilian.store.sql.schema import MIGRATIONS

pytestmark = pytest.mark.anyio

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ALL = Scope.everything()
P1 = ConsentGrant(frozenset({"p1"}))
GRANTED = Scope(frozenset({"a"}), (P1,))
NO_PSY = Scope(frozenset({"a"}), (ConsentGrant(frozenset({"p1"}), frozenset({"PSY"})),))


def _obs(subject: str, code: str, *, psy: bool = False, performer: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{subject}"},
    }
    if psy:
        body["meta"] = {"security": [{"system": ACT, "code": "PSY"}]}
    if performer:
        body["performer"] = [{"reference": f"Practitioner/{performer}"}]
    return body


async def _load(repo: Repository) -> None:
    """b: p1 (granted) and p2 with their records; a: its own patient pa and o4 about p1,
    o5 about p2 (visible to `a` as its own rows, but their chain targets in b are not)."""
    await repo.add_partition(Partition("a", "A"))
    await repo.add_partition(Partition("b", "B"))
    async with repo.transaction() as s:
        await s.create({"resourceType": "Patient", "name": [{"family": "One"}]}, "b", id="p1")
        await s.create({"resourceType": "Patient", "name": [{"family": "Two"}]}, "b", id="p2")
        await s.create({"resourceType": "Practitioner", "name": [{"family": "Doc"}]}, "b", id="dr")
        await s.create(_obs("p1", "1", performer="dr"), "b", id="o1")
        await s.create(_obs("p1", "2", psy=True), "b", id="o2")
        await s.create(_obs("p2", "3"), "b", id="o3")
        await s.create(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": "Patient/p1"},
            },
            "b",
            id="e1",
        )
        await s.create({"resourceType": "Patient", "name": [{"family": "Own"}]}, "a", id="pa")
        await s.create(_obs("p1", "4"), "a", id="o4")
        await s.create(_obs("p2", "5"), "a", id="o5")


@pytest.fixture
async def consent_repo(repo: Repository) -> Repository:
    await _load(repo)
    return repo


async def test_grant_opens_the_compartment_and_nothing_else(consent_repo: Repository) -> None:
    repo = consent_repo
    assert await ids(repo, "Observation", [], GRANTED) == {"o1", "o2", "o4", "o5"}
    assert (await search(repo, "Observation", [], GRANTED)).total == 4
    assert await ids(repo, "Patient", [], GRANTED) == {"p1", "pa"}
    assert await ids(repo, "Encounter", [], GRANTED) == {"e1"}
    assert await ids(repo, "Practitioner", [], GRANTED) == set()  # not in any compartment
    assert await ids(repo, "Observation", [], Scope.partition("a")) == {"o4", "o5"}
    async with repo.transaction(read_only=True) as s:
        assert (await s.read("Observation", "o1", GRANTED)).partition == "b"
        for hidden in ("o3", "dr"):
            rtype = "Observation" if hidden == "o3" else "Practitioner"
            with pytest.raises(OutcomeError) as err:
                await s.read(rtype, hidden, GRANTED)
            assert err.value.kind == Outcome.NOT_FOUND


async def test_excluded_labels(consent_repo: Repository) -> None:
    repo = consent_repo
    assert await ids(repo, "Observation", [], NO_PSY) == {"o1", "o4", "o5"}
    assert (await search(repo, "Observation", [], NO_PSY)).total == 3
    exact = Scope(frozenset({"a"}), (ConsentGrant(frozenset({"p1"}), frozenset({f"{ACT}|PSY"})),))
    assert await ids(repo, "Observation", [], exact) == {"o1", "o4", "o5"}
    other_system = Scope(frozenset({"a"}), (ConsentGrant(frozenset({"p1"}), frozenset({"urn:x|PSY"})),))
    assert await ids(repo, "Observation", [], other_system) == {"o1", "o2", "o4", "o5"}
    async with repo.transaction(read_only=True) as s:
        with pytest.raises(OutcomeError):
            await s.read("Observation", "o2", NO_PSY)
        assert await s.resolve_ids("Observation", parse_criteria("Observation", "code=2"), NO_PSY) == []
        assert await s.resolve_ids("Observation", parse_criteria("Observation", "code=2"), GRANTED) == ["o2"]


async def test_includes_chains_and_has_respect_the_grant(consent_repo: Repository) -> None:
    repo = consent_repo
    found = await search(
        repo,
        "Observation",
        [("_include", "Observation:performer"), ("_include", "Observation:subject")],
        GRANTED,
    )
    assert {m.id for m in found.matches} == {"o1", "o2", "o4", "o5"}
    assert {i.id for i in found.included} == {"p1"}  # neither dr nor p2 (b, not granted)
    rev = await search(repo, "Patient", [("_id", "p1,p2"), ("_revinclude", "Observation:subject")], NO_PSY)
    assert {m.id for m in rev.matches} == {"p1"}
    assert {i.id for i in rev.included} == {"o1", "o4"}  # o2 excluded, o3 / o5 are p2's
    # o5 is a's own row, but its subject p2 lies outside the grant: the chain cannot see it.
    assert await ids(repo, "Observation", [("subject.family", "Two")], GRANTED) == set()
    assert await ids(repo, "Observation", [("subject.family", "Two")], ALL) == {"o3", "o5"}
    assert await ids(repo, "Observation", [("subject.family", "One")], GRANTED) == {"o1", "o2", "o4"}
    assert await ids(repo, "Patient", [("_has:Observation:subject:code", "2")], GRANTED) == {"p1"}
    assert await ids(repo, "Patient", [("_has:Observation:subject:code", "2")], NO_PSY) == set()
    assert await ids(repo, "Patient", [("_has:Observation:subject:code", "3")], GRANTED) == set()


async def test_every_version_is_checked_on_its_own(consent_repo: Repository) -> None:
    repo = consent_repo
    async with repo.transaction() as s:
        unlabelled = {**_obs("p1", "2"), "id": "o2"}
        await s.update(unlabelled, "b", scope=ALL)  # o2 v2 no longer carries PSY
        moved = {**_obs("p2", "1"), "id": "o1"}
        await s.update(moved, "b", scope=ALL)  # o1 v2 belongs to p2
    async with repo.transaction(read_only=True) as s:
        assert (await s.vread("Observation", "o2", 2, NO_PSY)).version == 2
        with pytest.raises(OutcomeError):
            await s.vread("Observation", "o2", 1, NO_PSY)  # it carried PSY then
        assert (await s.vread("Observation", "o1", 1, GRANTED)).version == 1
        with pytest.raises(OutcomeError):
            await s.vread("Observation", "o1", 2, GRANTED)  # p2's now
        with pytest.raises(OutcomeError):
            await s.read("Observation", "o1", GRANTED)
        page = await s.history(HistoryRequest("Observation", "o2"), NO_PSY)
        assert [(e.id, e.version) for e in page.entries] == [("o2", 2)] and page.total == 1
        page = await s.history(HistoryRequest("Observation", "o1"), GRANTED)
        assert [(e.id, e.version) for e in page.entries] == [("o1", 1)]
        with pytest.raises(OutcomeError) as err:
            await s.history(HistoryRequest("Observation", "o3"), GRANTED)
        assert err.value.kind == Outcome.NOT_FOUND
        typed = await s.history(HistoryRequest("Observation"), NO_PSY)
        assert sorted((e.id, e.version) for e in typed.entries) == [
            ("o1", 1),
            ("o2", 2),
            ("o4", 1),
            ("o5", 1),
        ]
        assert typed.total == 4
        system = await s.history(HistoryRequest(), Scope(frozenset(), (P1,)))
        assert sorted((e.resource_type, e.id, e.version) for e in system.entries) == [
            ("Encounter", "e1", 1),
            ("Observation", "o1", 1),
            ("Observation", "o2", 1),
            ("Observation", "o2", 2),
            ("Observation", "o4", 1),
            ("Patient", "p1", 1),
        ]


async def test_deleted_versions_stay_outside_grants(consent_repo: Repository) -> None:
    async with consent_repo.transaction() as s:
        await s.delete("Encounter", "e1", ALL)
    async with consent_repo.transaction(read_only=True) as s:
        with pytest.raises(OutcomeError) as err:
            await s.read("Encounter", "e1", GRANTED)
        assert err.value.kind == Outcome.NOT_FOUND  # not even "gone": the deletion is not shown
        page = await s.history(HistoryRequest("Encounter", "e1"), GRANTED)
        assert [e.version for e in page.entries] == [1]


async def test_types_partitions_and_excluded_types(consent_repo: Repository) -> None:
    repo = consent_repo
    patients_only = Scope(frozenset({"a"}), (P1,), types=frozenset({"Patient"}))
    assert await ids(repo, "Observation", [], patients_only) == set()
    rev = await search(repo, "Patient", [("_revinclude", "Observation:subject")], patients_only)
    assert {m.id for m in rev.matches} == {"p1", "pa"} and rev.included == []
    inside_a = Scope(frozenset(), (ConsentGrant(frozenset({"p1"}), partitions=frozenset({"a"})),))
    assert await ids(repo, "Observation", [], inside_a) == {"o4"}
    no_obs = Scope(frozenset(), (ConsentGrant(frozenset({"p1"}), excluded_types=frozenset({"Observation"})),))
    assert await ids(repo, ["Observation", "Encounter", "Patient"], [], no_obs) == {"e1", "p1"}
    async with repo.transaction(read_only=True) as s:
        page = await s.history(HistoryRequest("Observation"), no_obs)
        assert page.entries == [] and page.total == 0


async def test_empty_scope_sees_nothing_and_writes_ignore_grants(consent_repo: Repository) -> None:
    repo = consent_repo
    for empty in (Scope(frozenset()), Scope(frozenset(), (ConsentGrant(frozenset()),))):
        assert await ids(repo, ["Observation", "Patient"], [], empty) == set()
        assert (await search(repo, "Observation", [], empty)).total == 0
    async with repo.transaction() as s:
        with pytest.raises(OutcomeError) as err:
            await s.update({**_obs("p1", "9"), "id": "o1"}, "a", scope=GRANTED)
        assert err.value.kind == Outcome.NOT_FOUND
        assert await s.delete("Observation", "o1", GRANTED) is None
    assert await ids(repo, "Observation", [("code", "1")], ALL) == {"o1"}


async def test_migration_3_backfills_current_versions(blank_store_url: str) -> None:
    old = open_repository(blank_store_url, migrations=MIGRATIONS[:2])
    await old.open()
    try:
        await _load(old)
    finally:
        await old.close()
    new = open_repository(blank_store_url)
    await new.open()
    try:
        assert await ids(new, "Observation", [], NO_PSY) == {"o1", "o4", "o5"}
        assert await ids(new, "Patient", [], Scope(frozenset(), (P1,))) == {"p1"}
    finally:
        await new.close()
