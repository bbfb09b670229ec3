"""The database's own limit on the same work, measured without the server.

Writes: the same resources, stamped and serialised as the store does, with the same index,
history and compartment rows (computed with yilian's own extractor, outside the clock), written
into equivalent tables in a scratch schema: PostgreSQL `COPY` per table in one transaction,
SQLite one `executemany` per table in one transaction (the scratch file is ATTACHed with the
same WAL/NORMAL settings as the store uses).  Single-resource create/update/delete baselines
write one resource's rows per transaction.  Reads and searches: hand-written SQL run directly.
Query plans: PostgreSQL `EXPLAIN (ANALYZE, FORMAT JSON)`, SQLite `EXPLAIN QUERY PLAN`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.harness.database import DirectConnection
from yilian.store.sql.compartment import compartment_statements
from yilian.store.sql.indexing import INDEX_TABLES, insert_statements
from yilian.store.sql.repository import default_indexer

__all__ = ["RowSet", "bulk_write", "explain", "make_scratch", "single_writes", "stored_rows", "time_query"]

TABLES = ("resource", "resource_history", *INDEX_TABLES, "compartment", "security_label")
_RESOURCE_COLS = (
    "rid",
    "res_type",
    "res_id",
    "partition",
    "version",
    "last_updated",
    "last_updated_key",
    "deleted",
    "content",
)
_HISTORY_COLS = ("rid", "version", "partition", "last_updated", "last_updated_key", "deleted", "content")
_INSERT = re.compile(r"INSERT INTO (\w+) \(([^)]*)\)")

RowSet = dict[str, tuple[tuple[str, ...], list[tuple[object, ...]]]]
"""Per table: its column names and rows."""


def stored_rows(resources: Iterable[tuple[dict[str, Any], str]], backend: str, rid_start: int) -> RowSet:
    """Every row the store writes for these (resource, partition) creates."""
    out: RowSet = {"resource": (_RESOURCE_COLS, []), "resource_history": (_HISTORY_COLS, [])}
    for rid, (resource, partition) in enumerate(resources, start=rid_start):
        moment = datetime.now(UTC)
        instant, key = moment.isoformat(timespec="microseconds"), moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
        rtype, rid_text = resource["resourceType"], resource["id"]
        body = {"resourceType": rtype, "id": rid_text, "meta": {"versionId": "1", "lastUpdated": instant}}
        body.update({k: v for k, v in resource.items() if k not in body})
        raw = orjson.dumps(body)
        content: object = raw.decode() if backend == "sqlite" else raw
        out["resource"][1].append((rid, rtype, rid_text, partition, 1, instant, key, False, content))
        out["resource_history"][1].append((rid, 1, partition, instant, key, False, content))
        values = default_indexer(body)
        for text, rows in [
            *insert_statements(rid, values),
            *compartment_statements(rid, 1, rtype, rid_text, values),
        ]:
            match = _INSERT.match(text)
            assert match is not None, text
            table, cols = match.group(1), tuple(c.strip() for c in match.group(2).split(","))
            out.setdefault(table, (cols, []))[1].extend(rows)
    return out


def count_rows(rows: RowSet) -> int:
    return sum(len(r) for _, r in rows.values())


def make_scratch(conn: DirectConnection, scratch_file: str) -> str:
    """Create empty tables like the store's, with the same indexes; return the schema name."""
    if conn.backend == "sqlite":
        conn.execute(f"ATTACH DATABASE '{scratch_file}' AS scratch")
        conn.execute("PRAGMA scratch.journal_mode = WAL")
        conn.execute("PRAGMA scratch.synchronous = NORMAL")
        for table in TABLES:  # a second size in the same run: start from empty tables again
            conn.execute(f"DROP TABLE IF EXISTS scratch.{table}")
        ddl = conn.fetchall(
            "SELECT type, name, sql FROM main.sqlite_master WHERE sql IS NOT NULL AND tbl_name IN "
            f"({', '.join('?' for _ in TABLES)}) ORDER BY type DESC",
            TABLES,
        )
        for kind, name, sql in ddl:  # tables first ("table" > "index")
            keyword = "TABLE" if kind == "table" else "INDEX"
            conn.execute(re.sub(rf"^CREATE {keyword} {name}\b", f"CREATE {keyword} scratch.{name}", sql))
        return "scratch"
    conn.execute("DROP SCHEMA IF EXISTS bench_scratch CASCADE")
    conn.execute("CREATE SCHEMA bench_scratch")
    for table in TABLES:
        conn.execute(f"CREATE TABLE bench_scratch.{table} (LIKE public.{table} INCLUDING ALL)")
    return "bench_scratch"


def clear_scratch(conn: DirectConnection, schema: str) -> None:
    for table in TABLES:
        conn.execute(f"DELETE FROM {schema}.{table}")


