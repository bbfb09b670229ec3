"""How fast `$import` loads NDJSON, against the database's own limit measured in the same run.

Generates a synthetic population (yilian.synth.population, NDJSON per resource type), then per
backend, each in a fresh database (SQLite file / PostgreSQL database created and dropped):

- `import`: `yilian.ingest.Loader` over the files (what `$import` and `yilian import` run);
- `raw`: the very rows the import wrote (resource, history, index, compartment and label rows,
  built beforehand, outside the clock) appended to the same tables of another fresh database:
  PostgreSQL `COPY` per table per 1,000-resource batch in one transaction, SQLite one
  executemany per table per batch in one transaction;
- `loads`: `orjson.loads` of every line (the least any import must do), once per run.

It prints resources/s (wall), the import's ratio to `raw`, CPU microseconds per resource of
this process, of the worker processes and of the PostgreSQL backends serving the run (read
from /proc, so other users of the machine do not count), and peak resident memory of this
process and of the largest worker.  The machine is shared: compare ratios, not absolutes.

    .venv/bin/python tools/profile_import.py [--patients N] [--backends sqlite,postgres]
        [--workers W] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import orjson

from yilian.ingest import Loader, LoaderOptions, expand_paths
from yilian.store.base import DEFAULT_PARTITION, Scope
from yilian.store.factory import open_repository
from yilian.store.sql.bulk_load import Prepared
from yilian.store.sql.repository import SqlRepository
from yilian.store.sql.session import insert_target
from yilian.synth.population import write_ndjson

PG_ADMIN = os.environ.get("YILIAN_PROFILE_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 1000


# -- measuring --------------------------------------------------------------------------------
def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PgCpu:
    """CPU of the PostgreSQL backends connected to one database (polled, so backends that
    come and go are counted too)."""

    def __init__(self, database: str) -> None:
        import psycopg

        self._conn = psycopg.connect(PG_ADMIN, autocommit=True)
        self._database = database
        self._seen: dict[int, tuple[float, float]] = {}  # pid -> (first, last) CPU reading
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self) -> None:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (self._database,),
        ).fetchall()
        for (pid,) in rows:
            cpu = _proc_cpu(int(pid))
            first = self._seen.get(pid, (cpu, cpu))[0]
            self._seen[pid] = (first, max(cpu, self._seen.get(pid, (cpu, cpu))[1]))

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> PgCpu:
        self._sample()
        self._seen = {pid: (last, last) for pid, (_, last) in self._seen.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._conn.close()

    @property
    def seconds(self) -> float:
        return sum(last - first for first, last in self._seen.values())


def _pg_database(tag: str) -> tuple[str, str, Callable[[], None]]:
    import psycopg

    name = f"yilian_import_{tag}_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", name, drop


def _vm_rss_mb(pid: int | str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children() -> list[int]:
    out: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


class RssPeak:
    """Peak resident memory of this process, of its largest child and of both together,
    sampled from /proc every 0.1 s (ru_maxrss would count the parent a child was forked from)."""

    def __init__(self) -> None:
        self.main = self.worker = self.total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self) -> None:
        main = _vm_rss_mb("self")
        workers = [_vm_rss_mb(pid) for pid in _children()]
        self.main = max(self.main, main)
        self.worker = max([self.worker, *workers])
        self.total = max(self.total, main + sum(workers))

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the import -------------------------------------------------------------------------------
async def _import(url: str, files: list[Path], workers: int | None, database: str | None) -> dict[str, Any]:
    repo = open_repository(url)
    await repo.open()
    try:
        loader = Loader(repo, DEFAULT_PARTITION, Scope.everything(), LoaderOptions(workers=workers))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        pg = PgCpu(database) if database else None
        if pg:
            pg.__enter__()
        with RssPeak() as rss:
            try:
                for path in files:
                    await loader.load_file(path)
                await loader.aclose()  # the workers' CPU is counted once they are reaped
            finally:
                if pg:
                    pg.__exit__()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = loader.report
        return {
            "resources": report.created + report.updated + report.unchanged,
            "problems": report.problems,
            "wall": wall,
            "cpu_main": cpu,
            "cpu_workers": (children.ru_utime + children.ru_stime)
            - (children0.ru_utime + children0.ru_stime),
            "cpu_db": pg.seconds if pg else 0.0,
            "rss_main_mb": rss.main,
            "rss_worker_mb": rss.worker,
            "rss_total_mb": rss.total,
        }
    finally:
        await repo.close()


# -- the raw baseline -------------------------------------------------------------------------
def _rows(repo: SqlRepository, files: list[Path]) -> list[dict[str, tuple[tuple[str, ...], list[object]]]]:
    """Per batch of BATCH resources, per table: columns and the rows the import writes."""
    preparer = repo.bulk_preparer()
    assert preparer is not None
    d = repo.dialect
    batches: list[dict[str, tuple[tuple[str, ...], list[object]]]] = []
    rid = 0
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal rid
        tables: dict[str, tuple[tuple[str, ...], list[object]]] = {}
        for item in preparer(pending, DEFAULT_PARTITION):
            prepared: Prepared = item  # type: ignore[assignment]
            rid += 1
            for text, encoded in prepared[3]:
                table, columns = insert_target(text)
                d.bulk_attach(rid, encoded, tables.setdefault(table, (columns, []))[1])
        batches.append(tables)
        pending.clear()

    for path in files:
        with path.open("rb") as fh:
            for line in fh:
                pending.append(orjson.loads(line))
                if len(pending) >= BATCH:
                    flush()
    if pending:
        flush()
    return batches


def _raw_sqlite(
    path: str, batches: list[dict[str, tuple[tuple[str, ...], list[object]]]]
) -> tuple[float, float]:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for tables in batches:
        conn.execute("BEGIN IMMEDIATE")
        for table, (columns, rows) in tables.items():
            marks = ", ".join("?" for _ in columns)
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # type: ignore[arg-type]
        conn.execute("COMMIT")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    conn.close()
    return wall, cpu


def _raw_postgres(
    url: str, database: str, batches: list[dict[str, tuple[tuple[str, ...], list[object]]]]
) -> tuple[float, float, float]:
    import psycopg

    with psycopg.connect(url) as conn, PgCpu(database) as pg:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for tables in batches:
            with conn.transaction(), conn.cursor() as cur:
                for table, (columns, rows) in tables.items():
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        copy.write(b"".join(rows))  # type: ignore[arg-type]
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return wall, cpu, pg.seconds


async def _open_close(url: str) -> SqlRepository:
    repo = open_repository(url)
    await repo.open()
    await repo.close()
    assert isinstance(repo, SqlRepository)
    return repo


# -- the run ----------------------------------------------------------------------------------
def _line(name: str, n: int, wall: float, base: float | None, main: float, workers: float, db: float) -> str:
    ratio = f"{(n / wall) / (n / base):6.0%}" if base else "     -"
    return (
        f"  {name:<22} {n / wall:>10,.0f} {ratio}   {main * 1e6 / n:>7.0f} {workers * 1e6 / n:>7.0f} "
        f"{db * 1e6 / n:>7.0f}"
    )


def run_backend(
    backend: str, files: list[Path], total: int, workers: int | None, profile: bool, raw: bool = True
) -> dict[str, Any]:
    print(f"\n{backend}: {total:,} resources")
    print(f"  {'':<22} {'res/s':>10} {'vs raw':>6}   {'us/res: main':>7} {'workers':>7} {'db':>7}")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            raw_url, imp_url = f"sqlite:///{tmp}/raw.sqlite", f"sqlite:///{tmp}/import.sqlite"
            raw_db = imp_db = None
            drops: list[Callable[[], None]] = []
        else:
            raw_url, raw_db, drop_raw = _pg_database("raw")
            imp_url, imp_db, drop_imp = _pg_database("imp")
            drops = [drop_raw, drop_imp]
        try:
            repo = anyio.run(_open_close, raw_url)
            batches = _rows(repo, files) if raw else []
            rows = sum(
                sum(x.count(b"\n") if isinstance(x, bytes) else 1 for x in r)
                for t in batches
                for _, r in t.values()
            )
            if backend == "sqlite":
                wall, cpu = _raw_sqlite(f"{tmp}/raw.sqlite", batches)
                db_cpu = 0.0
            else:
                assert raw_db is not None
                wall, cpu, db_cpu = _raw_postgres(raw_url, raw_db, batches)
            del batches
            wall = wall if raw else 0.0
            out["raw"] = {"wall": wall, "cpu_main": cpu, "cpu_db": db_cpu, "rows": rows}
            if raw:
                print(
                    _line(
                        "raw " + ("COPY" if backend != "sqlite" else "executemany"),
                        total,
                        wall,
                        None,
                        cpu,
                        0,
                        db_cpu,
                    )
                )
            if profile:
                prof = cProfile.Profile()
                result = prof.runcall(anyio.run, _import, imp_url, files, workers, imp_db)
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            else:  # in a process of its own, so its peak memory is the import's alone
                command = [sys.executable, __file__, "--import-into", imp_url, "--database", imp_db or ""]
                command += ["--workers", str(workers)] if workers is not None else []
                done = subprocess.run([*command, *map(str, files)], capture_output=True, check=True)
                result = json.loads(done.stdout.decode().strip().splitlines()[-1])
            out["import"] = result
            print(
                _line(
                    "import",
                    total,
                    result["wall"],
                    wall,
                    result["cpu_main"],
                    result["cpu_workers"],
                    result["cpu_db"],
                )
            )
            if backend == "sqlite":
                print("  (SQLite writes in this process: its 'main' CPU includes the database's)")
            print(
                f"  peak RSS: importing process {result['rss_main_mb']:.0f} MB, largest worker "
                f"{result['rss_worker_mb']:.0f} MB, together {result['rss_total_mb']:.0f} MB; "
                f"{rows:,} rows ({rows / total:.1f} a resource)"
            )
            if result["resources"] != total:
                print(f"  !! imported {result['resources']:,} of {total:,} ({result['problems']} problems)")
        finally:
            for drop in drops:
                drop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--profile", action="store_true", help="cProfile this process during the import")
    parser.add_argument(
        "--data", type=Path, help="a folder of NDJSON files instead of a synthetic population"
    )
    parser.add_argument("--no-raw", action="store_true", help="skip the raw baseline (large runs)")
    parser.add_argument("--import-into", help=argparse.SUPPRESS)  # the import step's own process
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.import_into:
        result = anyio.run(_import, args.import_into, args.files, args.workers, args.database or None)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data
        if folder is None:
            folder = Path(tmp) / "ndjson"
            started = time.perf_counter()
            write_ndjson(folder, args.patients)
            print(f"generated {args.patients:,} patients in {time.perf_counter() - started:.1f} s")
        files = expand_paths([folder])
        lines = [line for path in files for line in path.read_bytes().splitlines() if line.strip()]
        total = len(lines)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for line in lines:
            orjson.loads(line)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        del lines
        print(f"orjson.loads baseline: {total / wall:,.0f} resources/s ({cpu * 1e6 / total:.1f} us CPU each)")
        print(
            f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (a shared machine: read ratios)"
        )
        for backend in args.backends.split(","):
            run_backend(backend.strip(), files, total, args.workers, args.profile, not args.no_raw)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
