"""Creates are queued and written in one go (store/sql/session.py); these tests pin what a
caller must not be able to tell apart from writing at once.  Each runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest

from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.fhir.search.parse import parse_search
from yilian.store.base import DEFAULT_PARTITION, HistoryRequest, Repository, Scope

pytestmark = pytest.mark.anyio

ALL = Scope.everything()


async def test_reads_in_the_same_transaction_see_queued_creates(repo: Repository) -> None:
    async with repo.transaction() as s:
        made = [
            await s.create({"resourceType": "Patient", "name": [{"family": f"Wang{i}"}]}, DEFAULT_PARTITION)
            for i in range(1203)  # more than one flush chunk
        ]
        found = await s.search(parse_search(["Patient"], [("name", "wang12"), ("_count", "1000")]), ALL)
        assert {m.id for m in found.matches} == {
            m.id for m in made if "Wang12" in m.json()["name"][0]["family"]
        }
        assert (await s.read("Patient", made[-1].id, ALL)).content == made[-1].content
        updated, created = await s.update(
            {**made[0].json(), "gender": "female"}, DEFAULT_PARTITION, scope=ALL
        )
        assert not created and updated.version == 2
    async with repo.transaction(read_only=True) as s:
        total = (await s.search(parse_search(["Patient"], [("_summary", "count")]), ALL)).total
        history = await s.history(HistoryRequest("Patient", made[0].id), ALL)
    assert total == 1203
    assert [e.version for e in history.entries] == [2, 1]


async def test_an_existing_id_fails_the_transaction_and_writes_nothing(repo: Repository) -> None:
    async with repo.transaction() as s:
        await s.create({"resourceType": "Patient"}, DEFAULT_PARTITION, id="p-1")
    with pytest.raises(OutcomeError) as err:
        async with repo.transaction() as s:
            await s.create({"resourceType": "Patient", "gender": "male"}, DEFAULT_PARTITION, id="p-2")
            await s.create({"resourceType": "Patient", "gender": "male"}, DEFAULT_PARTITION, id="p-1")
    assert err.value.kind is Outcome.CONFLICT and "Patient/p-1" in str(err.value)
    async with repo.transaction(read_only=True) as s:
        with pytest.raises(OutcomeError) as missing:
            await s.read("Patient", "p-2", ALL)
        assert missing.value.kind is Outcome.NOT_FOUND
        assert "gender" not in (await s.read("Patient", "p-1", ALL)).json()


async def test_the_same_id_twice_in_one_transaction_is_a_conflict_at_once(repo: Repository) -> None:
    with pytest.raises(OutcomeError) as err:
        async with repo.transaction() as s:
            await s.create({"resourceType": "Patient"}, DEFAULT_PARTITION, id="twice")
            await s.create({"resourceType": "Patient"}, DEFAULT_PARTITION, id="twice")
    assert err.value.kind is Outcome.CONFLICT
    async with repo.transaction(read_only=True) as s:
        assert (await s.search(parse_search(["Patient"], [("_summary", "count")]), ALL)).total == 0
