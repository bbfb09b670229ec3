"""What keeping decimals as written costs: the same Observations with numbers a float writes
back as they are (`120.5`: orjson alone, the fast path) and with trailing zeros (`120.50`:
the careful parse that keeps the text), in the same run.

Figures, each reported as the decimal run over the plain run (and, in process, over orjson
itself, the floor):

* parse and serialise one resource in process (`fhir.jsontext` against orjson);
* ingest over HTTP: transaction Bundles of 100 Observations;
* reads over HTTP: GET by id, and search pages of 100.

    .venv/bin/python bench/decimal_cost.py [--quick] [--backends sqlite,postgresql]

Writes bench/results/suite-decimal-cost.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.harness` from a plain script run

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from bench.harness.database import BenchDatabase, pg_reachable
from bench.harness.report import write_results
from bench.harness.server import ServerProcess
from yilian.fhir import jsontext

console = Console()
BATCH = 100
KINDS = ("plain", "decimal")


def observation(i: int, kind: str) -> str:
    """A blood-pressure Observation as a client writes it; `decimal` gives each number a
    trailing zero (`120.50`), `plain` the same number without (`120.5`)."""
    zero = "0" if kind == "decimal" else ""
    systolic, diastolic = f"{110 + i % 40}.5{zero}", f"{70 + i % 20}.2{zero}"
    return (
        '{"resourceType": "Observation", "status": "final", '
        '"category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", '
        '"code": "vital-signs"}]}], '
        f'"code": {{"coding": [{{"system": "urn:bench", "code": "{kind}"}}], "text": "Blood pressure"}}, '
        f'"subject": {{"reference": "Patient/bench-{i % 50}"}}, '
        '"effectiveDateTime": "2024-03-01T08:30:00+08:00", '
        '"component": ['
        '{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, '
        f'"valueQuantity": {{"value": {systolic}, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", '
        '"code": "mm[Hg]"}}, '
        '{"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, '
        f'"valueQuantity": {{"value": {diastolic}, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", '
        '"code": "mm[Hg]"}}]}'
    )


def _per_item_us(work: Callable[[], None], items: int, rounds: int = 5) -> float:
    """Best of `rounds` of `work`, in microseconds per item."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best / items * 1e6


def in_process(count: int) -> dict[str, float]:
    """Microseconds to parse and serialise one resource: orjson, then jsontext on each kind."""
    docs = {kind: [observation(i, kind).encode() for i in range(count)] for kind in KINDS}
    stored = {kind: [jsontext.dumps(jsontext.loads(d)) for d in docs[kind]] for kind in KINDS}

    def run(
        loads: Callable[[bytes], Any], dumps: Callable[[Any], bytes], data: list[bytes]
    ) -> Callable[[], None]:
        def work() -> None:
            for d in data:
                dumps(loads(d))

        return work

    return {
        "orjson_plain_body": _per_item_us(run(orjson.loads, orjson.dumps, docs["plain"]), count),
        "plain_body": _per_item_us(run(jsontext.loads, jsontext.dumps, docs["plain"]), count),
        "decimal_body": _per_item_us(run(jsontext.loads, jsontext.dumps, docs["decimal"]), count),
        "orjson_plain_stored": _per_item_us(run(orjson.loads, orjson.dumps, stored["plain"]), count),
        "plain_stored": _per_item_us(run(jsontext.loads, jsontext.dumps, stored["plain"]), count),
        "decimal_stored": _per_item_us(run(jsontext.loads, jsontext.dumps, stored["decimal"]), count),
    }


def _ingest(client: httpx.Client, base: str, kind: str, count: int, start: int) -> tuple[float, list[str]]:
    """Seconds to POST `count` Observations in transaction Bundles, and their ids."""
    ids: list[str] = []
    elapsed = 0.0
    for first in range(start, start + count, BATCH):
        entries = ",".join(
            f'{{"resource": {observation(i, kind)}, "request": {{"method": "POST", "url": "Observation"}}}}'
            for i in range(first, min(first + BATCH, start + count))
        )
        body = f'{{"resourceType": "Bundle", "type": "transaction", "entry": [{entries}]}}'
        began = time.perf_counter()
        r = client.post(base, content=body, headers={"Content-Type": "application/fhir+json"})
        elapsed += time.perf_counter() - began
        if r.status_code != 200:
            raise RuntimeError(f"transaction answered {r.status_code}: {r.text[:300]}")
        ids += [e["response"]["location"].split("/")[1] for e in r.json()["entry"]]
    return elapsed, ids


