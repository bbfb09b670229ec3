"""Bulk loading: a batch of resources written PUT-style in a handful of statements.

Bulk Data import (https://hl7.org/fhir/uv/bulkdata/) and `yilian import` hand the store
resources that already carry their ids.  `load_batch` is `Session.bulk_load` for the SQL
backends (`BulkLoadingSession`, the session the SQL repository opens), inside the session's
one database transaction:

1. one SELECT finds the current rows of every (type, id) in the batch (locked `FOR UPDATE` on
   PostgreSQL, so a concurrent writer of the same resource waits for the batch);
2. a resource with no row is created through the session's own deferred-create queue, so its
   resource, history, index, compartment and label rows are written exactly as a POST writes
   them (one multi-row INSERT of the resource rows, then one `insert_rows` per table);
3. a resource whose stored current version says the same thing (`store.base.same_content`,
   the stored content decoded by the codec first) is left alone: no new version;
4. every other one becomes a new version, written for the whole batch at once: one UPDATE
   executemany, one history executemany, one DELETE executemany per index table and one INSERT
   executemany per index table, the same statements `SqlSession.update` sends for one resource;
5. one whose stored row lies outside the caller's scope (another institution) is refused.

Nothing here re-implements indexing, stamping or encoding: the session's `_index`,
`_at_rest` and `_compartment` and the module-level `_stamp` are the single definitions.

`prepare_resources` (the SQL repository's `bulk_preparer`) does the per-resource work of a
create ahead of time, with one timestamp for the batch and without a connection, so a loader
can run it in worker processes: the stamped JSON as stored, and every index, compartment and
label row without its rid.  `load_prepared` (`Session.bulk_load_prepared`) then takes the
same steps as `load_batch`, except that brand-new resources get their rids reserved in one
query and every table's rows are appended with `Connection.insert_rows` (PostgreSQL `COPY`,
SQLite one executemany), one call per table per batch; on PostgreSQL the preparer already
wrote the rows in COPY's text format, so this process only puts each rid in front and sends
the bytes.  Existing resources go through the paths above, from the prepared plaintext.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from yilian.fhir import jsontext
from yilian.fhir.outcome import OutcomeError
from yilian.store.base import LoadedResource, Scope, refused_message, same_content
from yilian.store.codec import ResourceCodec
from yilian.store.sql.compartment import compartment_statements
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import BatchStatement, Sql
from yilian.store.sql.indexing import delete_statements, insert_statements, merge_statements
from yilian.store.sql.session import (
    _UPDATE_RESOURCE,
    Indexer,
    SqlSession,
    _now,
    _resource_type,
    _stamp,
    insert_target,
)

__all__ = ["BulkLoadingSession", "Prepared", "load_batch", "load_prepared", "prepare_resources"]

Prepared = tuple[str, str, bytes, tuple[tuple[str, object], ...]]
"""A resource ready to be written as version 1: type, id, its stamped plaintext JSON, and per
INSERT statement (resource and history first) its rows without the leading rid, encoded by
the dialect (`Dialect.bulk_encode`)."""

_HISTORY_COLUMNS = ("rid", "version", "partition", "last_updated", "last_updated_key", "deleted", "content")
_RESOURCE_COLUMNS = ("rid", "res_type", "res_id", "partition", "version", *_HISTORY_COLUMNS[3:])
_RESOURCE = f"INSERT INTO resource ({', '.join(_RESOURCE_COLUMNS)})"
_HISTORY = f"INSERT INTO resource_history ({', '.join(_HISTORY_COLUMNS)})"

_KEY_CHUNK = 1000
"""Ids looked up per SELECT (two lists of at most this many parameters on SQLite)."""


class BulkLoadingSession(SqlSession):
    """The SQL session with `bulk_load` and `bulk_load_prepared` written a batch at a time."""

    async def bulk_load(
        self, resources: Sequence[dict[str, Any]], partition: str, scope: Scope
    ) -> list[LoadedResource]:
        """A batch written PUT-style in a few statements (see the module docstring)."""
        return await load_batch(self, resources, partition, scope)

    async def bulk_load_prepared(
        self, prepared: Sequence[object], partition: str, scope: Scope
    ) -> list[LoadedResource]:
        """`bulk_load` of items made by `prepare_resources` (see the module docstring)."""
        return await load_prepared(self, prepared, partition, scope)


async def load_batch(
    session: SqlSession, resources: Sequence[dict[str, Any]], partition: str, scope: Scope
) -> list[LoadedResource]:
    """See the module docstring and `Session.bulk_load`."""
    await session.flush()
    keys: list[tuple[str, str]] = []
    for resource in resources:
        rtype = _resource_type(resource)
        rid = resource.get("id")
        if not isinstance(rid, str) or not rid:
            raise OutcomeError.invalid("a bulk load needs the id of every resource", [f"{rtype}.id"])
        keys.append((rtype, rid))
    current = await _current_rows(session, keys)
    out: list[LoadedResource] = []
    statements: list[BatchStatement] = []
    for resource, key in zip(resources, keys, strict=True):
        row = current.get(key)
        if row is None:
            await session.create(resource, partition, id=key[1])
            out.append(LoadedResource(*key, "created", 1))
        else:
            out.append(_onto_existing(session, scope, key, row, resource, statements))
    await session.flush()
    if statements:
        await session._conn.batch(merge_statements(statements))
    return out


def _onto_existing(
    session: SqlSession,
    scope: Scope,
    key: tuple[str, str],
    row: tuple[int, int, str, bool, bytes],
    resource: dict[str, Any] | bytes,
    statements: list[BatchStatement],
) -> LoadedResource:
    """What a batch does with a resource whose id already has a row: refuse it (stored in an
        institution outside `scope`), leave it (same content, not deleted), or queue its next
        version's statements onto `statements`.  `resource` may come as its JSON bytes (a
    prepared batch), parsed only when it is compared."""
    rtype, rid = key
    row_id, version, stored_partition, deleted, content = row
    if not scope.allows(stored_partition):
        return LoadedResource(rtype, rid, "refused", message=refused_message(rtype, rid))
    incoming: dict[str, Any] = jsontext.loads(resource) if isinstance(resource, bytes) else resource
    if not deleted and same_content(incoming, _plain(session, rtype, content)):
        return LoadedResource(rtype, rid, "unchanged", version)
    statements += _new_version(session, incoming, rtype, rid, row_id, version + 1, stored_partition)
    return LoadedResource(rtype, rid, "updated", version + 1)


async def _current_rows(
    session: SqlSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int, str, bool, bytes]]:
    """rid, version, partition, deleted and stored content of each key's current row (a key
    twice in one batch is a caller's error: each batch writes one version per resource)."""
    if len(set(keys)) != len(keys):
        raise ValueError("bulk_load: a (type, id) appears twice in one batch")
    d = session._d
    found: dict[tuple[str, str], tuple[int, int, str, bool, bytes]] = {}
    wanted = set(keys)
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        ids = sorted({k[1] for k in chunk})
        types = sorted({k[0] for k in chunk})
        query = (
            Sql(
                f"SELECT rid, res_type, res_id, version, partition, deleted, "
                f"{d.content_column('content')} FROM resource WHERE "
            )
            + d.in_list("res_id", ids)
            + " AND "
            + d.in_list("res_type", types)
            + d.for_update
        )
        for r in await session._conn.fetchall(query):
            key = (str(r[1]), str(r[2]))
            if key in wanted:
                content = r[6] if isinstance(r[6], bytes) else bytes(r[6])
                found[key] = (int(r[0]), int(r[3]), str(r[4]), bool(r[5]), content)
    return found


