"""The yilian benchmark suite: CRUD, transaction ingest, bulk import/export, search shapes and
their growth with data size, on SQLite and PostgreSQL, each figure beside the database's own
limit measured in the same run (direct SQL without the server).

    .venv/bin/python bench/run.py            # 100, 1,000 and 10,000 patients (make bench)
    .venv/bin/python bench/run.py --quick    # 100 patients, fewer requests (make bench-quick)
    .venv/bin/python bench/run.py --sizes 100,1000 --backends postgresql

The server is `yilian serve --auth off` in a subprocess: token checks cost the same per
request whatever the database does, and the suite compares the server with its database.
The load generator is another subprocess (httpx async, 1, 8 and 32 clients).  PostgreSQL runs
in a fresh database the harness creates and drops at 127.0.0.1:5432 (user postgres;
YILIAN_BENCH_PG_URL overrides); when it is unreachable the PostgreSQL run is skipped and says
why.  Results: a table per backend on the console and bench/results/suite-<mode>-*.json.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.harness` from a plain script run

from rich.console import Console

from bench.harness.baseline import make_scratch
from bench.harness.bulk import export_rows, import_rows
from bench.harness.database import BenchDatabase, load_population, pg_reachable
from bench.harness.report import Row, machine_info, print_growth, print_table, write_results
from bench.harness.searches import measure_shape
from bench.harness.server import ServerProcess
from bench.harness.shapes import probe, shapes
from bench.harness.targets import print_targets
from bench.harness.workloads import bundle_ingest, crud, read_throughput
from yilian.synth.population import records

console = Console(width=200)


def run_backend(db: BenchDatabase, args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement on one backend; on failure show the server's log before the
    scratch directory holding it is removed."""
    try:
        return _run_backend(db, args)
    except Exception:
        log = db.scratch_dir / "server.log"
        if log.exists():
            console.print("[red]server log (tail):[/red]\n" + log.read_text(errors="replace")[-4000:])
        raise


def _run_backend(db: BenchDatabase, args: argparse.Namespace) -> dict[str, Any]:
    seed = args.seed
    p = probe(seed)
    shape_list = shapes(p)
    rows: list[Row] = []
    growth: dict[str, dict[int, float]] = {s.name: {} for s in shape_list}
    per_size: dict[int, Any] = {}
    plans: dict[str, Any] = {}
    loaded = 0
    loads: list[tuple[int, Any, int]] = []
    for size in args.sizes:
        console.print(f"[bold]{db.backend}[/bold]: loading patients {loaded:,}..{size - 1:,}", end=" ")
        workers = 1 if db.backend == "sqlite" else min(os.cpu_count() or 1, 4)
        report = load_population(db.url, loaded, size - loaded, seed, workers=workers)
        loaded = size
        console.print(
            f"{report.resources:,} resources in {report.seconds:.1f} s ({report.per_second:,.0f}/s)"
        )
        conn = db.connect()
        if db.backend == "postgresql":
            conn.execute("ANALYZE")  # what autovacuum does after a bulk load
        schema = make_scratch(conn, str(db.scratch_dir / "scratch.sqlite"))
        largest = size == args.sizes[-1]
        size_info: dict[str, Any] = {
            "load": {"resources": report.resources, "seconds": round(report.seconds, 2)}
        }
        import_dir = db.scratch_dir / "import"
        server_settings = {"bulk_dir": str(db.scratch_dir / "bulk"), "import_allowed_dirs": str(import_dir)}
        with ServerProcess(
            db.url, log=db.scratch_dir / "server.log", cwd=db.scratch_dir, settings=server_settings
        ) as server:
            audit = {True: "audit trail on", False: "audit trail off", None: "audit trail: see server log"}
            audit_state = server.audit_on()
            console.print(
                f"  server pid {server.pid} at {server.base} (auth off, {audit[audit_state]}); "
                f"searches x{args.search_reps}"
            )
            size_info["audit_trail"] = audit_state
            for shape in shape_list:
                result = measure_shape(db, conn, server.base, shape, args.search_reps, with_plans=largest)
                growth[shape.name][size] = result.server.p50_ms
                if args.verbose:
                    console.print(
                        f"    {shape.name}: p50 {result.server.p50_ms:.1f} ms"
                        f" (SQL {result.direct.p50_ms:.1f})"
                    )
                size_info.setdefault("searches", {})[shape.name] = {
                    "server": result.server.as_dict(),
                    "direct": result.direct.as_dict(),
                    "server_total": result.server_total,
                    "direct_total": result.direct_total,
                }
                if largest:
                    plans[shape.name] = result.plans
                    rows.append(_search_row(shape.name, result))
            if largest:
                console.print(f"  CRUD x{args.requests} per operation at 1/8/32 clients")
                patients = [r.patient_id for r in records(min(size, 200), seed)]
                readable = [
                    (res["resourceType"], res["id"])
                    for r in records(min(size, 100), seed)
                    for res in r.resources
                ]
                rows += crud(server.base, conn, schema, patients, readable, args.requests)
                server.check_alive()
                console.print(f"  transaction bundles x{args.bundles}")
                rows.append(bundle_ingest(server.base, conn, schema, args.bundles, seed))
                server.check_alive()
                console.print(f"  bulk: $import ({args.import_patients} patients), $export")
                rows += import_rows(
                    server.base,
                    conn,
                    schema,
                    db.url,
                    import_dir,
                    args.import_patients,
                    seed + 1,
                )
                rows += export_rows(server.base, conn)
                server.check_alive()
                memory = server.memory_mb()
                rows.append(
                    Row("memory", "server peak RSS", "MiB", memory.get("VmHWM", math.nan),
                        note=f"whole run at {size:,} patients (now {memory.get('VmRSS', math.nan):.0f} MiB)")
                )  # fmt: skip
        if largest and (cores := os.cpu_count() or 1) > 1:
            console.print(f"  worker scaling: reads x32 clients, 1 and {cores} server workers")
            with ServerProcess(db.url, cwd=db.scratch_dir, settings=server_settings) as one:
                single = read_throughput(one.base, readable, args.requests * 4)
            with ServerProcess(db.url, cwd=db.scratch_dir, settings=server_settings, workers=cores) as many:
                multi = read_throughput(many.base, readable, args.requests * 4)
            rows.append(
                Row("scaling", f"read x32, --workers {cores}", "req/s", multi, single, higher=True,
                    note="baseline: the same reads with --workers 1")
            )  # fmt: skip
        loads.append((size, report, workers))
        conn.close()
        per_size[size] = size_info
    ingest = next((r.baseline for r in rows if r.section == "ingest"), math.nan)
    rows[:0] = [
        Row("load", f"population to {size:,} patients", "res/s", report.per_second, ingest, higher=True,
            note=f"{report.resources:,} resources, store contract (Session.create), {workers} process(es); "
            "baseline: COPY/executemany rate of the ingest rows")
        for size, report, workers in loads
    ]  # fmt: skip
    version = db.version()
    title = f"{version} - {args.sizes[-1]:,} patients - ratio = server / direct SQL"
    print_table(console, title, rows)
    if len(args.sizes) > 1:
        print_growth(console, f"{db.backend}: search p50 (ms) by size", growth)
    _print_scans(plans)
    measured = {
        "version": version,
        "rows": [r.as_dict() for r in rows],
        "growth_p50_ms": {k: {str(s): round(v, 3) for s, v in per.items()} for k, per in growth.items()},
        "sizes": {str(k): v for k, v in per_size.items()},
        "plans": plans,
    }
    print_targets(console, f"{db.backend}: issue 4 targets (stated for PostgreSQL, 2 cores)", measured)
    return measured


