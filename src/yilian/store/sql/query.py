"""SearchRequest + Scope -> the SELECT statements of one search.

One WHERE clause serves the page and the total, so `_total` counts exactly what paging walks
through (http://hl7.org/fhir/R4/search.html#total).  Sorting follows
http://hl7.org/fhir/R4/search.html#sort: a resource with several values sorts by its lowest
(ascending) or highest (descending) one, resources without a value come last, and the row id
breaks every tie so consecutive pages neither repeat nor skip a resource.
"""

from __future__ import annotations

from dataclasses import dataclass

from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.model import Criterion, SearchRequest, SortKey
from yilian.store.base import Scope
from yilian.store.sql.criteria import TABLE_BY_TYPE, Compiled, ConditionCompiler
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import Sql

__all__ = ["SearchStatements", "resource_columns", "search_statements"]

# Sort column per index table: (ascending uses MIN of the first, descending MAX of the second).
_SORT_COLUMNS = {
    "idx_string": ("value_norm", "value_norm"),
    "idx_token": ("code", "code"),
    "idx_date": ("low", "high"),
    "idx_number": ("low", "high"),
    "idx_quantity": ("low", "high"),
    "idx_reference": ("target_id", "target_id"),
    "idx_uri": ("value", "value"),
}


def resource_columns(d: Dialect, alias: str) -> str:
    """The select list `session.stored` turns into a StoredResource (rid last)."""
    a = alias
    return (
        f"{a}.res_type, {a}.res_id, {a}.version, {a}.last_updated, {a}.partition, "
        f"{d.content_column(f'{a}.content')}, {a}.deleted, {a}.rid"
    )


@dataclass(frozen=True, slots=True)
class SearchStatements:
    """The page query and the count query of one search (count None when not asked for)."""

    page: Sql | None
    count: Sql | None


def search_statements(d: Dialect, request: SearchRequest, scope: Scope) -> SearchStatements:
    compiler = ConditionCompiler(d, scope)
    conditions, driver = compiler.conditions(request.conditions, "r")
    parts = [compiler.visible("r")]
    if request.resource_types:
        parts.append(d.in_list(_type_column(d, driver), list(request.resource_types)))
    parts.append(conditions)
    where = Sql.all_of(parts)
    want_total = request.total != "none" or request.summary == "count"
    count = Sql("SELECT COUNT(*) FROM resource r WHERE ") + where if want_total else None
    if request.summary == "count":
        return SearchStatements(None, count)
    order = Sql.join(", ", [*(_sort_term(k) for k in request.sort), Sql("r.rid")])
    page = (
        Sql(f"SELECT {resource_columns(d, 'r')} FROM resource r WHERE ")
        + where
        + " ORDER BY "
        + order
        + Sql(" LIMIT ? OFFSET ?", (max(request.count, 0), max(request.offset, 0)))
    )
    return SearchStatements(page, count)


def _type_column(d: Dialect, driver: Compiled | None) -> str:
    """The resource-type test on `r`: kept off the (type, last updated) index when an index
    table drives the statement (the index tables are far more selective than a type), used
    when the statement starts from the resource row itself (no condition, `_id` through the
    (type, id) key, `_lastUpdated` through the (type, last updated) index)."""
    if isinstance(driver, Criterion) and driver.code in ("_id", "_lastUpdated"):
        return "r.res_type"
    return "r.res_type" if driver is None else d.unindexed("r.res_type")


def _sort_term(key: SortKey) -> Sql:
    direction = "DESC" if key.descending else "ASC"
    if key.code == "_id":
        return Sql(f"r.res_id {direction}")
    if key.code == "_lastUpdated":
        return Sql(f"r.last_updated_key {direction}")
    table = TABLE_BY_TYPE.get(key.type)
    columns = _SORT_COLUMNS.get(table or "")
    if table is None or columns is None:
        raise OutcomeError.not_supported(f"cannot sort by {key.code!r} (a {key.type} parameter)", ["_sort"])
    expr = f"MAX(s.{columns[1]})" if key.descending else f"MIN(s.{columns[0]})"
    return Sql(
        f"(SELECT {expr} FROM {table} s WHERE s.rid = r.rid AND s.param = ?) {direction} NULLS LAST",
        (key.code,),
    )
