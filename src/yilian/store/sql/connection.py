"""The little a generic Session needs from a database connection.

Each backend adapter (store/sqlite, store/postgres) wraps its driver's connection in this
protocol; the SQL layer never sees a driver.  `batch` runs several statements in one trip to
the database thread or server (SQLite: one worker-thread hop; PostgreSQL: pipeline mode), which
is how a write stays at a couple of round trips however many index rows it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from yilian.store.sql.fragment import Sql

__all__ = ["Connection"]


class Connection(Protocol):
    """A connection inside an open transaction.  Placeholders are `?` (see fragment.Sql)."""

    async def fetchall(self, statement: Sql) -> list[tuple[Any, ...]]: ...

    async def fetchone(self, statement: Sql) -> tuple[Any, ...] | None: ...

    async def execute(self, statement: Sql) -> None: ...

    async def batch(self, statements: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        """Run each statement once per parameter row, in order, in one round trip."""
        ...

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[object]) -> None:
        """Append `rows` (tuples, or what `Dialect.bulk_attach` made) to `table` as fast as the
        engine takes them (PostgreSQL: COPY; SQLite: one executemany); a row whose key exists
        raises conflict.  Bulk loads only."""
        ...
