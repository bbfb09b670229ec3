"""The embedded SQLite backend (stdlib sqlite3 in worker threads)."""

from yilian.store.sqlite.dialect import SqliteDialect
from yilian.store.sqlite.repository import SqliteRepository

__all__ = ["SqliteDialect", "SqliteRepository"]
