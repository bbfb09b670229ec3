"""PostgreSQL behind the async repository contract.

psycopg 3's AsyncConnectionPool hands each transaction a connection; statements repeated often
are prepared server-side by psycopg (`prepare_threshold`), and a write's batch of statements
goes through pipeline mode, one network round trip.  https://www.psycopg.org/psycopg3/docs/
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from yilian.fhir.outcome import OutcomeError
from yilian.store.postgres.dialect import PostgresDialect
from yilian.store.sql.connection import Connection
from yilian.store.sql.fragment import Sql
from yilian.store.sql.repository import SqlRepository

__all__ = ["PostgresConnection", "PostgresRepository"]


@lru_cache(maxsize=4096)
def _query(text: str) -> bytes:
    """`?` placeholders -> psycopg's `%s` (a literal `%` doubled)."""
    return text.replace("%", "%%").replace("?", "%s").encode()


@contextmanager
def _client_values() -> Iterator[None]:
    """A value PostgreSQL cannot take (a NUL character in text, a number out of range) came
    from the client: report it as bad input, not as a server failure."""
    try:
        yield
    except psycopg.DataError as exc:
        raise OutcomeError.invalid(f"a value cannot be stored or searched: {exc}") from None


class PostgresConnection(Connection):
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def fetchall(self, statement: Sql) -> list[tuple[Any, ...]]:
        with _client_values():
            cur = await self._conn.execute(_query(statement.text), statement.params)
            return await cur.fetchall()

    async def fetchone(self, statement: Sql) -> tuple[Any, ...] | None:
        with _client_values():
            cur = await self._conn.execute(_query(statement.text), statement.params)
            row: tuple[Any, ...] | None = await cur.fetchone()
        return row

    async def execute(self, statement: Sql) -> None:
        with _client_values():
            await self._conn.execute(_query(statement.text), statement.params)

    async def batch(self, statements: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        with _client_values():
            async with self._conn.pipeline(), self._conn.cursor() as cur:
                for text, rows in statements:
                    if len(rows) == 1:
                        await cur.execute(_query(text), rows[0])
                    elif rows:
                        await cur.executemany(_query(text), rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[object]) -> None:
        if not rows:
            return
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN".encode()
        with _client_values():
            try:
                async with self._conn.cursor() as cur, cur.copy(statement) as copy:
                    if isinstance(rows[0], bytes):  # already COPY text (PostgresDialect.bulk_encode)
                        await copy.write(b"".join(rows))  # type: ignore[arg-type]
                    else:
                        for row in rows:
                            await copy.write_row(row)  # type: ignore[arg-type]
            except psycopg.errors.UniqueViolation as exc:  # created concurrently since the SELECT
                raise OutcomeError.conflict(f"a resource was created concurrently: {exc}") from None


class PostgresRepository(SqlRepository):
    """A yilian database on a PostgreSQL server."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, **options: Any) -> None:
        super().__init__(PostgresDialect(), **options)
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None

    async def open(self) -> None:
        if self._pool is None:
            pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
                self._url,
                min_size=self._min_size,
                max_size=self._max_size,
                open=False,
                # A connection the server dropped (restart, idle timeout) is replaced, not handed out.
                check=AsyncConnectionPool.check_connection,
            )
            await pool.open(wait=True)
            self._pool = pool
        await self._prepare()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _connection(self, read_only: bool) -> Any:
        return self._transaction(read_only)

    @asynccontextmanager
    async def _transaction(self, read_only: bool) -> AsyncIterator[Connection]:
        if self._pool is None:
            raise RuntimeError("the repository is not open; call open() first")
        async with self._pool.connection() as conn, conn.transaction():
            if read_only:
                await conn.execute(b"SET TRANSACTION READ ONLY")
            yield PostgresConnection(conn)
