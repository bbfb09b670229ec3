"""The generic Session: the repository primitives over any `Connection` and `Dialect`.

Creates are deferred: `create` stamps the resource and queues it, and the queue is written
in one go, before the session's next read and before it commits.  A flush is one statement
per table whatever the number of queued resources: one multi-row INSERT of the resource rows
(returning their rids, and revealing any id that already exists; one per 500 resources), then
one `Connection.insert_rows` per table for every history, search-index, compartment and label
row of the flush (PostgreSQL: one COPY each; SQLite: one executemany each).  So a transaction
Bundle of 300 POSTs costs a dozen statements instead of one per row (~15 per resource).

Updates and deletes read (and, on PostgreSQL, lock) the current row, so they flush first and
write at once: a round trip to read, one batch to write.

The stored JSON is serialised once, here, with `id` and `meta.versionId`/`meta.lastUpdated`
set and every other `meta` element kept (http://hl7.org/fhir/R4/resource.html#Meta); reads
hand those bytes back untouched.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from yilian.fhir import jsontext
from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.model import Condition, IndexValue, SearchRequest
from yilian.store.audit_log import AuditPage, AuditQuery
from yilian.store.base import (
    HistoryPage,
    HistoryRequest,
    Scope,
    SearchResult,
    Session,
    StoredResource,
    same_content,
)
from yilian.store.codec import PLAIN, ResourceCodec
from yilian.store.sql.audit import search_log
from yilian.store.sql.compartment import compartment_statements
from yilian.store.sql.connection import Connection
from yilian.store.sql.criteria import ConditionCompiler
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import BatchStatement, Sql
from yilian.store.sql.history import history_rows, version_columns
from yilian.store.sql.includes import fetch_includes
from yilian.store.sql.indexing import delete_statements, insert_statements
from yilian.store.sql.query import resource_columns, search_statements
from yilian.store.sql.rows import Row, stored

__all__ = ["Indexer", "SqlSession"]

Indexer = Callable[[dict[str, Any]], list[IndexValue]]
"""Extracts the search-index values of a resource (fhir.search.extract.index_values)."""

_INSERT_RESOURCES = (
    "INSERT INTO resource "
    "(res_type, res_id, partition, version, last_updated, last_updated_key, deleted, content) "
    "VALUES {values} ON CONFLICT (res_type, res_id) DO NOTHING RETURNING rid, res_type, res_id"
)
_RESOURCES_HEAD, _, _RESOURCES_TAIL = _INSERT_RESOURCES.partition(" VALUES {values} ")
_RESOURCES_TYPES = ("text", "text", "text", "integer", "text", "text", "boolean", "bytea")
"""The SQL types of the resource columns a create writes (Dialect.insert_values)."""
_UPDATE_RESOURCE = (
    "UPDATE resource SET version = ?, last_updated = ?, last_updated_key = ?, deleted = ?, content = ? "
    "WHERE rid = ?"
)
_INSERT_HISTORY = (
    "INSERT INTO resource_history "
    "(rid, version, partition, last_updated, last_updated_key, deleted, content) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


_INSERT = re.compile(r"INSERT INTO (\w+) \(([^)]*)\)")

_FLUSH_ROWS = 500
"""Queued creates are written when this many accumulate (and at every read and commit);
7 parameters a row keeps one INSERT far below both engines' bound-parameter limits."""


@dataclass(frozen=True, slots=True)
class _PendingCreate:
    resource_type: str
    id: str
    partition: str
    instant: str
    key: str
    body: dict[str, Any]
    content: bytes  # as stored (the codec's encoding of the body)


