"""What the audit trail costs the request path: requests/s of a read + search mix through the
router, without an audit sink (NoAudit) and with the hash-chained AuditTrail, in the same run.

The two configurations alternate over several rounds on one database (so caches, disk and
the machine's load affect both alike), and the median of each is reported with the ratio.
Every request goes through `FhirRouter.handle` exactly as the api layer calls it (the HTTP
layer costs the same with or without audit, so leaving it out makes the ratio stricter, not
kinder).  The trail's `close()` is inside the timed window, so its queued writes are paid for.

    .venv/bin/python bench/audit_overhead.py [--db URL] [--requests N] [--rounds R] [--concurrency C]

Writes bench/results/audit_overhead-<backend>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from yilian.fhir.outcome import OutcomeError
from yilian.privacy.audit import AuditTrail
from yilian.privacy.model import AuditSink
from yilian.router import FhirRequest, FhirRouter
from yilian.router.access import NoAudit
from yilian.store.base import Partition, Repository
from yilian.store.factory import open_repository

RESULTS = Path(__file__).resolve().parent / "results"
BASE = "http://bench.local/fhir/clinic-a"


def request(
    method: str, path: str, query: list[tuple[str, str]] | None = None, body: Any = None
) -> FhirRequest:
    return FhirRequest(method, tuple(path.split("/")), "clinic-a", query or [], {}, body, BASE)


async def seed(repository: Repository, patients: int) -> list[str]:
    await repository.add_partition(Partition("clinic-a", "Bench clinic"))
    router = FhirRouter(repository)
    ids = []
    for i in range(patients):
        body = {"resourceType": "Patient", "name": [{"family": f"Fam{i % 20}", "given": ["B"]}]}
        created = (await router.handle(request("POST", "Patient", body=body))).body
        assert created is not None
        ids.append(str(created["id"]))
        for code in ("8867-4", "8480-6", "2345-7"):
            obs = {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": f"Patient/{created['id']}"},
                "valueQuantity": {"value": 70 + i % 30, "unit": "/min"},
            }
            await router.handle(request("POST", "Observation", body=obs))
    return ids


def workload(ids: list[str], n: int) -> list[FhirRequest]:
    """Half reads, a quarter searches by patient, a quarter searches by name."""
    out = []
    for i in range(n):
        pid = ids[(i * 7) % len(ids)]
        match i % 4:
            case 0 | 2:
                out.append(request("GET", f"Patient/{pid}"))
            case 1:
                out.append(request("GET", "Observation", [("patient", f"Patient/{pid}"), ("_count", "10")]))
            case _:
                out.append(request("GET", "Patient", [("family", f"Fam{i % 20}"), ("_count", "10")]))
    return out


async def run(router: FhirRouter, requests: list[FhirRequest], concurrency: int) -> tuple[float, float]:
    """Requests per second of `requests` over `concurrency` workers, and the process's CPU
    microseconds per request (all threads; the figure other processes' load disturbs least)."""
    queue = list(reversed(requests))

    async def worker() -> None:
        while queue:
            with contextlib.suppress(OutcomeError):
                await router.handle(queue.pop())

    start, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    close = getattr(router.audit, "close", None)
    if close is not None:
        await close()
    return len(requests) / (time.perf_counter() - start), (time.process_time() - cpu) * 1e6 / len(requests)


async def main(db: str, n: int, rounds: int, concurrency: int, patients: int) -> dict[str, Any]:
    repository = open_repository(db)
    await repository.open()
    try:
        ids = await seed(repository, patients)
        requests = workload(ids, n)
        await run(FhirRouter(repository), requests[: n // 5], concurrency)  # warm-up
        plain: list[tuple[float, float]] = []
        audited: list[tuple[float, float]] = []
        for i in range(rounds):
            sinks: list[tuple[list[tuple[float, float]], AuditSink]] = [
                (plain, NoAudit()),
                (audited, AuditTrail(repository, signing_key=b"bench-key")),
            ]
            for results, sink in sinks if i % 2 == 0 else reversed(sinks):  # alternate who goes first
                results.append(await run(FhirRouter(repository, audit=sink), requests, concurrency))
        head = await repository.audit_head()
    finally:
        await repository.close()
    base, with_audit = statistics.median(r for r, _ in plain), statistics.median(r for r, _ in audited)
    paired = statistics.median(a[0] / p[0] for a, p in zip(audited, plain, strict=True))
    cpu_base, cpu_audit = statistics.median(c for _, c in plain), statistics.median(c for _, c in audited)
    return {
        "benchmark": "audit_overhead",
        "db": db.split("://")[0],
        "requests_per_round": n,
        "rounds": rounds,
        "concurrency": concurrency,
        "mix": "50% read Patient/id, 25% Observation?patient=, 25% Patient?family=",
        "no_audit_rps": round(base, 1),
        "audit_trail_rps": round(with_audit, 1),
        "ratio": round(paired, 4),
        "ratio_note": "median over rounds of audited/plain req/s of the same round",
        "overhead_percent": round((1 - paired) * 100, 2),
        "no_audit_cpu_us_per_request": round(cpu_base, 1),
        "audit_trail_cpu_us_per_request": round(cpu_audit, 1),
        "cpu_overhead_percent": round((cpu_audit / cpu_base - 1) * 100, 2),
        "no_audit_rounds": [round(r, 1) for r, _ in plain],
        "audit_trail_rounds": [round(r, 1) for r, _ in audited],
        "audit_entries_written": head.seq,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--patients", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.sqlite"
        result = anyio.run(main, url, args.requests, args.rounds, args.concurrency, args.patients)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"audit_overhead-{result['db']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['db']}: NoAudit {result['no_audit_rps']} req/s, "
        f"AuditTrail {result['audit_trail_rps']} req/s, "
        f"ratio {result['ratio']} ({result['overhead_percent']}% overhead); CPU per request "
        f"{result['no_audit_cpu_us_per_request']} vs {result['audit_trail_cpu_us_per_request']} us "
        f"(+{result['cpu_overhead_percent']}%); {out}"
    )
