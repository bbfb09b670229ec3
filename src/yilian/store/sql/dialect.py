"""Every difference between the SQL engines yilian stores resources in.

The shared SQL layer (schema, indexing, search, history) writes one statement for both
engines and asks a `Dialect` for the pieces that differ: column types, how to test a list
membership, substring search, row locking and the migration lock.  There are no
`if backend == ...` branches anywhere else; a new engine is a new subclass plus a small
adapter (see DESIGN.md, "Engine differences live in Dialect objects").
"""

from __future__ import annotations

from collections.abc import Sequence

from yilian.store.sql.fragment import Sql

__all__ = ["Dialect"]

PREFIX_CEILING = "\U0010ffff"
"""Appended to a prefix to get an exclusive upper bound for a byte-ordered range scan: no
valid character sorts after it, so `x <= value < x + ceiling` is "value starts with x"."""


class Dialect:
    """The base dialect: standard SQL that both engines accept.  Subclasses override types
    and the few expressions that differ."""

    name = "standard"

    # -- column types -------------------------------------------------------------------------
    rid_primary_key = "BIGINT PRIMARY KEY"
    """The surrogate key of `resource`, assigned by the database on insert."""
    rid_type = "BIGINT"
    float_type = "DOUBLE PRECISION"
    bool_type = "BOOLEAN"
    key_text = "TEXT"
    """Text compared byte-wise (search-index values, ids, sortable instants), so prefix range
    scans and ordering agree with the fixed-width conventions of fhir.search.model."""
    content_type = "BYTEA"
    """The stored JSON bytes, returned exactly as written."""
    binary_type = "BYTEA"
    """Opaque bytes in any encoding (a received HL7 message), written and read as `bytes`."""

    # -- reading and writing the JSON ---------------------------------------------------------
    def content_column(self, expr: str) -> str:
        """The select expression that yields the stored JSON as `bytes`."""
        return expr

    def content_param(self, content: bytes) -> object:
        """The parameter value that stores `content` in a content column."""
        return content

    # -- expressions --------------------------------------------------------------------------
    def in_list(self, expr: str, values: Sequence[object]) -> Sql:
        """`expr` is one of `values` (false for no values)."""
        if not values:
            return Sql("1=0")
        return Sql(f"{expr} IN ({', '.join('?' for _ in values)})", tuple(values))

    def contains(self, expr: str, needle: str) -> Sql:
        """`expr` contains the text `needle` (case-sensitive; callers normalise both)."""
        return Sql(f"strpos({expr}, CAST(? AS TEXT)) > 0", (needle,))

    def starts_with(self, expr: str, prefix: str) -> Sql:
        """`expr` starts with `prefix`, written as a range so a b-tree index serves it."""
        return Sql(f"{expr} >= ? AND {expr} < ?", (prefix, prefix + PREFIX_CEILING))

    def is_prefix_of(self, expr: str, text: str) -> Sql:
        """`expr` is a prefix of the text `text` (uri `:above`)."""
        return Sql(
            f"{expr} = substr(CAST(? AS TEXT), 1, length({expr}))",
            (text,),
        )

    def unindexed(self, expr: str) -> str:
        """`expr` as a filter the planner should not drive the query from.  A search with
        conditions starts best from the index tables; the resource-type filter is then only
        checked per row."""
        return expr

    def insert_values(
        self, head: str, tail: str, types: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> Sql:
        """`head VALUES (..), (..) tail` inserting `rows` in one statement (`types`: each
        column's SQL type, for engines that send the rows as one array per column so the
        statement's text does not change with their number)."""
        one = f"({', '.join('?' for _ in types)})"
        params = tuple(v for row in rows for v in row)
        return Sql(f"{head} VALUES {', '.join(one for _ in rows)} {tail}", params)

    def bulk_encode(self, rows: Sequence[tuple[object, ...]]) -> object:
        """Rows of one table for `Connection.insert_rows`, without their leading rid (made
        wherever the bulk preparer runs, possibly another process)."""
        return list(rows)

    def bulk_attach(self, rid: int, encoded: object, into: list[object]) -> None:
        """Append `bulk_encode`d rows to `into` with their rid in front."""
        into.extend((rid, *row) for row in encoded)  # type: ignore[attr-defined]

    def reserve_rids(self, count: int) -> Sql:
        """A query whose rows are `count` unused `resource.rid` values, for rows a bulk load
        writes with their rid (SQLite: above the largest, safe under its one writer)."""
        return Sql(
            "WITH RECURSIVE s(x) AS (SELECT COALESCE(MAX(rid), 0) + 1 FROM resource "
            "UNION ALL SELECT x + 1 FROM s LIMIT ?) SELECT x FROM s",
            (count,),
        )

    for_update = ""
    relaxed_commit: str | None = None
    """A statement that lets this transaction's commit return before its WAL is flushed
    (PostgreSQL's asynchronous commit), for writes whose loss in a crash loses nothing that
    another durable write does not keep; None where the engine has no such switch."""
    """Suffix of the SELECT that reads a row an update is about to replace, so concurrent
    writers of one resource queue up instead of both seeing the old version."""

    def migration_lock(self) -> Sql | None:
        """A statement, run first in every migration transaction, that keeps two processes
        from migrating at once (None where the write transaction already excludes others)."""
        return None
