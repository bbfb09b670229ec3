"""`open_repository` picks the backend from the URL scheme."""

from __future__ import annotations

from pathlib import Path

import pytest

from yilian.store.base import DEFAULT_PARTITION, Scope
from yilian.store.factory import open_repository
from yilian.store.postgres import PostgresRepository
from yilian.store.sqlite import SqliteRepository


def test_schemes() -> None:
    assert isinstance(open_repository("sqlite:///:memory:"), SqliteRepository)
    assert isinstance(open_repository("sqlite:////tmp/x.db"), SqliteRepository)
    assert isinstance(open_repository("postgresql://u@h/db"), PostgresRepository)
    assert isinstance(open_repository("postgres://u@h/db"), PostgresRepository)


@pytest.mark.parametrize("url", ["mysql://h/db", "/just/a/path", "sqlite://", "sqlite:///", ""])
def test_unknown_or_incomplete_url_is_a_clear_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        open_repository(url)


@pytest.mark.anyio
async def test_memory_database_is_one_shared_database() -> None:
    repo = open_repository("sqlite:///:memory:")
    await repo.open()
    try:
        async with repo.transaction() as s:
            await s.create({"resourceType": "Patient"}, DEFAULT_PARTITION, id="m1")
        async with repo.transaction(read_only=True) as s:
            assert (await s.read("Patient", "m1", Scope.everything())).version == 1
    finally:
        await repo.close()


@pytest.mark.anyio
async def test_sqlite_file_persists_across_opens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'persist.db'}"
    first = open_repository(url)
    await first.open()
    async with first.transaction() as s:
        await s.create({"resourceType": "Patient"}, DEFAULT_PARTITION, id="kept")
    await first.close()
    second = open_repository(url)
    await second.open()
    try:
        async with second.transaction(read_only=True) as s:
            assert (await s.read("Patient", "kept", Scope.everything())).id == "kept"
    finally:
        await second.close()
