"""Result rows -> StoredResource.

Every statement that returns resources selects the same eight columns (see
`query.resource_columns`): type, id, version, lastUpdated, partition, content, deleted, rid.
The content column already holds the JSON bytes the client will receive, so nothing is
parsed or re-serialised on the read path.
"""

from __future__ import annotations

from typing import Any

from yilian.store.base import StoredResource

__all__ = ["Row", "stored"]

Row = tuple[Any, ...]


def stored(row: Row) -> StoredResource:
    content = row[5]
    if not isinstance(content, bytes):
        content = bytes(content)
    return StoredResource(
        resource_type=row[0],
        id=row[1],
        version=int(row[2]),
        last_updated=row[3],
        partition=row[4],
        content=content,
        deleted=bool(row[6]),
    )
