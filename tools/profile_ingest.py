"""Where the time of a transaction-Bundle ingest goes, stage by stage, per resource.

Loads Synthea patient Bundles from the shared data folder and times, over every resource in
them, each piece of per-resource work the write path does, against `orjson.loads` of the same
resources as the baseline measured in the same run:

- `loads`: orjson.loads of the resource's JSON (the baseline: the least any ingest must do);
- `validate`: structure validation (`fhir.validation.validate_resource`);
- `extract`: search-index values (`fhir.search.extract.index_values`);
- `rows`: index rows for executemany (`store.sql.indexing.insert_statements`);
- `compartment`: patient-compartment rows (`store.sql.compartment.compartment_statements`);
- `encode`: orjson.dumps of the stamped resource.

Then, with `--e2e`, the end-to-end transaction path: every Bundle POSTed through
`FhirRouter.handle` into a fresh SQLite file and a fresh PostgreSQL database, resources/s.
`--profile STAGE` runs cProfile over one stage (or `e2e-sqlite`/`e2e-postgres`) and prints
the top functions.

    .venv/bin/python tools/profile_ingest.py [--bundles N] [--repeat R] [--e2e] [--profile STAGE]
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import orjson

from yilian.fhir.search.extract import index_values
from yilian.fhir.validation import validate_resource
from yilian.store.sql.compartment import compartment_statements
from yilian.store.sql.indexing import insert_statements

DATA = (
    Path(os.environ.get("YILIAN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    / "synthea-r4-bundles"
)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BASE = "http://profile.local/fhir/clinic-a"


def load_bundles(limit: int) -> list[dict[str, Any]]:
    files = sorted(DATA.glob("*.json*"))[:limit]
    out = []
    for f in files:
        raw = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        out.append(orjson.loads(raw))
    return out


def resources_of(bundles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["resource"] for b in bundles for e in b.get("entry", []) if "resource" in e]


def stages(resources: list[dict[str, Any]]) -> dict[str, Callable[[], object]]:
    """Each stage as a closure over the whole corpus, its inputs prepared beforehand."""
    raw = [orjson.dumps(r) for r in resources]
    values = [index_values(r) for r in resources]
    ids = [str(r.get("id", i)) for i, r in enumerate(resources)]

    def loads() -> object:
        return [orjson.loads(b) for b in raw]

    def validate() -> object:
        return [validate_resource(r) for r in resources]

    def extract() -> object:
        return [index_values(r) for r in resources]

    def rows() -> object:
        return [insert_statements(i, v) for i, v in enumerate(values)]

    def compartment() -> object:
        return [
            compartment_statements(i, 1, r["resourceType"], ids[i], v)
            for i, (r, v) in enumerate(zip(resources, values, strict=True))
        ]

    def encode() -> object:
        return [orjson.dumps(r) for r in resources]

    return {
        "loads": loads,
        "validate": validate,
        "extract": extract,
        "rows": rows,
        "compartment": compartment,
        "encode": encode,
    }


def time_stages(resources: list[dict[str, Any]], repeat: int) -> dict[str, float]:
    """Resources per CPU second of each stage: the best of `repeat` rounds, rounds interleaved
    so the machine's load affects every stage alike (process CPU time, not wall time: six
    developers share this machine)."""
    fns = stages(resources)
    for fn in fns.values():  # warm caches and compiled tables
        fn()
    best: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.process_time()
            fn()
            best[name].append(time.process_time() - start)
    return {name: len(resources) / min(times) for name, times in best.items()}


# --------------------------------------------------------------------------- end to end


async def _e2e(url: str, bundles: list[dict[str, Any]]) -> tuple[float, float, int]:
    from yilian.router import FhirRequest, FhirRouter
    from yilian.store.base import Partition
    from yilian.store.factory import open_repository

    repository = open_repository(url)
    await repository.open()
    try:
        await repository.add_partition(Partition("clinic-a", "Profile clinic"))
        router = FhirRouter(repository)
        total = 0
        start, cpu = time.perf_counter(), time.process_time()
        for bundle in bundles:
            request = FhirRequest("POST", (), "clinic-a", [], {}, orjson.loads(orjson.dumps(bundle)), BASE)
            response = await router.handle(request)
            assert response.body is not None and response.body["type"] == "transaction-response"
            total += len(bundle["entry"])
        wall = time.perf_counter() - start
        return total / wall, (time.process_time() - cpu) * 1e6 / total, total
    finally:
        await repository.close()


def _pg_database() -> tuple[str, Callable[[], None]]:
    import psycopg

    name = f"yilian_profile_{int(time.time() * 1000) % 10**9}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return f"postgresql://postgres@127.0.0.1:5432/{name}", drop


def e2e(backend: str, bundles: list[dict[str, Any]]) -> tuple[float, float, int]:
    """Resources/s (wall), this process's CPU microseconds per resource, resources."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            return anyio.run(_e2e, f"sqlite:///{tmp}/profile.sqlite", bundles)
    url, drop = _pg_database()
    try:
        return anyio.run(_e2e, url, bundles)
    finally:
        drop()


# --------------------------------------------------------------------------- main


def profile(target: str, resources: list[dict[str, Any]], bundles: list[dict[str, Any]], top: int) -> None:
    if target.startswith("e2e-"):

        def run() -> object:
            return e2e(target[4:], bundles)
    else:
        run = stages(resources)[target]
        run()
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", type=int, default=40, help="Synthea bundles to load")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per stage (best is kept)")
    parser.add_argument("--e2e", action="store_true", help="also time the router on both backends")
    parser.add_argument("--e2e-rounds", type=int, default=1, help="end-to-end rounds per backend")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--profile", help="cProfile one stage (or e2e-sqlite / e2e-postgres)")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    bundles = load_bundles(args.bundles)
    resources = resources_of(bundles)
    print(f"{len(bundles)} bundles, {len(resources)} resources")
    if args.profile:
        profile(args.profile, resources, bundles, args.top)
        return
    rates = time_stages(resources, args.repeat)
    base = rates["loads"]
    print(f"{'stage':<12} {'resources/s':>12} {'us/resource':>12} {'x loads time':>13}")
    for name, rate in rates.items():
        print(f"{name:<12} {rate:>12,.0f} {1e6 / rate:>12.1f} {base / rate:>13.1f}")
    if args.e2e:
        for backend in args.backends.split(","):
            runs = [e2e(backend, bundles) for _ in range(args.e2e_rounds)]
            rate = statistics.median(r for r, _, _ in runs)
            cpu = statistics.median(c for _, c, _ in runs)
            print(
                f"e2e {backend:<8} {rate:>10,.0f} resources/s, {cpu:,.0f} us client CPU per resource "
                f"({runs[0][2]} resources per round, median of {len(runs)})"
            )


if __name__ == "__main__":
    main()