def _check_kept(client: httpx.Client, base: str, kind: str, rid: str) -> None:
    """The server under test keeps the decimals' text (else the run would measure nothing)."""
    text = client.get(f"{base}/Observation/{rid}").text
    if kind == "decimal" and '.50,"unit"' not in text:
        raise RuntimeError(f"the server did not keep the decimals as written: {text[:400]}")


def _reads(client: httpx.Client, base: str, ids: list[str]) -> float:
    began = time.perf_counter()
    for rid in ids:
        r = client.get(f"{base}/Observation/{rid}")
        if r.status_code != 200:
            raise RuntimeError(f"read answered {r.status_code}")
    return time.perf_counter() - began


def _search(client: httpx.Client, base: str, kind: str) -> tuple[float, int]:
    """Seconds to page through every Observation of `kind`, 100 a page, and how many."""
    url: str | None = f"{base}/Observation?code=urn:bench|{kind}&_count={BATCH}&_total=none"
    seen = 0
    began = time.perf_counter()
    while url is not None:
        r = client.get(url)
        if r.status_code != 200:
            raise RuntimeError(f"search answered {r.status_code}")
        page = r.json()
        seen += len(page.get("entry", []))
        url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
    return time.perf_counter() - began, seen


def over_http(backend: str, count: int, reads: int, rounds: int) -> dict[str, dict[str, float]]:
    """Per kind: ingest, read and search rates (resources per second), best of `rounds`,
    the kinds interleaved so that neither has the warmer server."""
    best: dict[str, dict[str, float]] = {kind: {} for kind in KINDS}
    with (
        BenchDatabase.fresh(backend) as db,
        ServerProcess(db.url, cwd=db.scratch_dir) as server,
        httpx.Client(timeout=120) as client,
    ):
        _ingest(client, server.base, "plain", BATCH, 10**6)  # warm-up
        for round_ in range(rounds):
            for kind in KINDS:
                seconds, ids = _ingest(client, server.base, kind, count, round_ * count)
                _check_kept(client, server.base, kind, ids[0])
                figures = {
                    "ingest_per_s": count / seconds,
                    "read_per_s": min(reads, len(ids)) / _reads(client, server.base, ids[:reads]),
                }
                searched, seen = _search(client, server.base, kind)
                figures["search_per_s"] = seen / searched
                for name, value in figures.items():
                    best[kind][name] = max(best[kind].get(name, 0.0), value)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer resources")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    count, reads, rounds = (300, 200, 3) if args.quick else (2000, 1000, 3)

    codec = in_process(2000)
    table = Table(title="parse + serialise one Observation in process (µs; same run)")
    for column in (
        "input",
        "orjson alone",
        "jsontext, plain",
        "jsontext, decimals",
        "plain/orjson",
        "decimal/plain",
    ):
        table.add_column(column)
    for where in ("body", "stored"):
        floor, plain, decimal = (codec[f"{k}_{where}"] for k in ("orjson_plain", "plain", "decimal"))
        label = "request body (spaced)" if where == "body" else "stored content (compact)"
        table.add_row(
            label,
            f"{floor:.2f}",
            f"{plain:.2f}",
            f"{decimal:.2f}",
            f"{plain / floor:.2f}x",
            f"{decimal / plain:.2f}x",
        )
    console.print(table)

    results: dict[str, Any] = {"resources": count, "reads": reads, "in_process_us": codec, "backends": {}}
    http_table = Table(title="Observations over HTTP: with trailing-zero decimals against without (same run)")
    for column in ("backend", "figure", "plain /s", "decimals /s", "rate decimal/plain"):
        http_table.add_column(column)
    for backend in args.backends.split(","):
        if backend == "postgresql" and (why := pg_reachable()):
            console.print(f"[yellow]PostgreSQL skipped: cannot reach the server ({why})[/yellow]")
            continue
        figures = over_http(backend, count, reads, rounds)
        ratios = {name: figures["decimal"][name] / figures["plain"][name] for name in figures["plain"]}
        results["backends"][backend] = {**figures, "ratio": ratios}
        for name in figures["plain"]:
            http_table.add_row(
                backend,
                name.removesuffix("_per_s"),
                f"{figures['plain'][name]:.0f}",
                f"{figures['decimal'][name]:.0f}",
                f"{ratios[name]:.2f}x",
            )
    console.print(http_table)
    console.print(f"median HTTP ratio (decimal rate / plain rate): {_median_ratio(results):.2f}x")
    path = write_results(results, "decimal-cost")
    console.print(f"written {path}")


def _median_ratio(results: dict[str, Any]) -> float:
    values = [r for b in results["backends"].values() for r in b["ratio"].values()]
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    main()