def _plain(session: SqlSession, resource_type: str, content: bytes) -> dict[str, Any]:
    """The stored current version as plaintext JSON (the codec decodes what it encoded)."""
    codec = session._codec
    if codec.active and resource_type in codec.resource_types:
        content = codec.decode(resource_type, content)
    loaded: dict[str, Any] = jsontext.loads(content)
    return loaded


def _new_version(
    session: SqlSession,
    resource: dict[str, Any],
    resource_type: str,
    id: str,
    row_id: int,
    version: int,
    stored_partition: str,
) -> list[BatchStatement]:
    """The statements `SqlSession.update` sends for one resource, for merging with the rest."""
    instant, key = _now()
    body, content = _stamp(resource, resource_type, id, version, instant)
    at_rest = session._at_rest(body, content)
    values = session._index(body)
    param = session._d.content_param(at_rest)
    return [
        (_UPDATE_RESOURCE, [(version, instant, key, False, param, row_id)]),
        session._history(row_id, version, stored_partition, instant, key, False, at_rest),
        *delete_statements(row_id),
        *insert_statements(row_id, values),
        *session._compartment(row_id, version, resource_type, id, values),
    ]


# -- prepared loads ---------------------------------------------------------------------------
def prepare_resources(
    resources: Sequence[dict[str, Any]],
    partition: str,
    *,
    dialect: Dialect,
    indexer: Indexer,
    codec: ResourceCodec,
    compartments: bool,
) -> list[object]:
    """Each resource as `Prepared` for `partition` (see the module docstring), all stamped
    with one instant."""
    instant, key = _now()
    encode = dialect.bulk_encode
    out: list[object] = []
    for resource in resources:
        rtype = _resource_type(resource)
        rid = resource.get("id")
        if not isinstance(rid, str) or not rid:
            raise OutcomeError.invalid("a bulk load needs the id of every resource", [f"{rtype}.id"])
        body, content = _stamp(resource, rtype, rid, 1, instant)
        stored = content
        values = indexer(body)
        if codec.active:
            encoded = codec.encode(body)
            if encoded is not None:
                stored = encoded
            values = codec.index_values(body, values)
        param = dialect.content_param(stored)
        groups: list[tuple[str, object]] = [
            (_RESOURCE, encode([(rtype, rid, partition, 1, instant, key, False, param)])),
            (_HISTORY, encode([(1, partition, instant, key, False, param)])),
        ]
        groups += [(text, encode([row[1:] for row in rows])) for text, rows in insert_statements(0, values)]
        if compartments:
            groups += [
                (text, encode([row[1:] for row in rows]))
                for text, rows in compartment_statements(0, 1, rtype, rid, values)
            ]
        out.append((rtype, rid, content, tuple(groups)))
    return out


