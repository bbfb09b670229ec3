"""Fixtures of the repository contract suite: every test runs on SQLite and PostgreSQL.

`repo` is an opened repository on a fresh database (the `store_url` fixture of the top-level
conftest).  `clinic` loads a small, hand-built alliance record set whose search answers the
tests check by hand; see `sample.py` for the resources and why each one is there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
import pytest
from tests.conftest import ADMIN_URL, PostgresDatabases, _pg_url
from tests.contract.sample import load_clinic

from yilian.fhir.search.parse import parse_search
from yilian.store.base import Repository, Scope, SearchResult
from yilian.store.factory import open_repository


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def clinic_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_databases: PostgresDatabases | None,
) -> str:
    """One database per test module and backend with the sample loaded: the search tests
    only read, so they share it instead of loading it again for every case."""
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('clinic')) / 'clinic.sqlite'}"
    else:
        if pg_databases is None:
            pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}; set YILIAN_REQUIRE_PG=1 to make this fail")
        url = _pg_url(pg_databases.create(template=request.getfixturevalue("pg_template")))

    async def load() -> None:
        repository = open_repository(url)
        await repository.open()
        try:
            await load_clinic(repository)
        finally:
            await repository.close()

    anyio.run(load)
    return url


@pytest.fixture
async def clinic(clinic_url: str) -> AsyncIterator[Repository]:
    """The shared sample database, opened for one test.  Tests using it must not write."""
    repository = open_repository(clinic_url)
    await repository.open()
    try:
        yield repository
    finally:
        await repository.close()


@pytest.fixture
async def fresh_clinic(repo: Repository) -> Repository:
    """The sample in a database of this test's own, for tests that write."""
    await load_clinic(repo)
    return repo


async def search(
    repo: Repository,
    resource_type: str | Sequence[str],
    params: Sequence[tuple[str, str]],
    scope: Scope | None = None,
) -> SearchResult:
    """Parse a query with the real parser and run it in a read-only transaction."""
    types = [resource_type] if isinstance(resource_type, str) else list(resource_type)
    request = parse_search(types, params)
    async with repo.transaction(read_only=True) as session:
        return await session.search(request, scope or Scope.everything())


async def ids(
    repo: Repository,
    resource_type: str | Sequence[str],
    params: Sequence[tuple[str, str]],
    scope: Scope | None = None,
) -> set[str]:
    """The ids of the matches (one page, big enough for the sample)."""
    result = await search(repo, resource_type, [*params, ("_count", "100")], scope)
    return {m.id for m in result.matches}
