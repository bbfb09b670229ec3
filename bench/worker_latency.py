"""Single-connection latency of a read by id at one and at two worker processes.

One client, one keep-alive connection, one request at a time: what a clinician's browser sees.
A regression here (two workers once cost about 40 ms a read against 1.5 ms for one, from Nagle's
algorithm on the workers' shared socket) hides from throughput figures, which overlap requests.
Each backend is measured at 1 and 2 workers in the same run and reported as the ratio of the
two p50s; the target is at most 1.5x.

    .venv/bin/python bench/worker_latency.py [--quick] [--backends sqlite,postgresql]

Writes bench/results/suite-worker-latency.json.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.harness` from a plain script run

import orjson
from rich.console import Console
from rich.table import Table

from bench.harness.database import BenchDatabase, pg_reachable
from bench.harness.report import write_results
from bench.harness.server import ServerProcess

console = Console()
TARGET_RATIO = 1.5


def _read_latencies(port: int, requests: int) -> list[float]:
    """Milliseconds per GET Patient/{id}, on one connection, after a warm-up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = orjson.dumps({"resourceType": "Patient", "name": [{"family": "Latency"}]})
    conn.request("POST", "/fhir/Patient", body=body, headers={"Content-Type": "application/fhir+json"})
    created = conn.getresponse()
    pid = orjson.loads(created.read())["id"]
    if created.status != 201:
        raise RuntimeError(f"create answered {created.status}")
    times: list[float] = []
    for i in range(requests + 20):
        start = time.perf_counter()
        conn.request("GET", f"/fhir/Patient/{pid}")
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise RuntimeError(f"read answered {response.status}")
        if i >= 20:
            times.append(elapsed)
    conn.close()
    return times


def _measure(backend: str, workers: int, requests: int) -> dict[str, float]:
    with (
        BenchDatabase.fresh(backend) as db,
        ServerProcess(db.url, workers=workers, cwd=db.scratch_dir) as server,
    ):
        times = sorted(_read_latencies(server.port, requests))
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    requests = 100 if args.quick else 500
    table = Table(title="single-connection read by id: 2 workers against 1 (same run)")
    for column in (
        "backend",
        "1 worker p50 ms",
        "2 workers p50 ms",
        "1w p95",
        "2w p95",
        "ratio p50",
        "target",
    ):
        table.add_column(column)
    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        if backend == "postgresql" and (why := pg_reachable()):
            console.print(f"[yellow]PostgreSQL skipped: cannot reach the server ({why})[/yellow]")
            continue
        one, two = _measure(backend, 1, requests), _measure(backend, 2, requests)
        ratio = two["p50_ms"] / one["p50_ms"]
        results[backend] = {"one": one, "two": two, "ratio": ratio}
        verdict = "[green]ok[/green]" if ratio <= TARGET_RATIO else "[red]over[/red]"
        table.add_row(
            backend, f"{one['p50_ms']:.2f}", f"{two['p50_ms']:.2f}", f"{one['p95_ms']:.2f}",
            f"{two['p95_ms']:.2f}", f"{ratio:.2f}x", f"<= {TARGET_RATIO}x {verdict}",
        )  # fmt: skip
    console.print(table)
    path = write_results(
        {"requests": requests, "target_ratio": TARGET_RATIO, "backends": results}, "worker-latency"
    )
    console.print(f"written {path}")


if __name__ == "__main__":
    main()