class SqlSession(Session):
    """One database transaction's worth of repository primitives.  The batched bulk load is
    built on them in `BulkLoadingSession` (store/sql/bulk_load.py), the session the repository
    opens; this class alone falls back to the reference `Session.bulk_load`."""

    def __init__(
        self, conn: Connection, dialect: Dialect, indexer: Indexer, codec: ResourceCodec = PLAIN
    ) -> None:
        self._conn = conn
        self._d = dialect
        self._indexer = indexer
        self._codec = codec
        self._pending: dict[tuple[str, str], _PendingCreate] = {}
        self.compartments = True
        """Whether to fill the patient-compartment index (migration 3; False only for a
        repository opened with an older migration list, as the upgrade tests do)."""

    async def flush(self) -> None:
        """Write the queued creates (see the module docstring).  An id that already exists
        raises conflict, which rolls the whole transaction back."""
        if not self._pending:
            return
        tables: dict[str, list[tuple[object, ...]]] = {_INSERT_HISTORY: []}
        history = tables[_INSERT_HISTORY]
        while self._pending:
            keys = list(self._pending)[:_FLUSH_ROWS]
            batch = [self._pending.pop(k) for k in keys]
            content = self._d.content_param
            insert = self._d.insert_values(
                _RESOURCES_HEAD,
                _RESOURCES_TAIL,
                _RESOURCES_TYPES,
                [
                    (p.resource_type, p.id, p.partition, 1, p.instant, p.key, False, content(p.content))
                    for p in batch
                ],
            )
            rows = await self._conn.fetchall(insert)
            rids = {(str(r[1]), str(r[2])): int(r[0]) for r in rows}
            taken = [f"{p.resource_type}/{p.id}" for p in batch if (p.resource_type, p.id) not in rids]
            if taken:
                raise OutcomeError.conflict(f"{', '.join(taken)} already exists")
            for p in batch:
                rid = rids[(p.resource_type, p.id)]
                history.append(
                    (rid, 1, p.partition, p.instant, p.key, False, self._d.content_param(p.content))
                )
                indexed = self._index(p.body)
                for text, table_rows in (
                    *insert_statements(rid, indexed),
                    *self._compartment(rid, 1, p.resource_type, p.id, indexed),
                ):
                    found = tables.get(text)
                    if found is None:
                        tables[text] = table_rows
                    else:
                        found += table_rows
        for text, table_rows in tables.items():
            table, columns = insert_target(text)
            await self._conn.insert_rows(table, columns, table_rows)

    # -- reads --------------------------------------------------------------------------------
    async def read(self, resource_type: str, id: str, scope: Scope) -> StoredResource:
        await self.flush()
        compiler = ConditionCompiler(self._d, scope)
        row = await self._conn.fetchone(
            Sql(
                f"SELECT {resource_columns(self._d, 'r')} FROM resource r "
                "WHERE r.res_type = ? AND r.res_id = ? AND ",
                (resource_type, id),
            )
            + compiler.scope_filter("r")
        )
        if row is None:
            raise OutcomeError.not_found(f"{resource_type}/{id} is not known")
        if row[6]:
            raise OutcomeError.gone(f"{resource_type}/{id} was deleted (version {row[2]})")
        return self._stored(row)

    async def vread(self, resource_type: str, id: str, version: int, scope: Scope) -> StoredResource:
        await self.flush()
        compiler = ConditionCompiler(self._d, scope)
        row = await self._conn.fetchone(
            Sql(
                f"SELECT {version_columns(self._d)} FROM resource_history h JOIN resource r ON r.rid = h.rid "
                "WHERE r.res_type = ? AND r.res_id = ? AND h.version = ? AND ",
                (resource_type, id, version),
            )
            + compiler.scope_filter("h", "r.res_type")
        )
        if row is None:
            raise OutcomeError.not_found(f"{resource_type}/{id}/_history/{version} is not known")
        if row[6]:
            raise OutcomeError.gone(f"{resource_type}/{id}/_history/{version} is a deletion")
        return self._stored(row)

    async def search(self, request: SearchRequest, scope: Scope) -> SearchResult:
        await self.flush()
        request = self._query(request)
        statements = search_statements(self._d, request, scope)
        total: int | None = None
        if statements.count is not None:
            counted = await self._conn.fetchone(statements.count)
            total = int(counted[0]) if counted else 0
        rows = await self._conn.fetchall(statements.page) if statements.page is not None else []
        included = []
        if rows and (request.includes or request.revincludes):
            included = await fetch_includes(
                self._conn, self._d, scope, request.includes, request.revincludes, rows
            )
        return SearchResult([self._stored(r) for r in rows], [self._stored(r) for r in included], total)

    async def history(self, request: HistoryRequest, scope: Scope) -> HistoryPage:
        await self.flush()
        rows, total = await history_rows(self._conn, self._d, request, scope)
        return HistoryPage([self._stored(r) for r in rows], total)

    async def resolve_ids(self, resource_type: str, criteria: Sequence[Condition], scope: Scope) -> list[str]:
        await self.flush()
        request = self._query(SearchRequest((resource_type,), tuple(criteria), count=2, total="none"))
        page = search_statements(self._d, request, scope).page
        assert page is not None  # only summary=count omits the page
        return [str(row[1]) for row in await self._conn.fetchall(page)]

    # -- writes -------------------------------------------------------------------------------
    async def create(
        self, resource: dict[str, Any], partition: str, *, id: str | None = None
    ) -> StoredResource:
        resource_type = _resource_type(resource)
        new_id = id if id is not None else str(uuid.uuid4())
        if (resource_type, new_id) in self._pending:
            raise OutcomeError.conflict(f"{resource_type}/{new_id} already exists")
        instant, key = _now()
        body, content = _stamp(resource, resource_type, new_id, 1, instant)
        self._pending[(resource_type, new_id)] = _PendingCreate(
            resource_type, new_id, partition, instant, key, body, self._at_rest(body, content)
        )
        if len(self._pending) >= _FLUSH_ROWS:
            await self.flush()
        return StoredResource(resource_type, new_id, 1, instant, partition, content)

    async def _create_now(self, resource: dict[str, Any], partition: str, id: str) -> StoredResource:
        """Create at once (update-as-create needs to know now whether a concurrent writer won)."""
        resource_type = _resource_type(resource)
        instant, key = _now()
        body, content = _stamp(resource, resource_type, id, 1, instant)
        at_rest = self._at_rest(body, content)
        row = await self._conn.fetchone(
            Sql(
                _INSERT_RESOURCES.format(values="(?, ?, ?, 1, ?, ?, ?, ?)"),
                (resource_type, id, partition, instant, key, False, self._d.content_param(at_rest)),
            )
        )
        if row is None:
            raise OutcomeError.conflict(f"{resource_type}/{id} already exists")
        rid = int(row[0])
        values = self._index(body)
        await self._conn.batch(
            [
                self._history(rid, 1, partition, instant, key, False, at_rest),
                *insert_statements(rid, values),
                *self._compartment(rid, 1, resource_type, id, values),
            ]
        )
        return StoredResource(resource_type, id, 1, instant, partition, content)

    async def update(
        self, resource: dict[str, Any], partition: str, *, if_match: int | None = None, scope: Scope
    ) -> tuple[StoredResource, bool]:
        resource_type = _resource_type(resource)
        id = resource.get("id")
        if not isinstance(id, str) or not id:
            raise OutcomeError.invalid("an update needs the resource id", ["id"])
        current = await self._current(resource_type, id, content=True)
        if current is None:
            if if_match is not None:
                raise OutcomeError.precondition_failed(
                    f"If-Match expects version {if_match} of {resource_type}/{id}, which does not exist"
                )
            try:
                return await self._create_now(resource, partition, id), True
            except OutcomeError:
                # A concurrent writer created it between our read and insert: update theirs.
                current = await self._current(resource_type, id, content=True)
                if current is None:
                    raise
        rid, version, stored_partition, deleted, stored_content = current
        if not scope.allows(stored_partition):
            raise OutcomeError.not_found(f"{resource_type}/{id} is not known")
        if if_match is not None and if_match != version:
            raise OutcomeError.precondition_failed(
                f"If-Match expects version {if_match} of {resource_type}/{id}, "
                f"but the current version is {version}"
            )
        if not deleted:
            unchanged = self._unchanged(
                resource, resource_type, id, version, stored_partition, stored_content
            )
            if unchanged is not None:
                return unchanged, False
        new_version = version + 1
        instant, key = _now()
        body, content = _stamp(resource, resource_type, id, new_version, instant)
        at_rest = self._at_rest(body, content)
        values = self._index(body)
        await self._conn.batch(
            [
                (_UPDATE_RESOURCE, [(new_version, instant, key, False, self._d.content_param(at_rest), rid)]),
                self._history(rid, new_version, stored_partition, instant, key, False, at_rest),
                *delete_statements(rid),
                *insert_statements(rid, values),
                *self._compartment(rid, new_version, resource_type, id, values),
            ]
        )
        return StoredResource(resource_type, id, new_version, instant, stored_partition, content), False

    async def delete(self, resource_type: str, id: str, scope: Scope) -> StoredResource | None:
        current = await self._current(resource_type, id)
        if current is None:
            return None
        rid, version, stored_partition, deleted, _ = current
        if deleted or not scope.allows(stored_partition):
            return None
        new_version = version + 1
        instant, key = _now()
        await self._conn.batch(
            [
                (_UPDATE_RESOURCE, [(new_version, instant, key, True, self._d.content_param(b""), rid)]),
                self._history(rid, new_version, stored_partition, instant, key, True, b""),
                *delete_statements(rid),
            ]
        )
        return StoredResource(resource_type, id, new_version, instant, stored_partition, b"", deleted=True)

    # -- the codec hook (store.codec): the stored form of sensitive values ----------------------
    def _at_rest(self, body: dict[str, Any], content: bytes) -> bytes:
        """The bytes written for the stamped `body` (its plaintext `content` unless the codec
        encodes something in it)."""
        if not self._codec.active:
            return content
        encoded = self._codec.encode(body)
        return content if encoded is None else encoded

    def _index(self, body: dict[str, Any]) -> list[IndexValue]:
        """Index rows of `body`, extracted from its plaintext, as the codec stores them."""
        values = self._indexer(body)
        return self._codec.index_values(body, values) if self._codec.active else values

    def _stored(self, row: Row) -> StoredResource:
        """A result row with its content decoded to plaintext."""
        found = stored(row)
        if self._codec.active and found.resource_type in self._codec.resource_types and found.content:
            plain = self._codec.decode(found.resource_type, found.content)
            if plain is not found.content:
                found = dataclasses.replace(found, content=plain)
        return found

    def _query(self, request: SearchRequest) -> SearchRequest:
        """Search conditions as they must be compiled against the stored index rows."""
        if not self._codec.active or not request.conditions:
            return request
        return dataclasses.replace(
            request, conditions=tuple(self._codec.query(c) for c in request.conditions)
        )

    # -- the audit log --------------------------------------------------------------------------
    async def search_audit(self, query: AuditQuery) -> AuditPage:
        """The AuditEvent search route reads the log in this transaction (store/sql/audit.py)."""
        return await search_log(self._conn, self._d, query)

    # -- helpers ------------------------------------------------------------------------------
    def _compartment(
        self, rid: int, version: int, resource_type: str, id: str, values: Sequence[IndexValue]
    ) -> list[BatchStatement]:
        """The consent index rows of one version (store/sql/compartment.py)."""
        if not self.compartments:
            return []
        return compartment_statements(rid, version, resource_type, id, values)

    async def _current(
        self, resource_type: str, id: str, *, content: bool = False
    ) -> tuple[int, int, str, bool, bytes] | None:
        """rid, version, partition, deleted flag and (when asked) stored content of the
        current row, locked for update."""
        await self.flush()
        columns = "rid, version, partition, deleted" + (
            f", {self._d.content_column('content')}" if content else ""
        )
        row = await self._conn.fetchone(
            Sql(
                f"SELECT {columns} FROM resource WHERE res_type = ? AND res_id = ?" + self._d.for_update,
                (resource_type, id),
            )
        )
        if row is None:
            return None
        stored_content = (row[4] if isinstance(row[4], bytes) else bytes(row[4])) if content else b""
        return int(row[0]), int(row[1]), str(row[2]), bool(row[3]), stored_content

    def _unchanged(
        self,
        resource: dict[str, Any],
        resource_type: str,
        id: str,
        version: int,
        partition: str,
        at_rest: bytes,
    ) -> StoredResource | None:
        """The current version, when `resource` says the same thing as it (HAPI's no-op
        update): a re-sent HL7 message or a re-imported front sheet must not grow a version
        per delivery, and history should show changes, not deliveries."""
        content = at_rest
        if self._codec.active and resource_type in self._codec.resource_types:
            content = self._codec.decode(resource_type, at_rest)
        stored_json: dict[str, Any] = jsontext.loads(content)
        if not same_content(resource, stored_json):
            return None
        meta = stored_json.get("meta") or {}
        return StoredResource(
            resource_type, id, version, str(meta.get("lastUpdated", "")), partition, content
        )

    def _history(
        self, rid: int, version: int, partition: str, instant: str, key: str, deleted: bool, content: bytes
    ) -> BatchStatement:
        return (
            _INSERT_HISTORY,
            [(rid, version, partition, instant, key, deleted, self._d.content_param(content))],
        )


