"""Search shapes through the server and as hand-written SQL, with their query plans."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.harness.baseline import explain
from bench.harness.database import BenchDatabase, DirectConnection
from bench.harness.loadgen import run_load
from bench.harness.shapes import Shape
from bench.harness.stats import Summary, summarize
from yilian.fhir.search.parse import parse_search
from yilian.store.base import Scope
from yilian.store.sql.query import search_statements

__all__ = ["ShapeResult", "measure_shape"]

WARMUP = 3


@dataclass(frozen=True, slots=True)
class ShapeResult:
    shape: Shape
    server: Summary
    direct: Summary
    server_total: int | None
    direct_total: int
    plans: dict[str, Any]


def _total(shape: Shape, conn: DirectConnection) -> int:
    """The hand-written count, to check it against the server's Bundle.total."""
    return int(conn.fetchall(*shape.count_sql(conn.backend))[0][0])


def _direct_latency(shape: Shape, conn: DirectConnection) -> float:
    """Milliseconds for page + count + include, the includes depending on the page."""
    start = time.perf_counter()
    page = conn.fetchall(*shape.page_sql(conn.backend))
    conn.fetchall(*shape.count_sql(conn.backend))
    include = shape.include_sql(page)
    if include:
        conn.fetchall(*include)
    return (time.perf_counter() - start) * 1000


def server_sql(db: BenchDatabase, shape: Shape) -> list[tuple[str, tuple[object, ...]]]:
    """The page and count statements the server builds for this query (the same parser and
    SQL builder, scope: every partition, as the alliance base with auth off)."""
    request = parse_search((shape.resource_type,), list(shape.params))
    statements = search_statements(db.dialect, request, Scope.everything())
    return [(s.text, s.params) for s in (statements.page, statements.count) if s is not None]


def measure_shape(
    db: BenchDatabase, conn: DirectConnection, base: str, shape: Shape, reps: int, with_plans: bool
) -> ShapeResult:
    requests = [{"method": "GET", "path": shape.path}] * (reps + WARMUP)
    load = run_load(base, requests, 1, capture="total")
    server = summarize(load.latencies_ms[WARMUP:])
    totals = [t for t in load.captured if isinstance(t, int)]
    for _ in range(WARMUP):
        _direct_latency(shape, conn)
    direct = summarize([_direct_latency(shape, conn) for _ in range(reps)])
    total = _total(shape, conn)
    plans: dict[str, Any] = {}
    if with_plans:
        plans["hand"] = explain(conn, *shape.page_sql(conn.backend))
        plans["hand_count"] = explain(conn, *shape.count_sql(conn.backend))
        try:
            sqls = server_sql(db, shape)
            plans["server"] = explain(conn, *sqls[0])
            if len(sqls) > 1:
                plans["server_count"] = explain(conn, *sqls[1])
        except Exception as exc:  # the server's SQL builder is the package's; report, go on
            plans["server_error"] = f"{type(exc).__name__}: {exc}"
    if load.errors:
        plans["server_statuses"] = load.statuses
    return ShapeResult(shape, server, direct, totals[0] if totals else None, total, plans)
