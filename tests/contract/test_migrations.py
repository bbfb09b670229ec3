"""Schema migrations: an older database upgrades in place without losing data, and opening
an up-to-date database changes nothing."""

from __future__ import annotations

import pytest
from tests.contract.conftest import ids

from yilian.fhir.search.parse import parse_criteria
from yilian.store.base import DEFAULT_PARTITION, HistoryRequest, Scope
from yilian.store.factory import open_repository
from yilian.store.sql.schema import MIGRATIONS

pytestmark = pytest.mark.anyio


def _index_names(url: str) -> set[str]:
    """Index names read straight from the engine's catalogue (test-side only)."""
    if url.startswith("sqlite:"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    import psycopg

    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}


ALL = Scope.everything()


async def test_upgrade_from_migration_1_keeps_data(blank_store_url: str) -> None:
    old = open_repository(blank_store_url, migrations=MIGRATIONS[:1])
    await old.open()
    try:
        assert await old.schema_version() == 1
        async with old.transaction() as s:
            await s.create(
                {"resourceType": "Patient", "name": [{"family": "Old"}]}, DEFAULT_PARTITION, id="p1"
            )
            await s.update(
                {"resourceType": "Patient", "id": "p1", "name": [{"family": "Older"}]},
                DEFAULT_PARTITION,
                scope=ALL,
            )
    finally:
        await old.close()

    assert "idx_token_search" not in _index_names(blank_store_url)
    new = open_repository(blank_store_url)
    await new.open()
    try:
        assert await new.schema_version() == MIGRATIONS[-1].version
        assert {"idx_token_search", "idx_reference_target"} <= _index_names(blank_store_url)
        async with new.transaction() as s:
            assert (await s.read("Patient", "p1", ALL)).json()["name"] == [{"family": "Older"}]
            assert (await s.vread("Patient", "p1", 1, ALL)).json()["name"] == [{"family": "Old"}]
            assert (await s.history(HistoryRequest("Patient", "p1"), ALL)).total == 2
            assert await s.resolve_ids("Patient", parse_criteria("Patient", "family=older"), ALL) == ["p1"]
            # Writes and composite searches work on the upgraded schema.
            await s.create(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "valueQuantity": {"value": 72, "system": "http://unitsofmeasure.org", "code": "/min"},
                },
                DEFAULT_PARTITION,
                id="o1",
            )
        assert await ids(new, "Observation", [("code-value-quantity", "8867-4$72")]) == {"o1"}
        assert [p.code for p in await new.list_partitions()] == [DEFAULT_PARTITION]
    finally:
        await new.close()

    again = open_repository(blank_store_url)
    await again.open()  # nothing left to apply: no error, no duplicate steps
    try:
        assert await again.schema_version() == MIGRATIONS[-1].version
        assert await ids(again, "Patient", []) == {"p1"}
    finally:
        await again.close()
