"""Bulk Data jobs over any SQL backend: one row per job in `bulk_job` (migration 6).

The row holds the job's JSON document (bulk/jobs.py `BulkJob`) and the few columns a poll or a
cleanup reads.  `save_job` with `only_if` is a compare-and-set on the stored status, so a
running job's progress report can never overwrite a cancel that another worker recorded.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson

from yilian.fhir.outcome import OutcomeError
from yilian.store.base import Repository
from yilian.store.sql.connection import Connection
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import Sql

__all__ = ["SqlJobStore"]

_COLUMNS = ("id", "kind", "status", "owner", "updated")


class SqlJobStore(Repository):
    """The job half of the SQL Repository (mixed into SqlRepository)."""

    dialect: Dialect

    @abstractmethod
    def _connection(self, read_only: bool) -> AbstractAsyncContextManager[Connection]: ...

    async def save_job(self, job: Mapping[str, Any], *, only_if: Sequence[str] | None = None) -> bool:
        missing = [c for c in _COLUMNS if not isinstance(job.get(c), str)]
        if missing:
            raise OutcomeError.invalid(f"a bulk job document needs {', '.join(missing)}")
        values = [str(job[c]) for c in _COLUMNS]
        content = self.dialect.content_param(orjson.dumps(dict(job)))
        async with self._connection(False) as conn:
            if only_if is None:
                await conn.execute(
                    Sql(
                        "INSERT INTO bulk_job (id, kind, status, owner, updated, content) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, "
                        "status = excluded.status, owner = excluded.owner, updated = excluded.updated, "
                        "content = excluded.content",
                        (*values, content),
                    )
                )
                return True
            if not only_if:
                return False
            row = await conn.fetchone(
                Sql(
                    "UPDATE bulk_job SET kind = ?, status = ?, owner = ?, updated = ?, content = ? "
                    "WHERE id = ? AND ",
                    (*values[1:], content, values[0]),
                )
                + self.dialect.in_list("status", list(only_if))
                + " RETURNING id"
            )
            return row is not None

    async def load_job(self, job_id: str) -> dict[str, Any] | None:
        async with self._connection(True) as conn:
            row = await conn.fetchone(
                Sql(f"SELECT {self.dialect.content_column('content')} FROM bulk_job WHERE id = ?", (job_id,))
            )
        if row is None:
            return None
        content = row[0] if isinstance(row[0], bytes) else bytes(row[0])
        loaded: dict[str, Any] = orjson.loads(content)
        return loaded
