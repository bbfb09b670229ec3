"""Create/read/update/delete at 1, 8 and 32 clients, and transaction Bundle ingest, each with
its direct-SQL baseline."""

from __future__ import annotations

import copy
import time
from typing import Any

from bench.harness.baseline import bulk_write, clear_scratch, count_rows, single_writes, stored_rows
from bench.harness.database import DirectConnection
from bench.harness.loadgen import run_load
from bench.harness.report import Row
from bench.harness.stats import summarize
from yilian.synth.population import records

__all__ = ["bundle_ingest", "crud", "read_throughput"]


def _observation(patient_id: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T09:00:00+08:00",
        "valueQuantity": {
            "value": 60 + n % 40,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def crud(
    base: str,
    conn: DirectConnection,
    schema: str,
    patients: list[str],
    readable: list[tuple[str, str]],
    n: int,
) -> list[Row]:
    """`n` requests per operation and concurrency level; baselines on one connection."""
    rows: list[Row] = []
    # Baseline: the same Observation bodies, one transaction per operation, direct SQL.
    bodies = [{**_observation(patients[i % len(patients)], i), "id": f"bench-base-{i}"} for i in range(n)]
    written = stored_rows(((b, "county-hospital") for b in bodies), conn.backend, rid_start=900_000_000)
    clear_scratch(conn, schema)
    base_lat = {op: single_writes(conn, schema, written, op) for op in ("create", "update", "delete")}
    read_lat: list[float] = []
    for rtype, rid in readable[:n]:
        start = time.perf_counter()
        conn.fetchall("SELECT content FROM resource WHERE res_type = ? AND res_id = ?", (rtype, rid))
        read_lat.append((time.perf_counter() - start) * 1000)
    base_lat["read"] = read_lat
    baseline = {op: summarize(lat) for op, lat in base_lat.items()}

    for clients in (1, 8, 32):
        creates: list[dict[str, Any]] = [
            {
                "method": "POST",
                "path": "county-hospital/Observation",
                "body": _observation(patients[i % len(patients)], i),
            }
            for i in range(n)
        ]
        created = run_load(base, creates, clients, capture="id")
        ids = [i for i in created.captured if isinstance(i, str)]
        reads = [
            {"method": "GET", "path": f"{t}/{i}"}
            for t, i in (readable * (1 + n // max(len(readable), 1)))[:n]
        ]
        read = run_load(base, reads, clients)
        updates = []
        for k, rid in enumerate(ids):
            body: dict[str, Any] = copy.deepcopy(creates[k]["body"])
            body["id"] = rid
            body["valueQuantity"]["value"] = 100 + k % 20
            updates.append({"method": "PUT", "path": f"county-hospital/Observation/{rid}", "body": body})
        updated = run_load(base, updates, clients)
        deleted = run_load(
            base, [{"method": "DELETE", "path": f"county-hospital/Observation/{rid}"} for rid in ids], clients
        )
        for op, result in (("create", created), ("read", read), ("update", updated), ("delete", deleted)):
            s = summarize(result.latencies_ms, result.wall_s)
            b = baseline[op]
            note = f"p50/p95/p99 {s.p50_ms:.1f}/{s.p95_ms:.1f}/{s.p99_ms:.1f} ms (direct p50 {b.p50_ms:.2f})"
            if result.errors:
                note += f"; statuses {result.statuses}"
            rows.append(
                Row("crud", f"{op} x{clients}", "req/s", s.per_second, b.per_second, higher=True, note=note,
                    detail={"server": s.as_dict(), "baseline": b.as_dict(), "statuses": result.statuses})
            )  # fmt: skip
            if clients == 1:
                rows.append(
                    Row("crud", f"{op} p50 x1", "ms", s.p50_ms, b.p50_ms, note=f"p99 {s.p99_ms:.1f} ms")
                )
    return rows


def bundle_ingest(
    base: str, conn: DirectConnection, schema: str, bundles: int, seed: int, clients: int = 4
) -> Row:
    """POST `bundles` patient transaction Bundles (new patients) to their institutions."""
    recs = list(records(bundles, seed, start=10_000_000))
    requests = [{"method": "POST", "path": rec.institution.code, "body": rec.bundle()} for rec in recs]
    result = run_load(base, requests, clients)
    resources = sum(len(r.resources) for r in recs)
    ok = sum(n for code, n in result.statuses.items() if code.startswith("2"))
    written = stored_rows(
        ((res, rec.institution.code) for rec in recs for res in rec.resources),
        conn.backend,
        rid_start=800_000_000,
    )
    clear_scratch(conn, schema)
    seconds = bulk_write(conn, schema, written)
    s = summarize(result.latencies_ms, result.wall_s)
    note = f"{bundles} bundles x{clients} clients, p50 {s.p50_ms:.0f} ms/bundle"
    note += f"; baseline {count_rows(written):,} rows"
    if ok != bundles:
        note += f"; statuses {result.statuses}"
    return Row(
        "ingest", "transaction Bundles", "res/s", resources / result.wall_s, resources / seconds, higher=True,
        note=note, detail={"resources": resources, "server": s.as_dict(), "baseline_s": seconds},
    )  # fmt: skip


def read_throughput(base: str, readable: list[tuple[str, str]], n: int, clients: int = 32) -> float:
    """Reads per second at `clients` (for the worker-scaling row)."""
    reads = [
        {"method": "GET", "path": f"{t}/{i}"} for t, i in (readable * (1 + n // max(len(readable), 1)))[:n]
    ]
    result = run_load(base, reads, clients)
    return summarize(result.latencies_ms, result.wall_s).per_second
