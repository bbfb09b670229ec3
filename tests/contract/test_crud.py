"""Create, read, vread, update, delete: versions, meta, ids, preconditions, transactions
(http://hl7.org/fhir/R4/http.html).  Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import anyio
import orjson
import pytest

from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.fhir.search.parse import parse_criteria
from yilian.store.base import (
    DEFAULT_PARTITION,
    HistoryRequest,
    Repository,
    Scope,
    conditional_create,
    conditional_delete,
    conditional_update,
)

pytestmark = pytest.mark.anyio

ALL = Scope.everything()
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")


def patient(family: str = "Zhang", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


async def test_create_assigns_uuid_version_and_meta_keeping_tags(repo: Repository) -> None:
    meta = {
        "tag": [{"system": "urn:t", "code": "x"}],
        "profile": ["http://p"],
        "source": "urn:his",
        "versionId": "9",
    }
    async with repo.transaction() as s:
        created = await s.create(patient(meta=meta, gender="male"), DEFAULT_PARTITION)
    assert UUID4.fullmatch(created.id)
    assert created.version == 1 and INSTANT.fullmatch(created.last_updated)
    body = created.json()
    assert body["id"] == created.id
    assert body["meta"] == {
        "tag": meta["tag"],
        "profile": ["http://p"],
        "source": "urn:his",
        "versionId": "1",
        "lastUpdated": created.last_updated,
    }
    assert body["gender"] == "male"
    async with repo.transaction(read_only=True) as s:
        read = await s.read("Patient", created.id, ALL)
    assert read.content == created.content  # the stored bytes come back untouched
    assert read.partition == DEFAULT_PARTITION and not read.deleted


async def test_create_with_existing_id_conflicts_even_when_deleted(repo: Repository) -> None:
    async with repo.transaction() as s:
        await s.create(patient(), DEFAULT_PARTITION, id="a1")
    with pytest.raises(OutcomeError) as err:
        async with repo.transaction() as s:
            await s.create(patient(), DEFAULT_PARTITION, id="a1")
    assert err.value.kind == Outcome.CONFLICT
    async with repo.transaction() as s:
        await s.delete("Patient", "a1", ALL)
    with pytest.raises(OutcomeError) as err:
        async with repo.transaction() as s:
            await s.create(patient(), DEFAULT_PARTITION, id="a1")
    assert err.value.kind == Outcome.CONFLICT
    # The same id on another type is a different resource.
    async with repo.transaction() as s:
        other = await s.create({"resourceType": "Organization", "name": "X"}, DEFAULT_PARTITION, id="a1")
    assert other.version == 1


async def test_update_versions_and_vread(repo: Repository) -> None:
    async with repo.transaction() as s:
        v1 = await s.create(patient("Zhang"), DEFAULT_PARTITION)
        v2, created = await s.update(
            {**v1.json(), "name": [{"family": "Zhao"}]}, DEFAULT_PARTITION, scope=ALL
        )
    assert not created and v2.version == 2 and v2.id == v1.id
    assert v2.json()["meta"]["versionId"] == "2"
    assert v2.last_updated >= v1.last_updated
    async with repo.transaction(read_only=True) as s:
        assert (await s.read("Patient", v1.id, ALL)).json()["name"] == [{"family": "Zhao"}]
        old = await s.vread("Patient", v1.id, 1, ALL)
        assert old.content == v1.content
        assert (await s.vread("Patient", v1.id, 2, ALL)).content == v2.content
        with pytest.raises(OutcomeError) as err:
            await s.vread("Patient", v1.id, 3, ALL)
        assert err.value.kind == Outcome.NOT_FOUND


async def test_update_as_create_with_client_id(repo: Repository) -> None:
    async with repo.transaction() as s:
        stored, created = await s.update(patient(id="client-1"), DEFAULT_PARTITION, scope=ALL)
    assert created and stored.id == "client-1" and stored.version == 1
    async with repo.transaction() as s:
        again, created = await s.update(patient("Li", id="client-1"), DEFAULT_PARTITION, scope=ALL)
    assert not created and again.version == 2


async def test_update_without_id_is_invalid(repo: Repository) -> None:
    with pytest.raises(OutcomeError) as err:
        async with repo.transaction() as s:
            await s.update(patient(), DEFAULT_PARTITION, scope=ALL)
    assert err.value.kind == Outcome.BAD_REQUEST


async def test_if_match_mismatch_is_precondition_failed(repo: Repository) -> None:
    async with repo.transaction() as s:
        v1 = await s.create(patient(), DEFAULT_PARTITION)
        await s.update({**v1.json(), "gender": "other"}, DEFAULT_PARTITION, if_match=1, scope=ALL)
    with pytest.raises(OutcomeError) as err:
        async with repo.transaction() as s:
            await s.update(v1.json(), DEFAULT_PARTITION, if_match=1, scope=ALL)
    assert err.value.kind == Outcome.PRECONDITION_FAILED
    async with repo.transaction() as s:
        v3, _ = await s.update(v1.json(), DEFAULT_PARTITION, if_match=2, scope=ALL)
    assert v3.version == 3


async def test_delete_then_read_is_gone_and_update_revives(repo: Repository) -> None:
    async with repo.transaction() as s:
        v1 = await s.create(patient(), DEFAULT_PARTITION)
        gone = await s.delete("Patient", v1.id, ALL)
    assert gone is not None and gone.deleted and gone.version == 2 and gone.content == b""
    async with repo.transaction() as s:
        with pytest.raises(OutcomeError) as err:
            await s.read("Patient", v1.id, ALL)
        assert err.value.kind == Outcome.GONE
        with pytest.raises(OutcomeError) as err:
            await s.vread("Patient", v1.id, 2, ALL)
        assert err.value.kind == Outcome.GONE
        assert (await s.vread("Patient", v1.id, 1, ALL)).content == v1.content
        # Deleting again, or deleting what never existed, is a no-op.
        assert await s.delete("Patient", v1.id, ALL) is None
        assert await s.delete("Patient", "nope", ALL) is None
        with pytest.raises(OutcomeError) as err:
            await s.read("Patient", "nope", ALL)
        assert err.value.kind == Outcome.NOT_FOUND
        # Deleted resources leave the search index.
        assert await s.resolve_ids("Patient", parse_criteria("Patient", "family=Zhang"), ALL) == []
        revived, created = await s.update(patient("Zhang", id=v1.id), DEFAULT_PARTITION, scope=ALL)
    assert not created and revived.version == 3
    async with repo.transaction(read_only=True) as s:
        assert (await s.read("Patient", v1.id, ALL)).version == 3
        assert await s.resolve_ids("Patient", parse_criteria("Patient", "family=Zhang"), ALL) == [v1.id]
        page = await s.history(HistoryRequest("Patient", v1.id), ALL)
    assert [(e.version, e.deleted, e.method) for e in page.entries] == [
        (3, False, "PUT"),
        (2, True, "DELETE"),
        (1, False, "POST"),
    ]


async def test_transaction_rolls_back_on_exception(repo: Repository) -> None:
    class Boom(Exception):
        pass

    async with repo.transaction() as s:
        kept = await s.create(patient("Kept"), DEFAULT_PARTITION)
    with pytest.raises(Boom):
        async with repo.transaction() as s:
            await s.create(patient("Lost"), DEFAULT_PARTITION, id="lost")
            await s.update(patient("Changed", id=kept.id), DEFAULT_PARTITION, scope=ALL)
            await s.delete("Patient", kept.id, ALL)
            raise Boom
    async with repo.transaction(read_only=True) as s:
        with pytest.raises(OutcomeError):
            await s.read("Patient", "lost", ALL)
        current = await s.read("Patient", kept.id, ALL)
        assert current.version == 1 and current.json()["name"] == [{"family": "Kept"}]
        assert await s.resolve_ids("Patient", parse_criteria("Patient", "family=Lost"), ALL) == []
        assert await s.resolve_ids("Patient", parse_criteria("Patient", "family=Changed"), ALL) == []
        page = await s.history(HistoryRequest("Patient"), ALL)
    assert page.total == 1
    # The repository still works after the rollback.
    async with repo.transaction() as s:
        await s.create(patient("After"), DEFAULT_PARTITION, id="lost")


async def test_conditional_create(repo: Repository) -> None:
    ident = {"identifier": [{"system": "urn:mrn", "value": "42"}]}
    criteria = parse_criteria("Patient", "identifier=urn:mrn|42")
    async with repo.transaction() as s:
        first, created = await conditional_create(s, patient(**ident), DEFAULT_PARTITION, criteria, ALL)
        assert created
        second, created = await conditional_create(s, patient(**ident), DEFAULT_PARTITION, criteria, ALL)
        assert not created and second.id == first.id
        await s.create(patient(**ident), DEFAULT_PARTITION)
        with pytest.raises(OutcomeError) as err:
            await conditional_create(s, patient(**ident), DEFAULT_PARTITION, criteria, ALL)
    assert err.value.kind == Outcome.PRECONDITION_FAILED


async def test_conditional_update_and_delete(repo: Repository) -> None:
    criteria = parse_criteria("Patient", [("identifier", "urn:mrn|7")])
    body = patient("Wang", identifier=[{"system": "urn:mrn", "value": "7"}])
    async with repo.transaction() as s:
        made, created = await conditional_update(s, body, DEFAULT_PARTITION, criteria, ALL)
        assert created and made.version == 1
        changed, created = await conditional_update(
            s, {**body, "gender": "female"}, DEFAULT_PARTITION, criteria, ALL
        )
        assert not created and changed.id == made.id and changed.version == 2
        removed = await conditional_delete(s, "Patient", criteria, ALL)
        assert removed is not None and removed.deleted and removed.id == made.id
        assert await conditional_delete(s, "Patient", criteria, ALL) is None


async def test_resolve_ids_returns_at_most_two(repo: Repository) -> None:
    async with repo.transaction() as s:
        for _ in range(4):
            await s.create(patient("Same"), DEFAULT_PARTITION)
        found = await s.resolve_ids("Patient", parse_criteria("Patient", "family=Same"), ALL)
    assert len(found) == 2


async def test_concurrent_if_match_updates_exactly_one_wins(repo: Repository) -> None:
    async with repo.transaction() as s:
        base = await s.create(patient("Race"), DEFAULT_PARTITION)
    outcomes: list[str] = []

    async def writer(family: str) -> None:
        try:
            async with repo.transaction() as s:
                await s.update(patient(family, id=base.id), DEFAULT_PARTITION, if_match=1, scope=ALL)
            outcomes.append("ok")
        except OutcomeError as exc:
            assert exc.kind == Outcome.PRECONDITION_FAILED
            outcomes.append("412")

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer, "Alpha")
        tg.start_soon(writer, "Beta")
    assert sorted(outcomes) == ["412", "ok"]
    async with repo.transaction(read_only=True) as s:
        page = await s.history(HistoryRequest("Patient", base.id), ALL)
        current = await s.read("Patient", base.id, ALL)
    assert [e.version for e in page.entries] == [2, 1]
    assert current.version == 2 and current.json()["meta"]["versionId"] == "2"


async def test_concurrent_unconditional_updates_keep_versions_contiguous(repo: Repository) -> None:
    async with repo.transaction() as s:
        base = await s.create(patient("Many"), DEFAULT_PARTITION)

    async def writer(n: int) -> None:
        async with repo.transaction() as s:
            await s.update(patient(f"W{n}", id=base.id), DEFAULT_PARTITION, scope=ALL)

    async with anyio.create_task_group() as tg:
        for n in range(6):
            tg.start_soon(writer, n)
    async with repo.transaction(read_only=True) as s:
        page = await s.history(HistoryRequest("Patient", base.id), ALL)
    assert sorted(e.version for e in page.entries) == list(range(1, 8))
    assert [orjson.loads(e.content)["meta"]["versionId"] for e in page.entries] == [
        str(e.version) for e in page.entries
    ]


async def test_nul_characters_never_crash(repo: Repository) -> None:
    """PostgreSQL text cannot hold NUL: index values drop it, a query with it is bad input
    (or simply matches nothing), never a server error."""
    async with repo.transaction() as s:
        made = await s.create(patient("Nu\x00ll"), DEFAULT_PARTITION)
        assert made.json()["name"] == [{"family": "Nu\x00ll"}]  # the stored JSON keeps it
        assert await s.resolve_ids("Patient", parse_criteria("Patient", "family=Null"), ALL) == [made.id]
    try:
        async with repo.transaction(read_only=True) as s:
            found = await s.resolve_ids("Patient", parse_criteria("Patient", "family=Nu%00ll"), ALL)
        assert found == []
    except OutcomeError as exc:
        assert exc.kind == Outcome.BAD_REQUEST


async def test_an_update_that_changes_nothing_keeps_the_version(repo: Repository) -> None:
    """HAPI's no-op update: the same content again (a re-sent message, a re-imported file) is
    answered with the current version, and history does not grow; a real change still does."""
    async with repo.transaction() as s:
        v1 = await s.create(patient(), DEFAULT_PARTITION)
    async with repo.transaction() as s:
        again, created = await s.update(v1.json(), DEFAULT_PARTITION, scope=ALL)
    assert (again.version, created) == (1, False)
    assert again.json() == v1.json()
    async with repo.transaction(read_only=True) as s:
        page = await s.history(HistoryRequest(resource_type="Patient", id=v1.id), ALL)
    assert [e.version for e in page.entries] == [1]
    async with repo.transaction() as s:
        v2, _ = await s.update({**v1.json(), "gender": "other"}, DEFAULT_PARTITION, scope=ALL)
    assert v2.version == 2
