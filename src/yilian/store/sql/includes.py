"""`_include` and `_revinclude` (http://hl7.org/fhir/R4/search.html#include).

Includes are fetched for the page of matches only, one statement per include parameter per
round.  `:iterate` ones run again over what the previous round brought in until a round adds
nothing (at most `MAX_ROUNDS`).  Every included row passes the same scope filter as the
matches, and a resource is returned once, never both as a match and as an include.
"""

from __future__ import annotations

from collections.abc import Sequence

from yilian.fhir.search.model import Include
from yilian.store.base import Scope
from yilian.store.sql.connection import Connection
from yilian.store.sql.criteria import ConditionCompiler
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import Sql
from yilian.store.sql.query import resource_columns
from yilian.store.sql.rows import Row

__all__ = ["MAX_ROUNDS", "fetch_includes"]

MAX_ROUNDS = 5
"""Rounds of `:iterate` after the first, which bounds the work a cyclic graph can cause."""


async def fetch_includes(
    conn: Connection,
    d: Dialect,
    scope: Scope,
    includes: Sequence[Include],
    revincludes: Sequence[Include],
    matches: Sequence[Row],
) -> list[Row]:
    """Resources the includes reach from `matches`, in discovery order, without repeats."""
    seen = {row[7] for row in matches}
    found: list[Row] = []
    frontier: Sequence[Row] = matches
    for round_no in range(MAX_ROUNDS + 1):
        forward = [i for i in includes if round_no == 0 or i.iterate]
        reverse = [i for i in revincludes if round_no == 0 or i.iterate]
        if not frontier or not (forward or reverse):
            break
        statements = [s for i in forward if (s := _include(d, scope, i, frontier)) is not None]
        statements += [s for i in reverse if (s := _revinclude(d, scope, i, frontier)) is not None]
        fresh: list[Row] = []
        for statement in statements:
            for row in await conn.fetchall(statement):
                if row[7] not in seen:
                    seen.add(row[7])
                    fresh.append(row)
        found.extend(fresh)
        frontier = fresh
    return found


def _include(d: Dialect, scope: Scope, inc: Include, frontier: Sequence[Row]) -> Sql | None:
    """Targets of `inc.param` references held by the frontier's `inc.source_type` rows."""
    rids = [row[7] for row in frontier if row[0] == inc.source_type]
    if not rids:
        return None
    compiler = ConditionCompiler(d, scope)
    inner = [d.in_list("f.rid", rids)]
    if inc.param != "*":
        inner.append(Sql("f.param = ?", (inc.param,)))
    outer = [compiler.visible("t")]
    if inc.target_type is not None:
        outer.append(Sql(f"{d.unindexed('t.res_type')} = ?", (inc.target_type,)))
    return (
        Sql(f"SELECT {resource_columns(d, 't')} FROM resource t WHERE ")
        + Sql.all_of(outer)
        + " AND t.rid IN (SELECT u.rid FROM idx_reference f JOIN resource u "
        "ON u.res_type = f.target_type AND u.res_id = f.target_id WHERE "
        + Sql.all_of(inner)
        + ") ORDER BY t.rid"
    )


def _revinclude(d: Dialect, scope: Scope, inc: Include, frontier: Sequence[Row]) -> Sql | None:
    """`inc.source_type` resources whose `inc.param` references point at the frontier."""
    by_type: dict[str, list[str]] = {}
    for row in frontier:
        if inc.target_type is None or row[0] == inc.target_type:
            by_type.setdefault(row[0], []).append(row[1])
    if not by_type:
        return None
    compiler = ConditionCompiler(d, scope)
    targets = Sql.any_of(
        Sql("f.target_type = ? AND ", (rtype,)) + d.in_list("f.target_id", ids)
        for rtype, ids in by_type.items()
    )
    inner = [targets]
    if inc.param != "*":
        inner.append(Sql("f.param = ?", (inc.param,)))
    return (
        Sql(f"SELECT {resource_columns(d, 's')} FROM resource s WHERE ")
        # The referring rows drive (through the (target_id, target_type, param) index); the type
        # is a per-row test, not a walk of every resource of the source type.
        + Sql.all_of([compiler.visible("s"), Sql(f"{d.unindexed('s.res_type')} = ?", (inc.source_type,))])
        + " AND s.rid IN (SELECT f.rid FROM idx_reference f WHERE "
        + Sql.all_of(inner)
        + ") ORDER BY s.rid"
    )
