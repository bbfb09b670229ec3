"""Shared fixtures: a real SQLite file and a real PostgreSQL database for every store test.

PostgreSQL: one database per test session is created (and dropped at the end) on the server
named by YILIAN_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/test, used only to
issue CREATE/DROP DATABASE).  Each test that wants a clean store gets its own database, cloned
from a migrated template so the schema is built once.  When the server cannot be reached the
PostgreSQL cases are skipped with the reason, unless YILIAN_REQUIRE_PG=1 (as in CI), where they
fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from yilian.store.base import Repository

ADMIN_URL = os.environ.get("YILIAN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("YILIAN_REQUIRE_PG") == "1"
SHARED_DATA = Path(
    os.environ.get("YILIAN_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
"""Public test data written by others (../shared/data beside the clone, or YILIAN_SHARED_DATA)."""


def _pg_url(dbname: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


class PostgresDatabases:
    """Creates databases for one test session and drops every one of them at the end."""

    def __init__(self) -> None:
        import psycopg

        self._psycopg = psycopg
        self.prefix = f"yilian_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []
        self.template: str | None = None

    def _admin(self):  # type: ignore[no-untyped-def]
        return self._psycopg.connect(ADMIN_URL, autocommit=True)

    def create(self, template: str | None = None) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        with self._admin() as conn:
            if template:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in reversed(self.created):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PostgresDatabases | None]:
    try:
        dbs = PostgresDatabases()
        with dbs._admin():
            pass
    except Exception as exc:  # the server is down or unreachable
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (YILIAN_REQUIRE_PG=1) but {ADMIN_URL} is unreachable: {exc}")
        yield None
        return
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture(scope="session")
def pg_template(pg_databases: PostgresDatabases | None) -> str | None:
    """A database migrated once, cloned by every PostgreSQL test that wants a clean store."""
    if pg_databases is None:
        return None
    import anyio

    from yilian.store.factory import open_repository

    name = pg_databases.create()

    async def migrate() -> None:
        repo = open_repository(_pg_url(name))
        await repo.open()
        await repo.close()

    anyio.run(migrate)
    pg_databases.template = name
    return name


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pg_databases: PostgresDatabases | None,
) -> str:
    """A URL of an empty, not yet opened yilian database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'yilian.sqlite'}"
    if pg_databases is None:
        pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}; set YILIAN_REQUIRE_PG=1 to make this fail")
    template = request.getfixturevalue("pg_template")
    return _pg_url(pg_databases.create(template=template))


@pytest.fixture(params=["sqlite", "postgres"])
def blank_store_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pg_databases: PostgresDatabases | None,
) -> str:
    """Like `store_url`, but the PostgreSQL database is created empty (no migrated template),
    for tests of the migrations themselves."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blank.sqlite'}"
    if pg_databases is None:
        pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}; set YILIAN_REQUIRE_PG=1 to make this fail")
    return _pg_url(pg_databases.create())


@pytest.fixture
async def repo(store_url: str) -> AsyncIterator[Repository]:
    """An opened repository on a fresh database of each backend (see `store_url`)."""
    from yilian.store.factory import open_repository

    repository = open_repository(store_url)
    await repository.open()
    try:
        yield repository
    finally:
        await repository.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip that says it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA
