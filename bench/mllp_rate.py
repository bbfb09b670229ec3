"""HL7 v2 over MLLP against FHIR transaction Bundles of the same content, in the same run.

The synthetic alliance's HL7 feed (ADT and ORU mixed, as `yilian synth` writes it) is sent to
a real `yilian serve` over MLLP, waiting for each ACK, on one connection and on four (each
patient's messages on one connection, in order, as an interface engine keeps them).  The
baseline is the same messages mapped to their FHIR transaction Bundles (the mapping the server
itself applies) and POSTed to `/fhir/{institution}` over HTTP keep-alive, one and four
connections, each into a fresh database, alternating with the MLLP runs (three rounds; the
medians are compared).  The figure is the ratio of the two rates; the aim is at least 0.7x: the
HL7 path should cost little more than FHIR ingest of what it produces.

Nothing may be lost: every message must be acknowledged AA, the feed log must hold each as
stored, and the MLLP database must end with as many resources of each type as the FHIR one.

    .venv/bin/python bench/mllp_rate.py [--quick] [--backends sqlite,postgresql]

Writes bench/results/suite-mllp-rate.json.
"""

from __future__ import annotations

import argparse
import asyncio
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
from bench.harness.server import ServerProcess, free_port
from yilian.alliance import register_institution
from yilian.ingest.hl7 import MappingOptions, decode, parse, to_bundle
from yilian.store.factory import open_repository
from yilian.synth.alliance import generate
from yilian.synth.hl7_out import messages
from yilian.synth.model import Directory
from yilian.transports.mllp import END_BLOCK, frame

console = Console()
TARGET_RATIO = 0.7
TYPES = ("Patient", "Encounter", "Observation", "DiagnosticReport", "ServiceRequest", "Condition")


def _feed(patients: int, seed: int) -> tuple[Directory, list[list[bytes]]]:
    """The HL7 messages of `patients` people, grouped by person (each group in order)."""
    directory, histories = generate(patients=patients, institutions=3, seed=seed)
    groups = [[m.encode("utf-8") for m in messages(h, directory)] for h in histories]
    return directory, [g for g in groups if g]


def _bundles(directory: Directory, groups: list[list[bytes]]) -> list[list[tuple[str, bytes]]]:
    """Each message's transaction Bundle and institution, as the server's intake makes them."""
    by_facility = {i.facility.upper(): i.code for i in directory.institutions}
    options = MappingOptions(timezone="+08:00", authorities=by_facility)
    out = []
    for group in groups:
        mapped = []
        for raw in group:
            message = parse(decode(raw))
            institution = by_facility[message.header.sending_facility.upper()]
            mapped.append((institution, orjson.dumps(to_bundle(message, institution, options).bundle)))
        out.append(mapped)
    return out


async def _register(url: str, directory: Directory) -> None:
    repository = open_repository(url)
    await repository.open()
    try:
        for institution in directory.institutions:
            await register_institution(repository, institution.code, institution.name)
    finally:
        await repository.close()