async def load_prepared(
    session: SqlSession, prepared: Sequence[object], partition: str, scope: Scope
) -> list[LoadedResource]:
    """`load_batch` for `Prepared` items made for `partition` (see the module docstring)."""
    await session.flush()
    items: list[Prepared] = [_checked(p) for p in prepared]
    keys = [(p[0], p[1]) for p in items]
    current = await _current_rows(session, keys)
    out: list[LoadedResource] = []
    fresh: list[Prepared] = []
    statements: list[BatchStatement] = []
    for item, key in zip(items, keys, strict=True):
        row = current.get(key)
        if row is None:
            fresh.append(item)
            out.append(LoadedResource(*key, "created", 1))
        else:
            out.append(_onto_existing(session, scope, key, row, item[2], statements))
    if fresh:
        await _append_fresh(session, fresh)
    if statements:
        await session._conn.batch(merge_statements(statements))
    return out


def _checked(item: object) -> Prepared:
    if not isinstance(item, tuple) or len(item) != 4:
        raise TypeError(f"not a prepared resource: {type(item).__name__}")
    return item  # the shape is ours: prepare_resources made it


async def _append_fresh(session: SqlSession, fresh: Sequence[Prepared]) -> None:
    """Version 1 of resources that have no row: rids reserved in one query, then every
    table's rows appended in one call each (resource first: history refers to it)."""
    conn, attach = session._conn, session._d.bulk_attach
    rids = [int(r[0]) for r in await conn.fetchall(session._d.reserve_rids(len(fresh)))]
    if len(rids) != len(fresh):
        raise RuntimeError("the database reserved fewer resource ids than asked for")
    tables: dict[str, list[object]] = {_RESOURCE: [], _HISTORY: []}
    for rid, item in zip(rids, fresh, strict=True):
        for text, encoded in item[3]:
            dest = tables.get(text)
            if dest is None:
                dest = tables[text] = []
            attach(rid, encoded, dest)
    for text, rows in tables.items():
        table, columns = insert_target(text)
        await conn.insert_rows(table, columns, rows)