@lru_cache(maxsize=64)
def insert_target(text: str) -> tuple[str, tuple[str, ...]]:
    """The table and columns of an `INSERT INTO t (a, b) VALUES ...` statement (the rows of
    one are then appended with `Connection.insert_rows`)."""
    match = _INSERT.match(text)
    if match is None:
        raise ValueError(f"not an INSERT: {text}")
    return match.group(1), tuple(c.strip() for c in match.group(2).split(","))


def _resource_type(resource: dict[str, Any]) -> str:
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise OutcomeError.invalid("the resource has no resourceType", ["resourceType"])
    return rtype


def _now() -> tuple[str, str]:
    """The FHIR instant of this write and its normalised key (fhir.search.model)."""
    moment = datetime.now(UTC)
    return moment.isoformat(timespec="microseconds"), moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _stamp(
    resource: dict[str, Any], resource_type: str, id: str, version: int, instant: str
) -> tuple[dict[str, Any], bytes]:
    """The resource as stored: `resourceType`, `id`, `meta` first, meta keeping its other
    elements (tags, profiles, source, security) with versionId/lastUpdated set."""
    meta = resource.get("meta", {})
    if not isinstance(meta, dict):
        raise OutcomeError.invalid("meta must be an object", [f"{resource_type}.meta"])
    body: dict[str, Any] = {
        "resourceType": resource_type,
        "id": id,
        "meta": {**meta, "versionId": str(version), "lastUpdated": instant},
    }
    for name, value in resource.items():
        if name not in body:
            body[name] = value
    return body, jsontext.dumps(body)