def bulk_write(conn: DirectConnection, schema: str, rows: RowSet) -> float:
    """Write every row in one transaction; seconds taken."""
    start = time.perf_counter()
    if conn.backend == "sqlite":
        raw = conn.raw
        raw.execute("BEGIN")
        for table, (cols, data) in rows.items():
            marks = ", ".join("?" for _ in cols)
            raw.executemany(f"INSERT INTO {schema}.{table} ({', '.join(cols)}) VALUES ({marks})", data)
        raw.execute("COMMIT")
    else:
        raw = conn.raw
        with raw.transaction(), raw.cursor() as cur:
            for table, (cols, data) in rows.items():
                with cur.copy(f"COPY {schema}.{table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in data:
                        copy.write_row(row)
    return time.perf_counter() - start


def _by_resource(rows: RowSet) -> dict[int, RowSet]:
    """The rows split per resource (rid is every table's first column)."""
    out: dict[int, RowSet] = {}
    for table, (_cols, data) in rows.items():
        for row in data:
            rid = int(str(row[0]))
            mine = out.setdefault(rid, {t: (c, []) for t, (c, _) in rows.items()})
            mine[table][1].append(row)
    return out


def single_writes(conn: DirectConnection, schema: str, rows: RowSet, operation: str) -> list[float]:
    """Per-resource transactions against the scratch tables (already holding `rows` for
    update and delete): create inserts a resource's rows; update rewrites the current row,
    adds a history row and replaces the index rows; delete marks it deleted, adds a history
    row and drops the index rows.  Latencies in milliseconds."""
    latencies: list[float] = []
    index_tables = [t for t in rows if t not in ("resource", "resource_history")]
    for rid, mine in _by_resource(rows).items():
        content = mine["resource"][1][0][8]
        start = time.perf_counter()
        _begin(conn)
        if operation == "create":
            for table, (cols, data) in mine.items():
                if data:
                    marks = ", ".join("?" for _ in cols)
                    conn.executemany(
                        f"INSERT INTO {schema}.{table} ({', '.join(cols)}) VALUES ({marks})", data
                    )
        else:
            version = 2 if operation == "update" else 3
            conn.fetchall(f"SELECT version FROM {schema}.resource WHERE rid = ?", (rid,))
            conn.execute(
                f"UPDATE {schema}.resource SET version = ?, deleted = ?, content = ? WHERE rid = ?",
                (version, operation == "delete", content, rid),
            )
            conn.execute(
                f"INSERT INTO {schema}.resource_history (rid, version, partition, last_updated, "
                "last_updated_key, deleted, content) VALUES (?, ?, 'bench', 'now', 'now', ?, ?)",
                (rid, version, operation == "delete", content),
            )
            for table in index_tables:
                conn.execute(f"DELETE FROM {schema}.{table} WHERE rid = ?", (rid,))
            if operation == "update":
                for table in index_tables:
                    cols, data = mine[table]
                    if data:
                        marks = ", ".join("?" for _ in cols)
                        conn.executemany(
                            f"INSERT INTO {schema}.{table} ({', '.join(cols)}) VALUES ({marks})", data
                        )
        conn.execute("COMMIT")
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def _begin(conn: DirectConnection) -> None:
    conn.execute("BEGIN")


def time_query(conn: DirectConnection, statements: Sequence[tuple[str, Sequence[object]]]) -> float:
    """Run the statements one after another, fetching every row; milliseconds taken."""
    start = time.perf_counter()
    for sql, params in statements:
        conn.fetchall(sql, params)
    return (time.perf_counter() - start) * 1000


def explain(conn: DirectConnection, sql: str, params: Sequence[object]) -> dict[str, Any]:
    """The plan of one statement: its steps and the tables read by a full scan."""
    steps: list[str] = []
    scans: list[str] = []
    if conn.backend == "sqlite":
        steps = [str(r[3]) for r in conn.fetchall("EXPLAIN QUERY PLAN " + sql, params)]
        scans = [s for s in steps if s.startswith("SCAN") and "CONSTANT" not in s]
        return {
            "steps": steps,
            "full_scans": scans,
            "index_used": any("INDEX" in s or "PRIMARY KEY" in s for s in steps),
        }
    plan = conn.fetchall("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)[0][0]
    root = plan[0] if isinstance(plan, list) else orjson.loads(plan)[0]

    def walk(node: dict[str, Any], depth: int) -> None:
        what = node["Node Type"]
        target = node.get("Index Name") or node.get("Relation Name")
        rows = node.get("Actual Rows")
        steps.append(f"{'  ' * depth}{what}{f' on {target}' if target else ''} (rows {rows})")
        if what == "Seq Scan":
            scans.append(f"Seq Scan on {node.get('Relation Name')} (rows {rows})")
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(root["Plan"], 0)
    return {
        "steps": steps,
        "full_scans": scans,
        "index_used": any("Index" in s for s in steps),
        "execution_ms": root.get("Execution Time"),
    }
