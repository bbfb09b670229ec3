"""The database under test: a fresh SQLite file in a temporary directory, or a fresh
PostgreSQL database created (and dropped) by the harness; plus a direct driver connection for
the baselines, and the fast loader that fills the database with the synthetic population.

The loader writes through the store contract (`Repository.transaction()` and
`Session.create`, a few hundred resources per transaction, ids as generated), which is the
fastest path into a database that the package itself offers: no HTTP, but the same
serialisation, index extraction and SQL as any write through the server.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from yilian.store.base import Partition
from yilian.store.factory import open_repository
from yilian.store.sql.dialect import Dialect
from yilian.synth.population import records
from yilian.synth.sample import INSTITUTIONS

__all__ = [
    "PG_ADMIN_URL",
    "BenchDatabase",
    "DirectConnection",
    "LoadReport",
    "load_population",
    "pg_reachable",
]

PG_ADMIN_URL = os.environ.get("YILIAN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_reachable() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any driver or network failure means: skip PostgreSQL
        return f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return None


class DirectConnection:
    """A synchronous driver connection with `?` placeholders on both engines."""

    def __init__(self, backend: str, target: str) -> None:
        self.backend = backend
        self._conn: Any
        if backend == "sqlite":
            self._conn = sqlite3.connect(target, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        else:
            import psycopg

            self._conn = psycopg.connect(target, autocommit=True)

    def _text(self, sql: str) -> str:
        return sql if self.backend == "sqlite" else sql.replace("%", "%%").replace("?", "%s")

    def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(self._text(sql), tuple(params)).fetchall())

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self._conn.execute(self._text(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if self.backend == "sqlite":
            self._conn.executemany(sql, rows)
        else:
            with self._conn.cursor() as cur:
                cur.executemany(self._text(sql), rows)

    @property
    def raw(self) -> Any:
        return self._conn

    def close(self) -> None:
        self._conn.close()


@dataclass
class BenchDatabase:
    """One fresh database for one backend's run."""

    backend: str  # "sqlite" or "postgresql"
    url: str
    direct_target: str  # what DirectConnection connects to
    scratch_dir: Path
    dialect: Dialect

    def connect(self) -> DirectConnection:
        return DirectConnection(self.backend, self.direct_target)

    def version(self) -> str:
        conn = self.connect()
        try:
            query = "SELECT sqlite_version()" if self.backend == "sqlite" else "SHOW server_version"
            return f"{self.backend} {conn.fetchall(query)[0][0]}"
        finally:
            conn.close()

    @classmethod
    @contextlib.contextmanager
    def fresh(cls, backend: str) -> Iterator[BenchDatabase]:
        with tempfile.TemporaryDirectory(prefix="yilian-bench-") as tmp:
            scratch = Path(tmp)
            if backend == "sqlite":
                from yilian.store.sqlite.dialect import SqliteDialect

                path = scratch / "bench.sqlite"
                yield cls(backend, f"sqlite:///{path}", str(path), scratch, SqliteDialect())
                return
            import psycopg

            from yilian.store.postgres.dialect import PostgresDialect

            name = f"yilian_bench_{os.getpid()}_{int(time.time())}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
            try:
                yield cls(backend, url, url, scratch, PostgresDialect())
            finally:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True, slots=True)
class LoadReport:
    patients: int
    resources: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


def load_population(
    url: str, start: int, patients: int, seed: int, *, workers: int = 1, batch_patients: int = 40
) -> LoadReport:
    """Add patients `start` .. `start + patients - 1` (and, the first time, the institutions),
    in `workers` processes loading contiguous slices side by side (PostgreSQL takes concurrent
    writers; SQLite has one writer, so it loads in one process)."""
    anyio.run(_ensure_partitions, url)
    began = time.perf_counter()
    if workers <= 1 or patients < 2 * batch_patients:
        count = anyio.run(_load_slice, url, start, patients, seed, batch_patients)
    else:
        step = -(-patients // workers)
        slices = [(s, min(step, start + patients - s)) for s in range(start, start + patients, step)]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(len(slices), mp_context=context) as pool:
            futures = [pool.submit(_load_slice_sync, url, s, n, seed, batch_patients) for s, n in slices]
            count = sum(f.result() for f in futures)
    return LoadReport(patients, count, time.perf_counter() - began)


async def _ensure_partitions(url: str) -> None:
    repository = open_repository(url)
    await repository.open()
    try:
        known = {p.code for p in await repository.list_partitions()}
        for inst in INSTITUTIONS:
            if inst.code not in known:
                await repository.add_partition(Partition(inst.code, inst.name))
    finally:
        await repository.close()


def _load_slice_sync(url: str, start: int, patients: int, seed: int, batch_patients: int) -> int:
    return anyio.run(_load_slice, url, start, patients, seed, batch_patients)


async def _load_slice(url: str, start: int, patients: int, seed: int, batch_patients: int) -> int:
    """Write the slice through the store contract, `batch_patients` per transaction."""
    repository = open_repository(url)
    await repository.open()
    try:
        count = 0
        batch: list[Any] = []

        async def flush() -> None:
            async with repository.transaction() as session:
                for record in batch:
                    for resource in record.resources:
                        await session.create(dict(resource), record.institution.code, id=resource["id"])
            batch.clear()

        for record in records(patients, seed, start=start):
            batch.append(record)
            count += len(record.resources)
            if len(batch) >= batch_patients:
                await flush()
        if batch:
            await flush()
        return count
    finally:
        await repository.close()
