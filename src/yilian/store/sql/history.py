"""History of an instance, a type or the whole system (http://hl7.org/fhir/R4/http.html#history).

Every version, the current one included, is a `resource_history` row, so all three levels read
one table, newest first, with the scope filter on the version's partition.
"""

from __future__ import annotations

from yilian.fhir.outcome import OutcomeError
from yilian.store.base import HistoryRequest, Scope
from yilian.store.sql.connection import Connection
from yilian.store.sql.criteria import ConditionCompiler
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import Sql
from yilian.store.sql.rows import Row

__all__ = ["history_rows"]


def version_columns(d: Dialect) -> str:
    """The select list of a version, in the order `rows.stored` reads."""
    return (
        "r.res_type, r.res_id, h.version, h.last_updated, h.partition, "
        f"{d.content_column('h.content')}, h.deleted, h.rid"
    )


async def history_rows(
    conn: Connection, d: Dialect, request: HistoryRequest, scope: Scope
) -> tuple[list[Row], int]:
    """The page of versions (newest first) and how many versions match in all."""
    compiler = ConditionCompiler(d, scope)
    if request.id is not None and request.resource_type is not None:
        # Unknown, or no version inside the scope: not-found either way, so a reader cannot
        # tell another institution's resource from a missing one.
        found = await conn.fetchone(
            Sql(
                "SELECT 1 FROM resource_history h JOIN resource r ON r.rid = h.rid "
                "WHERE r.res_type = ? AND r.res_id = ? AND ",
                (request.resource_type, request.id),
            )
            + compiler.scope_filter("h", "r.res_type")
            + " LIMIT 1"
        )
        if found is None:
            raise OutcomeError.not_found(f"{request.resource_type}/{request.id} is not known")
    parts = [compiler.scope_filter("h", "r.res_type")]
    if request.resource_type is not None:
        parts.append(Sql("r.res_type = ?", (request.resource_type,)))
    if request.id is not None:
        parts.append(Sql("r.res_id = ?", (request.id,)))
    if request.since is not None:
        parts.append(Sql("h.last_updated_key >= ?", (request.since,)))
    if request.at is not None:
        # The version current at `at`: written by then, and not superseded by then.
        parts.append(
            Sql(
                "h.last_updated_key <= ? AND NOT EXISTS (SELECT 1 FROM resource_history n "
                "WHERE n.rid = h.rid AND n.version > h.version AND n.last_updated_key <= ?)",
                (request.at, request.at),
            )
        )
    where = Sql.all_of(parts)
    source = "FROM resource_history h JOIN resource r ON r.rid = h.rid WHERE "
    counted = await conn.fetchone(Sql("SELECT COUNT(*) " + source) + where)
    rows = await conn.fetchall(
        Sql(f"SELECT {version_columns(d)} {source}")
        + where
        + Sql(
            " ORDER BY h.last_updated_key DESC, h.rid DESC, h.version DESC LIMIT ? OFFSET ?",
            (max(request.count, 0), max(request.offset, 0)),
        )
    )
    return rows, int(counted[0]) if counted else 0
