"""What the audit trail costs the request path, on SQLite and PostgreSQL, through the router and
over real HTTP: the same read + search mix without an audit sink and with the hash-chained
AuditTrail, measured in the same run.

Two levels, each on a fresh SQLite file and on a fresh PostgreSQL database (created at
`--pg` and dropped afterwards; skipped with a note when the server is unreachable):

* router: every request goes through `FhirRouter.handle` exactly as the api layer calls it,
  with `NoAudit` or one `AuditTrail`; each audited round ends by writing what it queued
  (`flush`) inside its timed window, and the trail's `close()` (the sealing checkpoint) is
  in the last one.  Without the HTTP layer the ratio is stricter, not kinder.
* http: two `uvicorn` server processes on the same database, built by `create_app` exactly as
  `yilian serve` builds them, one without and one with `audit_signing_key`; authentication is
  OFF in both (PartitionPolicy), so token verification does not dilute the ratio.  An httpx
  AsyncClient drives each with `--clients` concurrent connections.  Besides req/s, the
  server process's own CPU time per request is reported (from /proc): the figure the load of
  other processes on the machine disturbs least.

The two configurations alternate over many short rounds (who goes first alternates too), on
one database, so caches, disk and the machine's load affect both alike; the ratio is the
median over rounds of audited/plain req/s of the same round; the CPU ratio is that of the
totals over all rounds (CPU time is disturbed less by other processes than wall time, and
totals over many short interleaved rounds average what still disturbs it).

    .venv/bin/python bench/audit_overhead.py [--quick] [--backends sqlite,postgres] [--pg URL]

Writes bench/results/audit_overhead-<backend>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from yilian.fhir.outcome import OutcomeError
from yilian.privacy.audit import AuditTrail
from yilian.router import FhirRequest, FhirRouter
from yilian.router.access import NoAudit
from yilian.store.base import Partition, Repository
from yilian.store.factory import open_repository

RESULTS = Path(__file__).resolve().parent / "results"
BASE = "http://bench.local/fhir/clinic-a"
PG_ADMIN = os.environ.get("YILIAN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MIX = "50% read Patient/id, 25% Observation?patient=, 25% Patient?family="
KEY = "bench-audit-key"

# The server process: create_app as `yilian serve` builds it, auth off, audit on when a key is given.
_SERVER = """
import sys, uvicorn
from dataclasses import fields
from yilian.api.app import create_app
from yilian.config import Settings
from yilian.store.factory import open_repository
url, key, port, scratch = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
extra = {"bulk_dir": scratch} if "bulk_dir" in {f.name for f in fields(Settings)} else {}
settings = Settings().replace(db_url=url, auth="off", audit_signing_key=key, **extra)
uvicorn.run(create_app(settings, open_repository(url)), host="127.0.0.1", port=port,
            log_level="warning", access_log=False)
"""


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


def workload(ids: list[str], n: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """Half reads, a quarter searches by patient, a quarter searches by name: (path, query)."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for i in range(n):
        pid = ids[(i * 7) % len(ids)]
        match i % 4:
            case 0 | 2:
                out.append((f"Patient/{pid}", []))
            case 1:
                out.append(("Observation", [("patient", f"Patient/{pid}"), ("_count", "10")]))
            case _:
                out.append(("Patient", [("family", f"Fam{i % 20}"), ("_count", "10")]))
    return out


@dataclass
class Rounds:
    """Per-round (req/s, CPU us per request) of the two configurations."""

    plain: list[tuple[float, float]]
    audited: list[tuple[float, float]]

    def summary(self, cpu_of: str) -> dict[str, Any]:
        rps = [a[0] / p[0] for a, p in zip(self.audited, self.plain, strict=True)]
        cpu_plain = sum(c for _, c in self.plain)
        ratio = statistics.median(rps)
        cpu_ratio = sum(c for _, c in self.audited) / cpu_plain if cpu_plain > 0 else float("nan")
        return {
            "no_audit_rps": round(statistics.median(r for r, _ in self.plain), 1),
            "audit_trail_rps": round(statistics.median(r for r, _ in self.audited), 1),
            "ratio": round(ratio, 4),
            "overhead_percent": round((1 - ratio) * 100, 2),
            "no_audit_cpu_us_per_request": round(statistics.mean(c for _, c in self.plain), 1),
            "audit_trail_cpu_us_per_request": round(statistics.mean(c for _, c in self.audited), 1),
            "cpu_ratio": round(cpu_ratio, 4),
            "cpu_overhead_percent": round((cpu_ratio - 1) * 100, 2),
            "cpu_of": cpu_of,
            "no_audit_rounds": [round(r, 1) for r, _ in self.plain],
            "audit_trail_rounds": [round(r, 1) for r, _ in self.audited],
        }


