"""The benchmark's baselines do the same work as the server: the rows it writes directly are
the rows the store writes, and each hand-written search finds what the server's search finds.
On both backends, with a few synthetic patients (no timing is asserted)."""

from __future__ import annotations

import anyio
from bench.harness.baseline import TABLES, bulk_write, make_scratch, stored_rows
from bench.harness.database import DirectConnection, load_population
from bench.harness.shapes import probe, shapes

from yilian.fhir.search.parse import parse_search
from yilian.store.base import Scope
from yilian.store.factory import open_repository
from yilian.synth.population import records

SEED, PATIENTS = 7, 12


def _direct(url: str) -> DirectConnection:
    if url.startswith("sqlite:///"):
        return DirectConnection("sqlite", url.removeprefix("sqlite:///"))
    return DirectConnection("postgresql", url)


def test_baseline_writes_the_rows_the_store_writes(store_url: str, tmp_path: object) -> None:
    report = load_population(store_url, 0, PATIENTS, SEED)
    resources = [(r, rec.institution.code) for rec in records(PATIENTS, SEED) for r in rec.resources]
    assert report.resources == len(resources)
    conn = _direct(store_url)
    try:
        backend = conn.backend
        schema = make_scratch(conn, str(tmp_path) + "/scratch.sqlite")
        bulk_write(conn, schema, stored_rows(resources, backend, rid_start=1))
        for table in TABLES:
            store = conn.fetchall(f"SELECT COUNT(*) FROM {table}")[0][0]
            direct = conn.fetchall(f"SELECT COUNT(*) FROM {schema}.{table}")[0][0]
            assert store == direct, table
        # the same index rows, not only as many: compare the token rows of every resource
        token_sql = (
            "SELECT r.res_id, t.param, COALESCE(t.system, ''), COALESCE(t.code, '') "
            "FROM {s}.idx_token t JOIN {s}.resource r ON r.rid = t.rid"
        )
        main = sorted(conn.fetchall(token_sql.format(s="main" if backend == "sqlite" else "public")))
        assert main == sorted(conn.fetchall(token_sql.format(s=schema)))
    finally:
        conn.close()


def test_hand_written_searches_find_what_the_server_finds(store_url: str) -> None:
    load_population(store_url, 0, PATIENTS, SEED)
    conn = _direct(store_url)

    async def server_totals() -> dict[str, int | None]:
        repository = open_repository(store_url)
        await repository.open()
        try:
            out: dict[str, int | None] = {}
            async with repository.transaction(read_only=True) as session:
                for shape in shapes(probe(SEED)):
                    result = await session.search(
                        parse_search((shape.resource_type,), shape.params), Scope.everything()
                    )
                    out[shape.name] = result.total
            return out
        finally:
            await repository.close()

    try:
        totals = anyio.run(server_totals)
        assert len(totals) >= 12
        for shape in shapes(probe(SEED)):
            direct = int(conn.fetchall(*shape.count_sql(conn.backend))[0][0])
            assert totals[shape.name] == direct, shape.name
        # the probe patient's own searches find something, so the comparison is not vacuous
        assert totals["Observation by patient+code"] and totals["Patient by identifier"] == 1
    finally:
        conn.close()
