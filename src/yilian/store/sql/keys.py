"""The `encryption_key` table: which keys the stored values depend on.

Every start-up compares the table with the configured keys (`ResourceCodec.check`) before the
server answers, so a deployment that lost a key, or points at the wrong key file, refuses to
start with a message naming the key, instead of failing on the first read of an encrypted
identifier (or, for the search hash key, silently finding nothing).  Then it records the keys
new writes will use.  `yilian keys rotate` retires a key once no stored value needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from yilian.store.codec import KeyUse, ResourceCodec
from yilian.store.sql.connection import Connection
from yilian.store.sql.fragment import Sql

__all__ = ["active_keys", "record_keys", "retire_keys"]


async def active_keys(conn: Connection) -> list[KeyUse]:
    """The keys the database has used and not retired."""
    rows = await conn.fetchall(
        Sql("SELECT purpose, key_id FROM encryption_key WHERE retired IS NULL ORDER BY purpose, key_id")
    )
    return [KeyUse(str(r[0]), str(r[1])) for r in rows]


async def record_keys(conn: Connection, codec: ResourceCodec, *, check: bool = True) -> None:
    """Refuse (KeyConfigurationError) when a key in use is not configured, then record the
    keys the codec writes with.  A re-used key id that had been retired is active again."""
    if check:
        codec.check(await active_keys(conn))
    now = _now()
    for use in codec.keys_in_use():
        await conn.execute(
            Sql(
                "INSERT INTO encryption_key (purpose, key_id, first_used, retired) VALUES (?, ?, ?, NULL) "
                "ON CONFLICT (purpose, key_id) DO UPDATE SET retired = NULL",
                (use.purpose, use.key_id, now),
            )
        )


async def retire_keys(conn: Connection, purpose: str, keep: Sequence[str]) -> list[str]:
    """Mark every active `purpose` key not in `keep` retired; returns the ids retired."""
    rows = await conn.fetchall(
        Sql("SELECT key_id FROM encryption_key WHERE purpose = ? AND retired IS NULL", (purpose,))
    )
    retired = sorted(str(r[0]) for r in rows if str(r[0]) not in keep)
    for key_id in retired:
        await conn.execute(
            Sql(
                "UPDATE encryption_key SET retired = ? WHERE purpose = ? AND key_id = ?",
                (_now(), purpose, key_id),
            )
        )
    return retired


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
