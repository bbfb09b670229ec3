"""Choose a repository backend from a database URL (the composition root's one switch).

`sqlite:///relative/or/absolute/path.db`, `sqlite:///:memory:`, `postgresql://...` (or
`postgres://...`).  Backends are imported on demand, so SQLite users never load psycopg.
"""

from __future__ import annotations

from typing import Any

from yilian.store.base import Repository

__all__ = ["open_repository"]


def open_repository(url: str, **options: Any) -> Repository:
    """A repository for `url`, not yet opened (call `await repo.open()`).  `options` go to the
    backend (e.g. `readers=` for SQLite, `min_size=`/`max_size=` for PostgreSQL)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "sqlite":
        # sqlite:///path -> "/path"; the SQLAlchemy convention: three slashes + a relative path,
        # four for an absolute one, as well as sqlite:////abs/path.
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise ValueError(
                f"database URL {url!r} names no SQLite file (use sqlite:///path or sqlite:///:memory:)"
            )
        from yilian.store.sqlite import SqliteRepository

        return SqliteRepository(path, **options)
    if sep and scheme in ("postgresql", "postgres"):
        from yilian.store.postgres import PostgresRepository

        return PostgresRepository("postgresql://" + rest, **options)
    raise ValueError(
        f"unsupported database URL {url!r}: use sqlite:///path/to/file.db, sqlite:///:memory: or postgresql://..."
    )