def _search_row(name: str, result: Any) -> Row:
    s, d = result.server, result.direct
    note = f"p95 {s.p95_ms:.1f} vs {d.p95_ms:.1f}"
    if result.server_total is not None and result.server_total != result.direct_total:
        note += f"; totals differ: server {result.server_total}, SQL {result.direct_total}"
    else:
        note += f"; {result.direct_total} matches"
    scans = [x for key in ("server", "server_count") for x in result.plans.get(key, {}).get("full_scans", [])]
    if scans:
        note += f"; server plan scans: {len(scans)}"
    if "server_error" in result.plans:
        note += f"; server SQL: {result.plans['server_error'][:40]}"
    return Row("search", name, "p50 ms", s.p50_ms, d.p50_ms, note=note)


def _print_scans(plans: dict[str, Any]) -> None:
    for name, plan in plans.items():
        for key in ("hand", "hand_count", "server", "server_count"):
            scans = plan.get(key, {}).get("full_scans", [])
            if scans:
                console.print(f"  [yellow]full scan[/yellow] {name} ({key}): {'; '.join(scans[:3])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 patients, fewer requests (about a minute)")
    parser.add_argument("--sizes", help="comma-separated patient counts (default 100,1000,10000)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--verbose", action="store_true", help="print each search shape as it is measured")
    args = parser.parse_args()
    quick = args.quick
    args.sizes = (
        [int(s) for s in args.sizes.split(",")] if args.sizes else ([100] if quick else [100, 1000, 10000])
    )
    args.requests = 40 if quick else 300
    args.search_reps = 10 if quick else 20
    args.bundles = 8 if quick else 60
    args.import_patients = 30 if quick else 1000
    mode = "quick" if quick else "full"
    console.print(
        f"[bold]yilian benchmark ({mode})[/bold]: sizes {args.sizes}, backends {args.backends}. "
        "The server runs with [bold]authentication off[/bold] (--auth off): a token check is a per-request "
        "constant independent of the database, which is what these figures compare against."
    )
    started = time.time()
    result: dict[str, Any] = {
        "mode": mode,
        "sizes": args.sizes,
        "seed": args.seed,
        "auth": "off",
        "backends": {},
    }
    versions: dict[str, str] = {}
    for backend in args.backends.split(","):
        if backend == "postgresql" and (why := pg_reachable()):
            console.print(f"[yellow]PostgreSQL skipped: cannot reach the server ({why})[/yellow]")
            result["backends"][backend] = {"skipped": why}
            continue
        with BenchDatabase.fresh(backend) as db:
            result["backends"][backend] = run_backend(db, args)
            versions[backend] = result["backends"][backend]["version"]
    result["machine"] = machine_info(versions)
    result["seconds"] = round(time.time() - started, 1)
    path = write_results(result, mode)
    console.print(f"results: {path} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
