"""Rewriting stored values under the current codec: the engine of `yilian keys rotate`.

Two passes over the resource types the codec protects: the current rows (`resource`), then
every version (`resource_history`), in key order, `batch_size` rows per transaction.  A row is
rewritten when the codec calls it stale (a protected value in plaintext, or encrypted under a
key other than the primary); a current row that is rewritten, or every current row when the
search hash key changes (`reindex`), also gets its search-index rows rebuilt from the
plaintext.  Rows already in the current form are skipped, so the run is idempotent and an
interrupted run simply starts again.  Current rows are read `FOR UPDATE` on PostgreSQL (SQLite
serialises writers), so a server writing at the same time never loses a version to the
rewrite.  A third pass re-seals the feed log's message bytes and ACKs (`feed_message.raw`,
`.ack`, store/sql/feed_log.py) that are stale: stored before keys were configured, or sealed
under an older key.  Once every pass is through, the keys no value uses any more are retired.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from yilian.fhir import jsontext
from yilian.store.codec import ResourceCodec
from yilian.store.sql.connection import Connection
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.feed_log import SEALED_COLUMNS, sealed_at
from yilian.store.sql.fragment import BatchStatement, Sql
from yilian.store.sql.indexing import delete_statements, insert_statements
from yilian.store.sql.keys import active_keys, record_keys, retire_keys
from yilian.store.sql.session import Indexer

__all__ = ["Progress", "RecodeReport", "recode"]

Progress = Callable[[str, int, int], None]
"""Called after each batch with the table, the rows examined so far and the rows in all."""

ConnectionFactory = Callable[[bool], AbstractAsyncContextManager[Connection]]


@dataclass(frozen=True, slots=True)
class RecodeReport:
    """What a run did: rows examined and rewritten per table, index rebuilds, keys retired."""

    current_rows: int
    current_rewritten: int
    history_rows: int
    history_rewritten: int
    reindexed: int
    retired: tuple[str, ...]
    feed_rows: int = 0
    feed_resealed: int = 0


async def recode(
    connection: ConnectionFactory,
    d: Dialect,
    indexer: Indexer,
    codec: ResourceCodec,
    *,
    reindex: bool = False,
    feed_log: bool = True,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> RecodeReport:
    """Rewrite every stale value (module docstring); `feed_log` says whether the database has
    the feed log (migration 7).  The codec must be able to decrypt every value stored: a
    value under a key it lacks stops the run with the codec's error, after the batches
    before it were committed."""
    types = sorted(codec.resource_types)
    async with connection(False) as conn:
        codec.check([k for k in await active_keys(conn) if k.purpose == "data" or not reindex])
    current, history = (0, 0, 0), (0, 0)
    if types:
        current = await _current_pass(connection, d, indexer, codec, types, reindex, batch_size, progress)
        history = await _history_pass(connection, d, codec, types, batch_size, progress)
    feed = await _feed_pass(connection, d, codec, batch_size, progress) if feed_log else (0, 0)
    retired: list[str] = []
    async with connection(False) as conn:
        await record_keys(conn, codec, check=False)
        # With no protected types configured, resources of types protected before were not
        # looked at, so no key can be known to be unused.
        for use in codec.keys_in_use() if types else ():
            retired += await retire_keys(conn, use.purpose, [use.key_id])
    return RecodeReport(
        current[0], current[1], history[0], history[1], current[2], tuple(retired), feed[0], feed[1]
    )


async def _count(connection: ConnectionFactory, d: Dialect, sql: str, types: list[str]) -> int:
    async with connection(True) as conn:
        row = await conn.fetchone(Sql(sql) + d.in_list("r.res_type", types))
    return int(row[0]) if row else 0


async def _current_pass(
    connection: ConnectionFactory,
    d: Dialect,
    indexer: Indexer,
    codec: ResourceCodec,
    types: list[str],
    reindex: bool,
    batch_size: int,
    progress: Progress | None,
) -> tuple[int, int, int]:
    total = await _count(connection, d, "SELECT COUNT(*) FROM resource r WHERE NOT r.deleted AND ", types)
    seen = rewritten = reindexed = 0
    after = 0
    while True:
        async with connection(False) as conn:
            rows = await conn.fetchall(
                Sql(f"SELECT r.rid, r.res_type, {d.content_column('r.content')} FROM resource r WHERE ")
                + d.in_list("r.res_type", types)
                + Sql(" AND NOT r.deleted AND r.rid > ? ORDER BY r.rid LIMIT ?", (after, batch_size))
                + d.for_update
            )
            statements: list[BatchStatement] = []
            for rid, res_type, raw in rows:
                content = _bytes(raw)
                stale = codec.stale(res_type, content)
                if not (stale or reindex):
                    continue
                body = jsontext.loads(codec.decode(res_type, content))
                if stale:
                    stored = codec.encode(body) or jsontext.dumps(body)
                    statements.append(
                        ("UPDATE resource SET content = ? WHERE rid = ?", [(d.content_param(stored), rid)])
                    )
                    rewritten += 1
                statements += delete_statements(rid)
                statements += insert_statements(rid, codec.index_values(body, indexer(body)))
                reindexed += 1
            if statements:
                await conn.batch(statements)
        if not rows:
            break
        seen += len(rows)
        after = int(rows[-1][0])
        if progress is not None:
            progress("resource", seen, total)
    return seen, rewritten, reindexed


async def _history_pass(
    connection: ConnectionFactory,
    d: Dialect,
    codec: ResourceCodec,
    types: list[str],
    batch_size: int,
    progress: Progress | None,
) -> tuple[int, int]:
    total = await _count(
        connection,
        d,
        "SELECT COUNT(*) FROM resource_history h JOIN resource r ON r.rid = h.rid WHERE NOT h.deleted AND ",
        types,
    )
    seen = rewritten = 0
    after = (0, 0)
    while True:
        async with connection(False) as conn:
            rows = await conn.fetchall(
                Sql(
                    f"SELECT h.rid, h.version, r.res_type, {d.content_column('h.content')} "
                    "FROM resource_history h JOIN resource r ON r.rid = h.rid WHERE "
                )
                + d.in_list("r.res_type", types)
                + Sql(
                    " AND NOT h.deleted AND (h.rid > ? OR (h.rid = ? AND h.version > ?)) "
                    "ORDER BY h.rid, h.version LIMIT ?",
                    (after[0], after[0], after[1], batch_size),
                )
            )
            updates: list[tuple[object, ...]] = []
            for rid, version, res_type, raw in rows:
                content = _bytes(raw)
                if codec.stale(res_type, content):
                    body = jsontext.loads(codec.decode(res_type, content))
                    stored = codec.encode(body) or jsontext.dumps(body)
                    updates.append((d.content_param(stored), rid, version))
            if updates:
                await conn.batch(
                    [("UPDATE resource_history SET content = ? WHERE rid = ? AND version = ?", updates)]
                )
                rewritten += len(updates)
        if not rows:
            break
        seen += len(rows)
        after = (int(rows[-1][0]), int(rows[-1][1]))
        if progress is not None:
            progress("resource_history", seen, total)
    return seen, rewritten


async def _feed_pass(
    connection: ConnectionFactory,
    d: Dialect,
    codec: ResourceCodec,
    batch_size: int,
    progress: Progress | None,
) -> tuple[int, int]:
    """Re-seal the stale message bytes and ACKs of the feed log, in id order; rows are read
    `FOR UPDATE` so a re-delivery processed meanwhile is not overwritten with older bytes."""
    async with connection(True) as conn:
        row = await conn.fetchone(Sql("SELECT COUNT(*) FROM feed_message"))
    total = int(row[0]) if row else 0
    seen = resealed = 0
    after = ""
    columns = ", ".join(SEALED_COLUMNS)
    while True:
        async with connection(False) as conn:
            rows = await conn.fetchall(
                Sql(
                    f"SELECT id, {columns} FROM feed_message WHERE id > ? ORDER BY id LIMIT ?",
                    (after, batch_size),
                )
                + d.for_update
            )
            updates: list[tuple[object, ...]] = []
            for message_id, *stored in rows:
                values = [_bytes(v) for v in stored]
                if not any(codec.sealed_stale(v) for v in values):
                    continue
                places = [sealed_at(message_id, c) for c in SEALED_COLUMNS]
                plain = [codec.unseal(p, v) for p, v in zip(places, values, strict=True)]
                updates.append((*(codec.seal(p, v) for p, v in zip(places, plain, strict=True)), message_id))
            if updates:
                assignments = ", ".join(f"{c} = ?" for c in SEALED_COLUMNS)
                await conn.batch([(f"UPDATE feed_message SET {assignments} WHERE id = ?", updates)])
                resealed += len(updates)
        if not rows:
            break
        seen += len(rows)
        after = str(rows[-1][0])
        if progress is not None:
            progress("feed_message", seen, total)
    return seen, resealed


def _bytes(raw: Any) -> bytes:
    """The content column as bytes (the dialect's `content_column` yields bytes or a view)."""
    if isinstance(raw, str):
        return raw.encode()
    return raw if isinstance(raw, bytes) else bytes(raw)
