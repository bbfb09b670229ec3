"""Search-index values -> rows of the `idx_*` tables.

`fhir.search.extract.index_values` pulls one value per searchable element occurrence out of a
resource at write time; this module maps each value type to its table and columns and builds
the batched statements that replace a resource's rows: one DELETE per table and one
multi-row INSERT per table that has rows, so a write costs no per-value round trips
(http://hl7.org/fhir/R4/search.html#ptypes).
"""

from __future__ import annotations

from collections.abc import Sequence

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
from yilian.store.sql.schema import COMPOSITE_SLOTS

__all__ = [
    "INDEX_COLUMNS",
    "INDEX_TABLES",
    "BatchStatement",
    "delete_statements",
    "insert_statements",
    "merge_statements",
]

BatchStatement = tuple[str, list[tuple[object, ...]]]
"""A statement and the parameter rows it is executed with (executemany)."""

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


def _row(value: IndexValue) -> tuple[str, tuple[object, ...]]:
    """The table and the column values (after rid) of one index value."""
    match value:
        case StringValue(param=p, value=v, normalized=n):
            return "idx_string", (p, n, v)
        case TokenValue(param=p, system=s, code=c, display=d):
            return "idx_token", (p, s, c, d)
        case DateValue(param=p, low=lo, high=hi):
            return "idx_date", (p, lo, hi)
        case NumberValue(param=p, low=lo, high=hi):
            return "idx_number", (p, lo, hi)
        case QuantityValue(param=p, low=lo, high=hi, system=s, code=c, unit=u):
            return "idx_quantity", (p, s, c, u, lo, hi)
        case ReferenceValue():
            return "idx_reference", (
                value.param,
                value.target_type,
                value.target_id,
                value.url,
                value.version,
                value.identifier_system,
                value.identifier_value,
            )
        case UriValue(param=p, value=v):
            return "idx_uri", (p, v)
        case CompositeValue(param=p, components=comps):
            slots: list[object] = []
            for i in range(len(COMPOSITE_SLOTS)):
                slots.extend(_slot(comps[i]) if i < len(comps) else (None,) * len(_SLOT_COLUMNS))
            return "idx_composite", (p, *slots)
    raise TypeError(f"not an index value: {value!r}")


def delete_statements(rid: int) -> list[BatchStatement]:
    """Remove every index row of `rid` (before re-indexing, or on delete)."""
    return [(f"DELETE FROM {table} WHERE rid = ?", [(rid,)]) for table in INDEX_TABLES]


def insert_statements(rid: int, values: Sequence[IndexValue]) -> list[BatchStatement]:
    """One multi-row insert per table that receives rows; duplicate rows are written once."""
    rows: dict[str, dict[tuple[object, ...], None]] = {}
    for value in values:
        table, row = _row(value)
        if any(isinstance(v, str) and "\x00" in v for v in row):
            # No engine indexes NUL the same way (PostgreSQL text cannot hold it): drop it.
            row = tuple(v.replace("\x00", "") if isinstance(v, str) else v for v in row)
        rows.setdefault(table, {})[(rid, *row)] = None
    out: list[BatchStatement] = []
    for table, table_rows in rows.items():
        columns = ("rid", *INDEX_COLUMNS[table])
        placeholders = ", ".join("?" for _ in columns)
        out.append((f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", list(table_rows)))
    return out


def merge_statements(statements: Sequence[BatchStatement]) -> list[BatchStatement]:
    """One executemany per distinct statement, keeping first-seen order, so a flush of many
    resources sends one insert per index table rather than one per resource and table."""
    merged: dict[str, list[tuple[object, ...]]] = {}
    for text, rows in statements:
        merged.setdefault(text, []).extend(rows)
    return list(merged.items())
