"""The generic Repository: migrations, transactions and partitions over any SQL backend.

A backend subclass supplies the `Dialect` and `_connection(read_only)`, a context manager
that yields a `Connection` inside one database transaction (committed on normal exit,
rolled back on an exception).  Everything else is shared, so both engines behave the same.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.model import IndexValue
from yilian.store.base import DEFAULT_PARTITION, BulkPreparer, Partition, Session
from yilian.store.codec import PLAIN, ResourceCodec
from yilian.store.sql.audit import SqlAuditLog
from yilian.store.sql.bulk_load import BulkLoadingSession, prepare_resources
from yilian.store.sql.connection import Connection
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.export_scan import SqlExportScan
from yilian.store.sql.feed_log import SqlFeedLog
from yilian.store.sql.fragment import Sql
from yilian.store.sql.jobs import SqlJobStore
from yilian.store.sql.keys import record_keys
from yilian.store.sql.recode import Progress, RecodeReport, recode
from yilian.store.sql.schema import (
    FEED_LOG_MIGRATION,
    KEYS_MIGRATION,
    MIGRATIONS,
    Migration,
    migrations_table,
)
from yilian.store.sql.session import Indexer

__all__ = ["SqlRepository", "default_indexer"]

PARTITION_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
"""Institution codes: lowercase letters, digits and hyphens, so `/fhir/{code}/` never clashes
with a resource type (those start with an upper-case letter)."""


def default_indexer(resource: dict[str, Any]) -> list[IndexValue]:
    """The write-time extractor of the FHIR kernel, imported on first use."""
    from yilian.fhir.search.extract import index_values

    return index_values(resource)


class SqlRepository(SqlAuditLog, SqlJobStore, SqlExportScan, SqlFeedLog):
    """Shared behaviour of the SQL backends (the audit log's in store/sql/audit.py, the bulk
    data jobs' in store/sql/jobs.py, the export scan's in store/sql/export_scan.py, the feed
    log's in store/sql/feed_log.py)."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        indexer: Indexer | None = None,
        codec: ResourceCodec = PLAIN,
        check_keys: bool = True,
    ) -> None:
        self.dialect = dialect
        self._migrations = tuple(migrations)
        self._indexer: Indexer = indexer or default_indexer
        self.codec = codec
        self._check_keys = check_keys

    @abstractmethod
    def _connection(self, read_only: bool) -> AbstractAsyncContextManager[Connection]:
        """A connection inside a new transaction."""

    # -- schema -------------------------------------------------------------------------------
    async def _migrate(self) -> None:
        """Apply the missing migrations in order, one transaction each."""
        lock = self.dialect.migration_lock()
        async with self._connection(False) as conn:
            if lock is not None:
                await conn.execute(lock)
            await conn.execute(migrations_table(self.dialect))
        for migration in self._migrations:
            async with self._connection(False) as conn:
                if lock is not None:
                    await conn.execute(lock)
                done = await conn.fetchone(
                    Sql("SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,))
                )
                if done is not None:
                    continue
                for statement in migration.statements(self.dialect):
                    await conn.execute(statement)
                await conn.execute(
                    Sql(
                        "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                        (migration.version, migration.name, datetime.now(UTC).isoformat(timespec="seconds")),
                    )
                )

    async def _prepare(self) -> None:
        """Migrate, then make sure the configured keys can read what the database holds
        (store.codec; `check_keys=False` is for `yilian keys rotate`, which fixes that)."""
        await self._migrate()
        if self._check_keys and any(m.version == KEYS_MIGRATION for m in self._migrations):
            async with self._connection(False) as conn:
                await record_keys(conn, self.codec)

    async def recode(
        self, *, reindex: bool = False, batch_size: int = 500, progress: Progress | None = None
    ) -> RecodeReport:
        """Rewrite stored values the codec calls stale, rebuilding their search rows (and every
        protected resource's search rows when `reindex`), and re-seal the feed log's stale
        message bytes: `yilian keys rotate` (store/sql/recode.py)."""
        return await recode(
            self._connection,
            self.dialect,
            self._indexer,
            self.codec,
            reindex=reindex,
            feed_log=any(m.version == FEED_LOG_MIGRATION for m in self._migrations),
            batch_size=batch_size,
            progress=progress,
        )

    async def schema_version(self) -> int:
        async with self._connection(True) as conn:
            row = await conn.fetchone(Sql("SELECT MAX(version) FROM schema_migrations"))
        return int(row[0]) if row and row[0] is not None else 0

    # -- transactions -------------------------------------------------------------------------
    def transaction(self, *, read_only: bool = False) -> AbstractAsyncContextManager[Session]:
        return self._session(read_only)

    @asynccontextmanager
    async def _session(self, read_only: bool) -> AsyncIterator[Session]:
        async with self._connection(read_only) as conn:
            session = BulkLoadingSession(conn, self.dialect, self._indexer, self.codec)
            session.compartments = any(m.version == 3 for m in self._migrations)  # consent index
            yield session
            await session.flush()  # queued creates are written before the commit

    # -- bulk loading (store/sql/bulk_load.py) -------------------------------------------------
    def bulk_preparer(self) -> BulkPreparer | None:
        return partial(
            prepare_resources,
            dialect=self.dialect,
            indexer=self._indexer,
            codec=self.codec,
            compartments=any(m.version == 3 for m in self._migrations),
        )

    # -- partitions ---------------------------------------------------------------------------
    async def add_partition(self, partition: Partition) -> None:
        if not PARTITION_CODE.fullmatch(partition.code):
            raise OutcomeError.invalid(
                f"institution code {partition.code!r} must be lowercase letters, digits and hyphens", ["code"]
            )
        async with self._connection(False) as conn:
            row = await conn.fetchone(
                Sql(
                    "INSERT INTO partition (code, name, organization_id, created) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (code) DO NOTHING RETURNING code",
                    (
                        partition.code,
                        partition.name,
                        partition.organization_id,
                        datetime.now(UTC).isoformat(timespec="microseconds"),
                    ),
                )
            )
        if row is None:
            raise OutcomeError.conflict(f"institution {partition.code!r} is already registered")

    async def list_partitions(self) -> list[Partition]:
        async with self._connection(True) as conn:
            rows = await conn.fetchall(Sql("SELECT code, name, organization_id FROM partition ORDER BY code"))
        return [Partition(r[0], r[1], r[2]) for r in rows]

    async def remove_partition(self, code: str) -> None:
        async with self._connection(False) as conn:
            row = await conn.fetchone(Sql("SELECT organization_id FROM partition WHERE code = ?", (code,)))
            if row is None:
                raise OutcomeError.not_found(f"institution {code!r} is not registered")
            if code == DEFAULT_PARTITION:
                raise OutcomeError.conflict("the default partition cannot be removed")
            held = await conn.fetchone(
                Sql(
                    "SELECT COUNT(*) FROM resource WHERE partition = ? AND NOT deleted "
                    "AND NOT (res_type = 'Organization' AND res_id = ?)",
                    (code, row[0] or ""),
                )
            )
            if held is not None and int(held[0]) > 0:
                raise OutcomeError.conflict(
                    f"institution {code!r} still holds {held[0]} current resources; delete or move them first"
                )
            await conn.execute(Sql("DELETE FROM partition WHERE code = ?", (code,)))
