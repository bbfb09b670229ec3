"""PostgreSQL behind the async repository contract.

psycopg 3's AsyncConnectionPool hands each transaction a connection; statements repeated often
are prepared server-side by psycopg (`prepare_threshold`), and a write's batch of statements
goes through pipeline mode, one network round trip.  https://www.psycopg.org/psycopg3/docs/
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
import psycopg.conninfo
from psycopg_pool import AsyncConnectionPool

from yilian.fhir.outcome import OutcomeError
from yilian.store.base import StoreUnavailableError
from yilian.store.postgres.dialect import PostgresDialect
from yilian.store.sql.connection import Connection
from yilian.store.sql.fragment import Sql
from yilian.store.sql.repository import SqlRepository

__all__ = ["PostgresConnection", "PostgresRepository"]

_PING_IDLE_SECONDS = 5.0


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
        self._readers: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        self._used: WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = WeakKeyDictionary()

    async def open(self) -> None:
        if self._pool is None:
            await self._probe()
            pool = self._new_pool({})
            # Reads run statement by statement in autocommit on connections that refuse writes:
            # one round trip for a read instead of BEGIN, SET TRANSACTION READ ONLY, SELECT and
            # COMMIT.  PostgreSQL reads at READ COMMITTED, where every statement takes its own
            # snapshot inside a transaction too, so the answers are the same.
            readers = self._new_pool({"autocommit": True, "options": "-c default_transaction_read_only=on"})
            await pool.open(wait=True)
            await readers.open(wait=True)
            self._pool, self._readers = pool, readers
        await self._prepare()

    async def _probe(self) -> None:
        """One connection first: an unreachable server or a missing database fails here, at
        once and in one line, instead of in pools that retry for their whole timeout."""
        try:
            conn = await psycopg.AsyncConnection.connect(self._url, connect_timeout=10)
        except psycopg.Error as exc:
            where = psycopg.conninfo.conninfo_to_dict(self._url)
            target = f"{where.get('host', 'localhost')}:{where.get('port', 5432)}/{where.get('dbname', '')}"
            reason = " ".join(str(exc).split())
            if "does not exist" in reason and where.get("dbname"):
                reason += (
                    f"; create it first (createdb -h {where.get('host', 'localhost')} {where['dbname']})"
                )
            raise StoreUnavailableError(f"cannot connect to PostgreSQL at {target}: {reason}") from exc
        await conn.close()

    def _new_pool(self, kwargs: dict[str, Any]) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        return AsyncConnectionPool(
            self._url,
            kwargs=kwargs,
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            check=self._check,
        )

    async def _check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """A connection the server dropped (restart, idle timeout) is replaced, not handed out:
        one idle for a while is pinged before use; one used a moment ago is not (a ping per
        checkout was a round trip per request)."""
        if time.monotonic() - self._used.get(conn, 0.0) > _PING_IDLE_SECONDS:
            await AsyncConnectionPool.check_connection(conn)

    async def close(self) -> None:
        for name in ("_readers", "_pool"):
            pool = getattr(self, name)
            if pool is not None:
                setattr(self, name, None)
                await pool.close()

    def _connection(self, read_only: bool) -> Any:
        return self._transaction(read_only)

    @asynccontextmanager
    async def _transaction(self, read_only: bool) -> AsyncIterator[Connection]:
        pool = self._readers if read_only else self._pool
        if pool is None:
            raise RuntimeError("the repository is not open; call open() first")
        async with pool.connection() as conn:
            try:
                if read_only:
                    yield PostgresConnection(conn)
                else:
                    async with conn.transaction():
                        yield PostgresConnection(conn)
            finally:
                self._used[conn] = time.monotonic()