async def _mllp_connection(port: int, groups: list[list[bytes]]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    accepted = 0
    try:
        for group in groups:
            for raw in group:
                writer.write(frame(raw))
                await writer.drain()
                ack = await reader.readuntil(END_BLOCK)
                if b"MSA|AA|" not in ack:
                    raise RuntimeError(f"not accepted: {ack[:300]!r}")
                accepted += 1
    finally:
        writer.close()
    return accepted


async def _mllp(port: int, groups: list[list[bytes]], connections: int) -> float:
    shares = [groups[i::connections] for i in range(connections)]
    start = time.perf_counter()
    counts = await asyncio.gather(*(_mllp_connection(port, share) for share in shares))
    elapsed = time.perf_counter() - start
    sent = sum(len(g) for g in groups)
    if sum(counts) != sent:
        raise RuntimeError(f"{sum(counts)} of {sent} messages acknowledged")
    return sent / elapsed


def _fhir_connection(port: int, groups: list[list[tuple[str, bytes]]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for group in groups:
        for institution, body in group:
            conn.request(
                "POST", f"/fhir/{institution}", body=body, headers={"Content-Type": "application/fhir+json"}
            )
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"transaction answered {response.status}")
    conn.close()


async def _fhir(port: int, groups: list[list[tuple[str, bytes]]], connections: int) -> float:
    shares = [groups[i::connections] for i in range(connections)]
    start = time.perf_counter()
    await asyncio.gather(*(asyncio.to_thread(_fhir_connection, port, share) for share in shares))
    return sum(len(g) for g in groups) / (time.perf_counter() - start)


def _counts(port: int) -> dict[str, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = {}
    for rtype in TYPES:
        conn.request("GET", f"/fhir/{rtype}?_summary=count")
        response = conn.getresponse()
        out[rtype] = int(orjson.loads(response.read())["total"])
    conn.close()
    return out


def _run(
    backend: str, directory: Directory, groups: list[list[bytes]], bundles: Any, connections: int, rounds: int
) -> dict[str, Any]:
    """`rounds` alternations of the two paths, each into a fresh database; the medians are
    compared, so one slow moment of a shared machine does not decide the ratio."""
    runs = [_round(backend, directory, groups, bundles, connections) for _ in range(rounds)]
    result: dict[str, Any] = {
        "fhir_per_s": statistics.median(r["fhir_per_s"] for r in runs),
        "mllp_per_s": statistics.median(r["mllp_per_s"] for r in runs),
        "rounds": runs,
    }
    result["ratio"] = result["mllp_per_s"] / result["fhir_per_s"]
    return result


def _round(
    backend: str, directory: Directory, groups: list[list[bytes]], bundles: Any, connections: int
) -> dict[str, Any]:
    facilities = ",".join(f"{i.facility}={i.code}" for i in directory.institutions)
    result: dict[str, Any] = {}
    with BenchDatabase.fresh(backend) as db:
        asyncio.run(_register(db.url, directory))
        with ServerProcess(db.url, cwd=db.scratch_dir) as server:
            result["fhir_per_s"] = asyncio.run(_fhir(server.port, bundles, connections))
            result["fhir_counts"] = _counts(server.port)
    with BenchDatabase.fresh(backend) as db:
        asyncio.run(_register(db.url, directory))
        mllp_port = free_port()
        settings = {"hl7_port": str(mllp_port), "hl7_facilities": facilities}
        with ServerProcess(db.url, cwd=db.scratch_dir, settings=settings) as server:
            result["mllp_per_s"] = asyncio.run(_mllp(mllp_port, groups, connections))
            result["mllp_counts"] = _counts(server.port)
    if result["mllp_counts"] != result["fhir_counts"]:
        raise RuntimeError(f"MLLP stored {result['mllp_counts']}, FHIR {result['fhir_counts']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer patients")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    patients, rounds = (60, 1) if args.quick else (200, 3)
    directory, groups = _feed(patients, seed=2026)
    bundles = _bundles(directory, groups)
    sent = sum(len(g) for g in groups)
    table = Table(title=f"HL7 v2 over MLLP against FHIR transactions of the same content ({sent} messages)")
    for column in ("backend", "connections", "FHIR msg/s", "MLLP msg/s", "ratio", "target"):
        table.add_column(column)
    results: dict[str, Any] = {
        "messages": sent,
        "patients": patients,
        "rounds": rounds,
        "target_ratio": TARGET_RATIO,
    }
    for backend in args.backends.split(","):
        if backend == "postgresql" and (why := pg_reachable()):
            console.print(f"[yellow]PostgreSQL skipped: cannot reach the server ({why})[/yellow]")
            continue
        for connections in (1, 4):
            r = _run(backend, directory, groups, bundles, connections, rounds)
            results[f"{backend}-{connections}"] = r
            verdict = "[green]ok[/green]" if r["ratio"] >= TARGET_RATIO else "[red]under[/red]"
            table.add_row(backend, str(connections), f"{r['fhir_per_s']:.0f}", f"{r['mllp_per_s']:.0f}",
                          f"{r['ratio']:.2f}x", f">= {TARGET_RATIO}x {verdict}")  # fmt: skip
    console.print(table)
    console.print(f"written {write_results(results, 'mllp-rate')}")


if __name__ == "__main__":
    main()
