"""Bulk loading: a batch of resources written PUT-style in a handful of statements.

Bulk Data import (https://hl7.org/fhir/uv/bulkdata/) and `yilian import` hand the store
resources that already carry their ids.  `load_batch` is `Session.bulk_load` for the SQL
backends, inside the session's one database transaction:

1. one SELECT finds the current rows of every (type, id) in the batch (locked `FOR UPDATE` on
   PostgreSQL, so a concurrent writer of the same resource waits for the batch);
2. a resource with no row is created through the session's own deferred-create queue, so its
   resource, history, index, compartment and label rows are written exactly as a POST writes
   them (one multi-row INSERT of the resource rows, then one executemany per table);
3. a resource whose stored current version says the same thing (`store.base.same_content`,
   the stored content decoded by the codec first) is left alone: no new version;
4. every other one becomes a new version, written for the whole batch at once: one UPDATE
   executemany, one history executemany, one DELETE executemany per index table and one INSERT
   executemany per index table, the same statements `SqlSession.update` sends for one resource;
5. one whose stored row lies outside the caller's scope (another institution) is refused.

Nothing here re-implements indexing, stamping or encoding: the session's `_index`,
`_at_rest` and `_compartment` and the module-level `_stamp` are the single definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from yilian.fhir.outcome import OutcomeError
from yilian.store.base import LoadedResource, Scope, refused_message, same_content
from yilian.store.sql.fragment import Sql
from yilian.store.sql.indexing import BatchStatement, delete_statements, insert_statements, merge_statements
from yilian.store.sql.session import _UPDATE_RESOURCE, SqlSession, _now, _resource_type, _stamp

__all__ = ["load_batch"]

_KEY_CHUNK = 1000
"""Ids looked up per SELECT (two lists of at most this many parameters on SQLite)."""


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
    if len(set(keys)) != len(keys):
        raise ValueError("bulk_load: a (type, id) appears twice in one batch")
    current = await _current_rows(session, keys)
    out: list[LoadedResource] = []
    statements: list[BatchStatement] = []
    for resource, key in zip(resources, keys, strict=True):
        rtype, rid = key
        row = current.get(key)
        if row is None:
            await session.create(resource, partition, id=rid)
            out.append(LoadedResource(rtype, rid, "created", 1))
            continue
        row_id, version, stored_partition, deleted, content = row
        if not scope.allows(stored_partition):
            out.append(LoadedResource(rtype, rid, "refused", message=refused_message(rtype, rid)))
            continue
        if not deleted and same_content(resource, _plain(session, rtype, content)):
            out.append(LoadedResource(rtype, rid, "unchanged", version))
            continue
        new_version = version + 1
        statements += _new_version(session, resource, rtype, rid, row_id, new_version, stored_partition)
        out.append(LoadedResource(rtype, rid, "updated", new_version))
    await session.flush()
    if statements:
        await session._conn.batch(merge_statements(statements))
    return out


async def _current_rows(
    session: SqlSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int, str, bool, bytes]]:
    """rid, version, partition, deleted and stored content of each key's current row."""
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
    loaded: dict[str, Any] = orjson.loads(content)
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
