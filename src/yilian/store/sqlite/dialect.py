"""What SQLite does differently from the standard SQL of `store.sql.dialect`."""

from __future__ import annotations

from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import Sql

__all__ = ["SqliteDialect"]


class SqliteDialect(Dialect):
    """SQLite 3.35+: `INTEGER PRIMARY KEY` is the rowid; text compares byte-wise (BINARY
    collation) already; JSON is kept as TEXT so SQLite's json functions can read it, and is
    selected as a BLOB so the driver hands back the bytes without decoding them."""

    name = "sqlite"
    rid_primary_key = "INTEGER PRIMARY KEY"
    rid_type = "INTEGER"
    float_type = "REAL"
    bool_type = "BOOLEAN"
    key_text = "TEXT"
    content_type = "TEXT"
    binary_type = "BLOB"

    def content_column(self, expr: str) -> str:
        return f"CAST({expr} AS BLOB)"

    def content_param(self, content: bytes) -> object:
        return content.decode("utf-8")

    def unindexed(self, expr: str) -> str:
        # The unary plus is SQLite's documented way to keep a term from choosing an index
        # (https://www.sqlite.org/optoverview.html#disqualifying_where_clause_terms_using_unary_).
        return f"+{expr}"

    def contains(self, expr: str, needle: str) -> Sql:
        return Sql(f"instr({expr}, ?) > 0", (needle,))
