"""SQLite behind the async repository contract.

sqlite3 calls run in worker threads (anyio.to_thread) so the event loop never blocks on disk.
A file database runs in WAL mode with `synchronous=NORMAL`: one writer connection, guarded by
an asyncio lock and opening its transactions with `BEGIN IMMEDIATE`, and a few reader
connections that read a consistent snapshot while the writer works.  `:memory:` keeps a single
shared connection (each connection would otherwise see its own empty database), so every
transaction takes the lock.  Reader connections run in autocommit with `query_only` on: each
statement reads its own snapshot, as each statement does at PostgreSQL's READ COMMITTED.  https://www.sqlite.org/wal.html
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from yilian.fhir.outcome import OutcomeError
from yilian.store.base import StoreUnavailableError
from yilian.store.sql.connection import Connection
from yilian.store.sql.fragment import Sql
from yilian.store.sql.repository import SqlRepository
from yilian.store.sqlite.dialect import SqliteDialect

__all__ = ["SqliteConnection", "SqliteRepository"]

T = TypeVar("T")

MEMORY = ":memory:"


class SqliteConnection(Connection):
    """One sqlite3 connection; each call is one worker-thread hop."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def _run(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn)

    async def fetchall(self, statement: Sql) -> list[tuple[Any, ...]]:
        return await self._run(lambda: self._conn.execute(statement.text, statement.params).fetchall())

    async def fetchone(self, statement: Sql) -> tuple[Any, ...] | None:
        def one() -> tuple[Any, ...] | None:
            row: tuple[Any, ...] | None = self._conn.execute(statement.text, statement.params).fetchone()
            return row

        return await self._run(one)

    async def execute(self, statement: Sql) -> None:
        await self._run(lambda: self._conn.execute(statement.text, statement.params))

    async def batch(self, statements: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        def run_all() -> None:
            for text, rows in statements:
                if len(rows) == 1:
                    self._conn.execute(text, rows[0])
                elif rows:
                    self._conn.executemany(text, rows)

        await self._run(run_all)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[object]) -> None:
        if not rows:
            return
        text = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        try:
            await self._run(lambda: self._conn.executemany(text, rows))  # type: ignore[arg-type]
        except sqlite3.IntegrityError as exc:
            raise OutcomeError.conflict(f"a row already exists: {exc}") from None


class SqliteRepository(SqlRepository):
    """A yilian database in one SQLite file (or in memory)."""

    def __init__(self, path: str, *, readers: int = 4, busy_timeout_ms: int = 10_000, **options: Any) -> None:
        super().__init__(SqliteDialect(), **options)
        self._memory = path == MEMORY
        self._path = path if self._memory else str(Path(path).expanduser())
        self._busy_timeout_ms = busy_timeout_ms
        self._writer: sqlite3.Connection | None = None
        self._write_lock = anyio.Lock()
        self._idle_readers: list[sqlite3.Connection] = []
        self._all_readers: list[sqlite3.Connection] = []
        self._reader_slots = anyio.Semaphore(max(readers, 1))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not self._memory:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    async def open(self) -> None:
        if self._writer is None:
            try:
                if not self._memory:
                    # "create or reuse": the default database lives in a data folder that a
                    # first run has not made yet.
                    Path(self._path).parent.mkdir(parents=True, exist_ok=True)
                self._writer = await anyio.to_thread.run_sync(self._connect)
            except (OSError, sqlite3.Error) as exc:
                raise StoreUnavailableError(f"cannot open the SQLite file {self._path}: {exc}") from exc
        await self._prepare()

    async def close(self) -> None:
        conns = [*self._all_readers, *([self._writer] if self._writer else [])]
        self._writer = None
        self._idle_readers.clear()
        self._all_readers.clear()
        for conn in conns:
            await anyio.to_thread.run_sync(conn.close)

    def _connection(self, read_only: bool) -> Any:
        if read_only and not self._memory:
            return self._read_transaction()
        return self._write_transaction(read_only)

    @asynccontextmanager
    async def _write_transaction(self, read_only: bool) -> AsyncIterator[Connection]:
        if self._writer is None:
            raise RuntimeError("the repository is not open; call open() first")
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        async with self._write_lock, _transaction(self._writer, begin) as conn:
            yield conn

    @asynccontextmanager
    async def _read_transaction(self) -> AsyncIterator[Connection]:
        if self._writer is None:
            raise RuntimeError("the repository is not open; call open() first")
        async with self._reader_slots:
            raw = self._idle_readers.pop() if self._idle_readers else None
            if raw is None:
                raw = await anyio.to_thread.run_sync(self._connect_reader)
                self._all_readers.append(raw)
            try:
                # Statement by statement in autocommit on a connection that refuses writes: one
                # worker-thread hop for a read instead of three (BEGIN, SELECT, COMMIT).
                yield SqliteConnection(raw)
            finally:
                self._idle_readers.append(raw)

    def _connect_reader(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA query_only = ON")
        return conn


@asynccontextmanager
async def _transaction(raw: sqlite3.Connection, begin: str) -> AsyncIterator[Connection]:
    """BEGIN; yield; COMMIT, or ROLLBACK when the body raises."""
    await anyio.to_thread.run_sync(raw.execute, begin)
    try:
        yield SqliteConnection(raw)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_rollback, raw)
        raise
    try:
        await anyio.to_thread.run_sync(raw.execute, "COMMIT")
    except BaseException:
        # A failed COMMIT (e.g. the disk is full) must not leave the connection mid-transaction.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_rollback, raw)
        raise


def _rollback(raw: sqlite3.Connection) -> None:
    if raw.in_transaction:
        raw.execute("ROLLBACK")
