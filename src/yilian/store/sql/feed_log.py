"""The feed log over any SQL backend: one row per received message in `feed_message`
(migration 7), indexed by sending facility and control id.

`save_feed_message` is an upsert on the message id; a second delivery of a stored message
only counts it (`count_delivery`), so the row always shows the first arrival and the last
processing.

The message bytes and the ACK hold what the PID segment holds (resident ID, name, phone), so
they go through the repository's codec: with encryption keys configured they are sealed at
rest (`ResourceCodec.seal`, bound to the row id and column) and opened on every read; rows
written before keys were configured read as they are until `yilian keys rotate` seals them
(store/sql/recode.py).  Searching only ever compares the plain columns, never the bytes.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson

from yilian.store.base import Repository
from yilian.store.codec import ResourceCodec
from yilian.store.feed_log import FeedMessage, FeedMessageQuery
from yilian.store.sql.connection import Connection
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import Sql

__all__ = ["SEALED_COLUMNS", "SqlFeedLog", "feed_log_tables", "sealed_at"]

_TEXT_COLUMNS = (
    "id", "received", "updated", "channel", "peer", "sending_application", "sending_facility",
    "control_id", "message_type", "version", "institution", "status", "ack_code", "error",
)  # fmt: skip
_COLUMNS = (*_TEXT_COLUMNS, "raw", "ack", "resources", "deliveries", "attempts")
SEALED_COLUMNS = ("raw", "ack")
"""The columns of `feed_message` sealed by the codec."""


def sealed_at(message_id: str, column: str) -> str:
    """The place a sealed column value is bound to (`ResourceCodec.seal`'s purpose)."""
    return f"feed_message/{message_id}/{column}"


def feed_log_tables(d: Dialect) -> list[Sql]:
    """Migration 7: the feed log (store/feed_log.py)."""
    k, c = d.key_text, d.binary_type
    return [
        Sql(
            f"CREATE TABLE feed_message (id {k} PRIMARY KEY, received {k} NOT NULL, updated {k} NOT NULL, "
            f"channel {k} NOT NULL, peer TEXT NOT NULL, sending_application TEXT NOT NULL, "
            f"sending_facility {k} NOT NULL, control_id {k}, message_type {k} NOT NULL, "
            f"version TEXT NOT NULL, institution {k}, status {k} NOT NULL, ack_code TEXT NOT NULL, "
            f"error TEXT NOT NULL, raw {c} NOT NULL, ack {c} NOT NULL, resources TEXT NOT NULL, "
            "deliveries INTEGER NOT NULL, attempts INTEGER NOT NULL)"
        ),
        Sql("CREATE INDEX feed_message_sender ON feed_message (sending_facility, control_id)"),
        Sql("CREATE INDEX feed_message_received ON feed_message (received, id)"),
        Sql("CREATE INDEX feed_message_status ON feed_message (status, received)"),
    ]


class SqlFeedLog(Repository):
    """The feed-log half of the SQL Repository (mixed into SqlRepository)."""

    dialect: Dialect
    codec: ResourceCodec

    @abstractmethod
    def _connection(self, read_only: bool) -> AbstractAsyncContextManager[Connection]: ...

    async def save_feed_message(self, message: FeedMessage) -> None:
        values = [getattr(message, c) for c in _TEXT_COLUMNS]
        values += [
            self.codec.seal(sealed_at(message.id, "raw"), message.raw),
            self.codec.seal(sealed_at(message.id, "ack"), message.ack),
            orjson.dumps(list(message.resources)).decode(),
            message.deliveries,
            message.attempts,
        ]
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in ("id", "received"))
        marks = ", ".join("?" for _ in _COLUMNS)
        async with self._connection(False) as conn:
            if self.dialect.relaxed_commit:
                await conn.execute(Sql(self.dialect.relaxed_commit))
            await conn.execute(
                Sql(
                    f"INSERT INTO feed_message ({', '.join(_COLUMNS)}) VALUES ({marks}) "
                    f"ON CONFLICT (id) DO UPDATE SET {updates}",
                    tuple(values),
                )
            )

    async def count_feed_delivery(self, id: str, updated: str) -> None:
        async with self._connection(False) as conn:
            await conn.execute(
                Sql(
                    "UPDATE feed_message SET deliveries = deliveries + 1, updated = ? WHERE id = ?",
                    (updated, id),
                )
            )

    async def find_feed_messages(self, sending_facility: str, control_id: str) -> list[FeedMessage]:
        return await self._select(
            Sql("sending_facility = ? AND control_id = ?", (sending_facility, control_id)), 100
        )

    async def load_feed_message(self, id: str) -> FeedMessage | None:
        found = await self._select(Sql("id = ?", (id,)), 1)
        return found[0] if found else None

    async def search_feed_messages(self, query: FeedMessageQuery) -> list[FeedMessage]:
        d = self.dialect
        where = Sql("1=1")
        if query.status:
            where = where + " AND " + d.in_list("status", list(query.status))
        if query.ids:
            where = where + " AND " + d.in_list("id", list(query.ids))
        for column, value in (
            ("institution", query.institution),
            ("sending_facility", query.sending_facility),
            ("control_id", query.control_id),
        ):
            if value is not None:
                where = where + Sql(f" AND {column} = ?", (value,))
        if query.message_type:
            if "^" in query.message_type:
                where = where + Sql(" AND message_type = ?", (query.message_type,))
            else:
                where = where + Sql(" AND (message_type = ? OR message_type LIKE ?)", (
                    query.message_type, query.message_type + "^%"))  # fmt: skip
        if query.since:
            where = where + Sql(" AND received >= ?", (query.since,))
        if query.until:
            where = where + Sql(" AND received < ?", (query.until,))
        if query.before:
            where = where + Sql(" AND (received < ? OR (received = ? AND id < ?))", (
                query.before[0], query.before[0], query.before[1]))  # fmt: skip
        return await self._select(where, max(1, min(query.limit, 10_000)))

    async def _select(self, where: Sql, limit: int) -> list[FeedMessage]:
        columns = _COLUMNS
        async with self._connection(True) as conn:
            rows = await conn.fetchall(
                Sql(f"SELECT {', '.join(columns)} FROM feed_message WHERE ")
                + where
                + Sql(f" ORDER BY received DESC, id DESC LIMIT {int(limit)}")
            )
        return [_message(row, self.codec) for row in rows]


def _message(row: Sequence[Any], codec: ResourceCodec) -> FeedMessage:
    n = len(_TEXT_COLUMNS)
    text = dict(zip(_TEXT_COLUMNS, row[:n], strict=True))
    raw, ack, resources, deliveries, attempts = row[n:]
    return FeedMessage(
        **text,
        raw=codec.unseal(sealed_at(text["id"], "raw"), raw if isinstance(raw, bytes) else bytes(raw)),
        ack=codec.unseal(sealed_at(text["id"], "ack"), ack if isinstance(ack, bytes) else bytes(ack)),
        resources=tuple(orjson.loads(resources)),
        deliveries=int(deliveries),
        attempts=int(attempts),
    )
