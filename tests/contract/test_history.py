"""History of an instance, a type and the system, with `_since`, `_at` and paging
(http://hl7.org/fhir/R4/http.html#history)."""

from __future__ import annotations

import pytest

from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.store.base import DEFAULT_PARTITION, HistoryRequest, Repository, Scope, StoredResource

pytestmark = pytest.mark.anyio

ALL = Scope.everything()


def _key(stored: StoredResource) -> str:
    """The normalised form `since` takes: UTC, fixed width, no zone."""
    return stored.last_updated.removesuffix("+00:00")


@pytest.fixture
async def timeline(repo: Repository) -> list[StoredResource]:
    """Seven versions in a known order: p1 v1, o1 v1, p1 v2, p2 v1, o1 deleted, p1 v3, org v1."""
    out: list[StoredResource] = []
    async with repo.transaction() as s:
        out.append(
            await s.create({"resourceType": "Patient", "name": [{"family": "A"}]}, DEFAULT_PARTITION, id="p1")
        )
        out.append(
            await s.create(
                {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
                DEFAULT_PARTITION,
                id="o1",
            )
        )
    async with repo.transaction() as s:
        out.append(
            (
                await s.update(
                    {"resourceType": "Patient", "id": "p1", "name": [{"family": "B"}]},
                    DEFAULT_PARTITION,
                    scope=ALL,
                )
            )[0]
        )
        out.append(await s.create({"resourceType": "Patient"}, DEFAULT_PARTITION, id="p2"))
        deleted = await s.delete("Observation", "o1", ALL)
        assert deleted is not None
        out.append(deleted)
        out.append(
            (
                await s.update(
                    {"resourceType": "Patient", "id": "p1", "name": [{"family": "C"}]},
                    DEFAULT_PARTITION,
                    scope=ALL,
                )
            )[0]
        )
        out.append(
            await s.create({"resourceType": "Organization", "name": "Org"}, DEFAULT_PARTITION, id="g1")
        )
    return out


def _refs(entries: list[StoredResource]) -> list[str]:
    return [f"{e.resource_type}/{e.id}/{e.version}" for e in entries]


async def test_instance_history_newest_first(repo: Repository, timeline: list[StoredResource]) -> None:
    async with repo.transaction(read_only=True) as s:
        page = await s.history(HistoryRequest("Patient", "p1"), ALL)
    assert _refs(page.entries) == ["Patient/p1/3", "Patient/p1/2", "Patient/p1/1"]
    assert page.total == 3
    assert [e.json()["name"][0]["family"] for e in page.entries] == ["C", "B", "A"]
    assert page.entries[0].content == timeline[5].content


async def test_type_and_system_history(repo: Repository, timeline: list[StoredResource]) -> None:
    async with repo.transaction(read_only=True) as s:
        patients = await s.history(HistoryRequest("Patient"), ALL)
        everything = await s.history(HistoryRequest(), ALL)
    assert _refs(patients.entries) == ["Patient/p1/3", "Patient/p2/1", "Patient/p1/2", "Patient/p1/1"]
    assert _refs(everything.entries) == _refs(list(reversed(timeline)))
    assert everything.total == 7
    deletion = everything.entries[2]
    assert deletion.deleted and deletion.method == "DELETE" and deletion.content == b""


async def test_since_count_and_offset(repo: Repository, timeline: list[StoredResource]) -> None:
    since = _key(timeline[3])
    async with repo.transaction(read_only=True) as s:
        recent = await s.history(HistoryRequest(since=since), ALL)
        first = await s.history(HistoryRequest(count=3), ALL)
        second = await s.history(HistoryRequest(count=3, offset=3), ALL)
        p1_since = await s.history(HistoryRequest("Patient", "p1", since=since), ALL)
    assert _refs(recent.entries) == _refs(list(reversed(timeline[3:])))
    assert recent.total == 4
    assert len(first.entries) == 3 and first.total == 7
    assert _refs(first.entries + second.entries) == _refs(list(reversed(timeline)))[:6]
    assert _refs(p1_since.entries) == ["Patient/p1/3"]


async def test_at_gives_the_version_current_then(repo: Repository, timeline: list[StoredResource]) -> None:
    at = _key(timeline[2])  # p1 v2 was just written; o1 still live
    async with repo.transaction(read_only=True) as s:
        page = await s.history(HistoryRequest(at=at), ALL)
    assert sorted(_refs(page.entries)) == ["Observation/o1/1", "Patient/p1/2"]


async def test_unknown_instance_history_is_not_found(
    repo: Repository, timeline: list[StoredResource]
) -> None:
    with pytest.raises(OutcomeError) as err:
        async with repo.transaction(read_only=True) as s:
            await s.history(HistoryRequest("Patient", "nobody"), ALL)
    assert err.value.kind == Outcome.NOT_FOUND