# -- router level -------------------------------------------------------------------------------
async def run_router(
    router: FhirRouter, requests: list[FhirRequest], concurrency: int, trail: AuditTrail | None = None
) -> tuple[float, float]:
    """Requests per second over `concurrency` workers, and the process's CPU microseconds per
    request (all threads: the SQLite worker threads and the audit writer are paid for).  With
    `trail`, what its requests queued is written inside the window (`flush`), so none of it
    spills into the next round of the other configuration."""
    queue = list(reversed(requests))

    async def worker() -> None:
        while queue:
            with contextlib.suppress(OutcomeError):
                await router.handle(queue.pop())

    start, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    if trail is not None:
        await trail.flush()
    return len(requests) / (time.perf_counter() - start), (time.process_time() - cpu) * 1e6 / len(requests)


async def router_level(
    repository: Repository, ids: list[str], n: int, rounds: int, concurrency: int
) -> Rounds:
    """One trail for all audited rounds (as a server keeps one), flushed at the end of each
    of them and closed (its sealing checkpoint) inside the last one."""
    requests = [request("GET", path, query) for path, query in workload(ids, n)]
    trail = AuditTrail(repository, signing_key=KEY.encode())
    plain, audited = FhirRouter(repository, audit=NoAudit()), FhirRouter(repository, audit=trail)
    for router in (plain, audited):  # warm-up
        await run_router(
            router, requests[: max(n // 5, 50)], concurrency, trail if router is audited else None
        )
    result = Rounds([], [])
    for i in range(rounds):
        pair = [(result.plain, plain), (result.audited, audited)]
        for results, router in pair if i % 2 == 0 else reversed(pair):  # alternate who goes first
            results.append(
                await run_router(router, requests, concurrency, trail if router is audited else None)
            )
    started, cpu = time.perf_counter(), time.process_time()
    await trail.close()
    rps, cpu_us = result.audited[-1]
    seconds = n / rps + time.perf_counter() - started
    result.audited[-1] = (n / seconds, cpu_us + (time.process_time() - cpu) * 1e6 / n)
    return result


# -- over HTTP ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` (Linux /proc; 0 elsewhere, and the CPU ratio is then NaN)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(url: str, key: str, scratch: str) -> Iterator[tuple[str, int]]:
    """A server process on `url` (audit on when `key`); yields its FHIR base and pid."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, url, key, str(port), scratch])
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the bench server exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the bench server did not start")
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()  # uvicorn shuts down cleanly: the trail flushes and seals
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def run_http(
    client: httpx.AsyncClient, pid: int, paths: list[tuple[str, list[tuple[str, str]]]], clients: int
) -> tuple[float, float]:
    """Requests per second of `paths` over `clients` concurrent requests, and the server's CPU
    seconds (not per request: /proc counts in ticks, so the CPU ratio is taken over all rounds)."""
    queue = list(reversed(paths))

    async def worker() -> None:
        while queue:
            path, query = queue.pop()
            response = await client.get(path, params=tuple(query))
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} -> {response.status_code}: {response.text[:200]}")

    start, cpu = time.perf_counter(), _cpu_seconds(pid)
    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(worker)
    return len(paths) / (time.perf_counter() - start), _cpu_seconds(pid) - cpu


async def _http_rounds(
    targets: list[tuple[list[tuple[float, float]], tuple[str, int]]],
    paths: list[tuple[str, list[tuple[str, str]]]],
    rounds: int,
    clients: int,
) -> None:
    limits = httpx.Limits(max_connections=clients)
    async with contextlib.AsyncExitStack() as stack:
        bound = [
            (
                results,
                pid,
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=f"{base}/clinic-a/", timeout=60, limits=limits)
                ),
            )
            for results, (base, pid) in targets
        ]
        for _, pid, client in bound:  # warm-up: connections, caches, the audit writer
            await run_http(client, pid, paths[: max(len(paths) // 2, 20)], clients)
        for i in range(rounds):
            for results, pid, client in bound if i % 2 == 0 else reversed(bound):
                results.append(await run_http(client, pid, paths, clients))


def http_level(url: str, ids: list[str], n: int, rounds: int, clients: int) -> Rounds:
    paths = workload(ids, n)
    result = Rounds([], [])
    with (
        tempfile.TemporaryDirectory() as scratch,
        server(url, "", scratch) as plain,
        server(url, KEY, scratch) as audited,
    ):
        anyio.run(_http_rounds, [(result.plain, plain), (result.audited, audited)], paths, rounds, clients)
    # CPU per request over all rounds (the per-round figures are too coarse to pair).
    for results in (result.plain, result.audited):
        cpu_us = sum(c for _, c in results) * 1e6 / (n * len(results))
        results[:] = [(r, cpu_us) for r, _ in results]
    return result


# -- one backend --------------------------------------------------------------------------------
async def _seeded(url: str, patients: int) -> list[str]:
    repository = open_repository(url)
    await repository.open()
    try:
        return await seed(repository, patients)
    finally:
        await repository.close()


async def _router_level(url: str, ids: list[str], args: argparse.Namespace) -> tuple[Rounds, int]:
    repository = open_repository(url)
    await repository.open()
    try:
        rounds = await router_level(repository, ids, args.requests, args.rounds, args.concurrency)
        return rounds, (await repository.audit_head()).seq
    finally:
        await repository.close()


def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    ids = anyio.run(_seeded, url, args.patients)
    router, written = anyio.run(_router_level, url, ids, args)
    result: dict[str, Any] = {
        "benchmark": "audit_overhead",
        "db": name,
        "mix": MIX,
        "rounds": args.rounds,
        "ratio_note": "median over rounds of audited/plain of the same round; overhead = 1 - ratio",
        "router": {
            "requests_per_round": args.requests,
            "concurrency": args.concurrency,
            **router.summary("the bench process, all threads"),
            "audit_entries_written": written,
        },
    }
    if args.http:
        http = http_level(url, ids, args.http_requests, args.rounds, args.clients)
        result["http"] = {
            "requests_per_round": args.http_requests,
            "clients": args.clients,
            "auth": "off (PartitionPolicy); token verification would only dilute the ratio",
            **http.summary("the server process"),
        }
    result |= {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    return result


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for the run (dropped afterwards), or None if unreachable."""
    import psycopg

    name = f"yilian_bench_audit_{os.getpid()}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        print(f"postgres: skipped, {PG_ADMIN} unreachable ({exc.__class__.__name__})")
        yield None
        return
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
        try:
            yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def report(result: dict[str, Any], out: Path) -> None:
    for level in ("router", "http"):
        if level in result:
            r = result[level]
            print(
                f"{result['db']:8} {level:6}: NoAudit {r['no_audit_rps']:7.1f} req/s, AuditTrail "
                f"{r['audit_trail_rps']:7.1f} req/s, ratio {r['ratio']:.3f} ({r['overhead_percent']:+.1f}% "
                f"overhead); CPU/request {r['no_audit_cpu_us_per_request']} vs "
                f"{r['audit_trail_cpu_us_per_request']} us ({r['cpu_overhead_percent']:+.1f}%)"
            )
    print(f"{'':8} -> {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (make bench-quick)")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--db", help="benchmark this database URL only (it must be empty)")
    parser.add_argument(
        "--requests", type=int, help="router-level requests per round (default 300; --quick 200)"
    )
    parser.add_argument("--http-requests", type=int, help="HTTP requests per round (default 150; --quick 80)")
    parser.add_argument("--rounds", type=int, help="rounds per configuration (default 12; --quick 6)")
    parser.add_argument("--concurrency", type=int, default=8, help="router-level concurrent requests")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP connections")
    parser.add_argument(
        "--patients", type=int, help="seeded patients, 3 Observations each (default 60; --quick 30)"
    )
    parser.add_argument("--no-http", dest="http", action="store_false", help="router level only")
    args = parser.parse_args()
    args.requests = args.requests or (200 if args.quick else 300)
    args.http_requests = args.http_requests or (80 if args.quick else 150)
    args.rounds = args.rounds or (6 if args.quick else 12)
    args.patients = args.patients or (30 if args.quick else 60)
    RESULTS.mkdir(exist_ok=True)
    if args.db:
        targets = [(args.db.split("://")[0].split("+")[0], args.db)]
    else:
        targets = [(b.strip(), "") for b in args.backends.split(",") if b.strip()]
    for name, given in targets:
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            url = given
            if not url and name == "sqlite":
                url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/bench.sqlite"
            elif not url and name in ("postgres", "postgresql"):
                url = stack.enter_context(postgres_database()) or ""
                if not url:
                    continue
            elif not url:
                parser.error(f"unknown backend {name!r}")
            result = bench_backend("postgres" if name.startswith("postgres") else name, url, args)
        result["seconds"] = round(time.perf_counter() - started, 1)
        out = RESULTS / f"audit_overhead-{result['db']}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        report(result, out)


if __name__ == "__main__":
    main()
