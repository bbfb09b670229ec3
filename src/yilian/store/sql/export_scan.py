"""The Bulk Data export scan over any SQL backend: one type's rows in key order, in batches.

`$export` (bulk/export.py) must stream millions of resources with flat memory and without a
transaction that stays open for the whole export.  So each batch is its own short read
transaction: `... AND r.res_id > :last ORDER BY r.res_id LIMIT :n` (keyset paging on the
`(res_type, res_id)` unique index, never OFFSET, so batch k costs what batch 1 costs), bounded
by the highest `rid` seen when the scan started, so rows created during the export do not join
it half-way.

The WHERE clause is the search one (store/sql/criteria.py): the caller's `Scope` (partitions,
consent grants, role types) through `ConditionCompiler.visible`, `_typeFilter` queries as
search conditions ORed together, `_since` on the sortable lastUpdated key, and for Patient
and Group exports the patient compartment (migration 3, store/sql/compartment.py) of Patients
the scope itself lets the reader see.  See https://hl7.org/fhir/uv/bulkdata/export.html.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from yilian.store.base import ExportScan, Repository, StoredResource
from yilian.store.codec import ResourceCodec
from yilian.store.sql.connection import Connection
from yilian.store.sql.criteria import ConditionCompiler
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import Sql
from yilian.store.sql.query import resource_columns
from yilian.store.sql.rows import stored

__all__ = ["SqlExportScan", "export_where"]


def export_where(d: Dialect, scan: ExportScan, codec: ResourceCodec, *, typed: bool = True) -> Sql:
    """The predicate on resource row `r` of everything `scan` selects (`typed` False: of any
    type, for `export_types`)."""
    compiler = ConditionCompiler(d, scan.scope)
    parts = [compiler.visible("r")]
    if typed:
        parts.append(Sql("r.res_type = ?", (scan.resource_type,)))
    if scan.since is not None:
        parts.append(Sql("r.last_updated_key >= ?", (scan.since,)))
    if scan.filters:
        parts.append(
            Sql.any_of(
                Sql.all_of(compiler.condition(codec.query(c) if codec.active else c, "r") for c in conditions)
                for conditions in scan.filters
            )
        )
    if scan.patients is not None:
        patient = [compiler.visible("ep")]
        if scan.patients:
            patient.append(d.in_list("ep.res_id", sorted(scan.patients)))
        parts.append(
            Sql(
                "EXISTS (SELECT 1 FROM compartment ec JOIN resource ep "
                "ON ep.res_type = 'Patient' AND ep.res_id = ec.patient_id "
                "WHERE ec.rid = r.rid AND ec.version = r.version AND "
            )
            + Sql.all_of(patient)
            + ")"
        )
    return Sql.all_of(parts)


class SqlExportScan(Repository):
    """The export half of the SQL Repository (mixed into SqlRepository)."""

    dialect: Dialect
    codec: ResourceCodec

    @abstractmethod
    def _connection(self, read_only: bool) -> AbstractAsyncContextManager[Connection]: ...

    async def export_types(self, scan: ExportScan) -> list[str]:
        where = export_where(self.dialect, scan, self.codec, typed=False)
        async with self._connection(True) as conn:
            rows = await conn.fetchall(Sql("SELECT DISTINCT r.res_type FROM resource r WHERE ") + where)
        return sorted(str(r[0]) for r in rows)

    async def export_count(self, scan: ExportScan) -> int:
        where = export_where(self.dialect, scan, self.codec)
        async with self._connection(True) as conn:
            row = await conn.fetchone(Sql("SELECT COUNT(*) FROM resource r WHERE ") + where)
        return int(row[0]) if row else 0

    async def export_scan(self, scan: ExportScan) -> AsyncIterator[list[StoredResource]]:
        where = export_where(self.dialect, scan, self.codec)
        select = Sql(f"SELECT {resource_columns(self.dialect, 'r')} FROM resource r WHERE ") + where
        size = max(1, scan.batch_size)
        async with self._connection(True) as conn:
            top = await conn.fetchone(Sql("SELECT MAX(rid) FROM resource"))
        ceiling = int(top[0]) if top and top[0] is not None else 0
        last = ""
        while True:
            async with self._connection(True) as conn:
                rows = await conn.fetchall(
                    select
                    + Sql(" AND r.res_id > ? AND r.rid <= ? ORDER BY r.res_id LIMIT ?", (last, ceiling, size))
                )
            if not rows:
                return
            last = str(rows[-1][1])
            yield [self._plain(stored(row)) for row in rows]
            if len(rows) < size:
                return

    def _plain(self, found: StoredResource) -> StoredResource:
        """The content as clients receive it (the codec decodes protected identifiers)."""
        codec = self.codec
        if codec.active and found.resource_type in codec.resource_types and found.content:
            plain = codec.decode(found.resource_type, found.content)
            if plain is not found.content:
                return dataclasses.replace(found, content=plain)
        return found
