"""The store keeps decimals as written through the paths that rebuild a resource's JSON:
identifier encryption at rest (encode, decode, key rotation) and bulk loads, on both
backends; and a bulk load that only changes a decimal's precision writes a new version."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.contract.test_encrypted_identifiers import K1, K2, codec, opened, stored_content

from yilian.fhir import jsontext
from yilian.privacy.encryption import RESIDENT_ID_SYSTEM
from yilian.store.base import DEFAULT_PARTITION, HistoryRequest, Repository, Scope
from yilian.store.sql.repository import SqlRepository

pytestmark = pytest.mark.anyio

ALL = Scope.everything()
RESIDENT_ID = "330127198803154417"


def patient(weight: str) -> bytes:
    return (
        '{"resourceType": "Patient", "id": "p1", '
        f'"identifier": [{{"system": "{RESIDENT_ID_SYSTEM}", "value": "{RESIDENT_ID}"}}], '
        f'"extension": [{{"url": "http://example.org/weight", "valueDecimal": {weight}}}]}}'
    ).encode()


def observation(value: str) -> bytes:
    return (
        '{"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}, '
        f'"valueQuantity": {{"value": {value}}}}}'
    ).encode()


@pytest.fixture
async def enc_repo(store_url: str) -> AsyncIterator[SqlRepository]:
    repo = await opened(store_url, codec=codec(("k1", K1)))
    try:
        yield repo
    finally:
        await repo.close()


async def read_content(repo: Repository, rtype: str, rid: str) -> bytes:
    async with repo.transaction(read_only=True) as s:
        return (await s.read(rtype, rid, ALL)).content


async def test_encrypted_resources_keep_decimal_text(enc_repo: SqlRepository, store_url: str) -> None:
    async with enc_repo.transaction() as s:
        await s.create(jsontext.loads(patient("70.50")), DEFAULT_PARTITION, id="p1")
    assert not any(RESIDENT_ID in c for c in stored_content(store_url))  # encrypted at rest
    assert any('"valueDecimal":70.50' in c for c in stored_content(store_url))
    content = await read_content(enc_repo, "Patient", "p1")
    assert b'"valueDecimal":70.50}' in content and RESIDENT_ID.encode() in content
    await enc_repo.close()
    rotating = await opened(store_url, codec=codec(("k2", K2), ("k1", K1)))
    try:
        report = await rotating.recode()
        assert report.current_rewritten == 1
        assert b'"valueDecimal":70.50}' in await read_content(rotating, "Patient", "p1")
    finally:
        await rotating.close()
    assert all("enc:v1:k1:" not in c for c in stored_content(store_url))
    assert any('"valueDecimal":70.50' in c for c in stored_content(store_url))


async def test_bulk_loads_keep_decimal_text_and_see_a_change_of_precision(repo: Repository) -> None:
    async with repo.transaction() as s:
        [first] = await s.bulk_load([jsontext.loads(observation("1.50"))], DEFAULT_PARTITION, ALL)
    assert first.status == "created"
    assert b'"value":1.50}' in await read_content(repo, "Observation", "o1")
    async with repo.transaction() as s:
        [same] = await s.bulk_load([jsontext.loads(observation("1.50"))], DEFAULT_PARTITION, ALL)
        [coarser] = await s.bulk_load([jsontext.loads(observation("1.5"))], DEFAULT_PARTITION, ALL)
    assert (same.status, coarser.status) == ("unchanged", "updated")
    assert b'"value":1.5}' in await read_content(repo, "Observation", "o1")
    async with repo.transaction(read_only=True) as s:
        history = await s.history(HistoryRequest("Observation", "o1"), ALL)
    newer, older = history.entries  # newest first
    assert b'"value":1.5}' in newer.content and b'"value":1.50}' in older.content
