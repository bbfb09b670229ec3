"""Search-index values -> rows of the `idx_*` tables.

`fhir.search.extract.index_values` pulls one value per searchable element occurrence out of a
resource at write time; this module maps each value type to its table and columns and builds
the batched statements that replace a resource's rows: one DELETE per table and one
multi-row INSERT per table that has rows, so a write costs no per-value round trips
(http://hl7.org/fhir/R4/search.html#ptypes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import orjson

from yilian.fhir.search.model import (
    CompositeValue,
    DateValue,
    IndexValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)
from yilian.store.sql.fragment import BatchStatement
from yilian.store.sql.schema import COMPOSITE_SLOTS

__all__ = [
    "INDEX_COLUMNS",
    "INDEX_TABLES",
    "delete_statements",
    "insert_statements",
    "merge_statements",
]

_SLOT_COLUMNS = ("system", "code", "unit", "text", "nlo", "nhi", "dlo", "dhi")

INDEX_COLUMNS: dict[str, tuple[str, ...]] = {
    "idx_string": ("param", "value_norm", "value_exact"),
    "idx_token": ("param", "system", "code", "display"),
    "idx_date": ("param", "low", "high"),
    "idx_number": ("param", "low", "high"),
    "idx_quantity": ("param", "system", "code", "unit", "low", "high"),
    "idx_reference": ("param", "target_type", "target_id", "url", "version", "ident_system", "ident_value"),
    "idx_uri": ("param", "value"),
    "idx_composite": ("param", *(f"c{i}_{c}" for i in COMPOSITE_SLOTS for c in _SLOT_COLUMNS)),
}
"""Columns of each index table after `rid`, in insert order."""

INDEX_TABLES = tuple(INDEX_COLUMNS)

_INSERTS = {
    table: f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    for table, names in ((t, ("rid", *c)) for t, c in INDEX_COLUMNS.items())
}
"""The insert statement of each index table (the text is the executemany grouping key)."""


def _slot(value: IndexValue) -> tuple[object, ...]:
    """The eight slot columns of one composite component."""
    match value:
        case TokenValue(system=s, code=c):
            return (s, c, None, None, None, None, None, None)
        case ReferenceValue(target_type=t, target_id=i, url=u):
            return (t, i, None, u, None, None, None, None)
        case QuantityValue(low=lo, high=hi, system=s, code=c, unit=un):
            return (s, c, un, None, lo, hi, None, None)
        case NumberValue(low=lo, high=hi):
            return (None, None, None, None, lo, hi, None, None)
        case DateValue(low=lo, high=hi):
            return (None, None, None, None, None, None, lo, hi)
        case StringValue(normalized=n):
            return (None, None, None, n, None, None, None, None)
        case UriValue(value=v):
            return (None, None, None, v, None, None, None, None)
    return (None,) * len(_SLOT_COLUMNS)


def _composite_row(value: CompositeValue) -> tuple[object, ...]:
    comps = value.components
    slots: list[object] = [value.param]
    for i in range(len(COMPOSITE_SLOTS)):
        slots.extend(_slot(comps[i]) if i < len(comps) else _EMPTY_SLOT)
    return tuple(slots)


_EMPTY_SLOT = (None,) * len(_SLOT_COLUMNS)

_ROWS: dict[type, tuple[str, Callable[[Any], tuple[object, ...]]]] = {
    StringValue: ("idx_string", attrgetter("param", "normalized", "value")),
    TokenValue: ("idx_token", attrgetter("param", "system", "code", "display")),
    DateValue: ("idx_date", attrgetter("param", "low", "high")),
    NumberValue: ("idx_number", attrgetter("param", "low", "high")),
    QuantityValue: ("idx_quantity", attrgetter("param", "system", "code", "unit", "low", "high")),
    ReferenceValue: (
        "idx_reference",
        attrgetter(
            "param", "target_type", "target_id", "url", "version", "identifier_system", "identifier_value"
        ),
    ),
    UriValue: ("idx_uri", attrgetter("param", "value")),
    CompositeValue: ("idx_composite", _composite_row),
}
"""Per value class: its table and the column values (after rid), in INDEX_COLUMNS order."""


def _row(value: IndexValue) -> tuple[str, tuple[object, ...]]:
    """The table and the column values (after rid) of one index value."""
    found = _ROWS.get(type(value))
    if found is None:
        raise TypeError(f"not an index value: {value!r}")
    table, columns = found
    return table, columns(value)


def _has_nul(rows: list[tuple[object, ...]]) -> bool:
    """Whether any text in `rows` holds NUL: one orjson pass (which writes NUL as \\u0000)
    instead of a test per value; a literal backslash-u0000 text only costs the exact test."""
    try:
        if b"\\u0000" not in orjson.dumps(rows):
            return False
    except orjson.JSONEncodeError:  # a lone surrogate: let the exact test decide
        pass
    return any(type(v) is str and "\x00" in v for row in rows for v in row)


def delete_statements(rid: int) -> list[BatchStatement]:
    """Remove every index row of `rid` (before re-indexing, or on delete)."""
    return [(f"DELETE FROM {table} WHERE rid = ?", [(rid,)]) for table in INDEX_TABLES]


def insert_statements(rid: int, values: Sequence[IndexValue]) -> list[BatchStatement]:
    """One multi-row insert per table that receives rows; duplicate rows are written once."""
    rows: dict[str, dict[tuple[object, ...], None]] = {}
    built: list[tuple[object, ...]] = []
    tables: list[str] = []
    rows_get = _ROWS.get
    for value in values:
        found = rows_get(type(value))
        if found is None:
            raise TypeError(f"not an index value: {value!r}")
        tables.append(found[0])
        built.append(found[1](value))
    if built and _has_nul(built):
        # No engine indexes NUL the same way (PostgreSQL text cannot hold it): drop it.
        built = [tuple(v.replace("\x00", "") if type(v) is str else v for v in row) for row in built]
    for table, row in zip(tables, built, strict=True):
        table_rows = rows.get(table)
        if table_rows is None:
            table_rows = rows[table] = {}
        table_rows[(rid, *row)] = None
    return [(_INSERTS[table], list(table_rows)) for table, table_rows in rows.items()]


def merge_statements(statements: Sequence[BatchStatement]) -> list[BatchStatement]:
    """One executemany per distinct statement, keeping first-seen order, so a flush of many
    resources sends one insert per index table rather than one per resource and table."""
    merged: dict[str, list[tuple[object, ...]]] = {}
    for text, rows in statements:
        merged.setdefault(text, []).extend(rows)
    return list(merged.items())
