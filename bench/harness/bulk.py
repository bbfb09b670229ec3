"""`$export` and `$import` through the server (Bulk Data kick-off, polling, manifest), with
the `yilian import` CLI as the fallback import path, and their direct-SQL baselines.  A
feature the build does not have yet is reported as "not available" with the reason.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness.baseline import bulk_write, clear_scratch, stored_rows
from bench.harness.database import DirectConnection
from bench.harness.report import Row
from bench.harness.server import BIN
from yilian.synth.population import write_ndjson

__all__ = ["export_rows", "import_rows", "not_available"]

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def not_available(section: str, name: str, why: str) -> Row:
    return Row(section, name, "res/s", float("nan"), note=f"not available: {why}")


def _poll(client: httpx.Client, url: str, timeout: float) -> tuple[httpx.Response, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(url, headers={"Accept": "application/json"})
        if response.status_code != 202:
            return response, time.monotonic()
        time.sleep(0.1)
    raise TimeoutError(f"job at {url} still running after {timeout}s")


def export_rows(base: str, conn: DirectConnection, timeout: float = 900) -> list[Row]:
    """System-level `$export` of everything: resources/s from kick-off to the manifest; the
    baseline reads every current resource's JSON directly and writes it to one file."""
    with httpx.Client(timeout=60) as client:
        start = time.monotonic()
        kick = client.get(f"{base}/$export", headers=ASYNC)
        if kick.status_code != 202 or "content-location" not in kick.headers:
            return [not_available("bulk", "$export (system)", f"kick-off answered {kick.status_code}")]
        status_url = kick.headers["content-location"]
        done, end = _poll(client, status_url, timeout)
        if done.status_code != 200:
            return [
                not_available("bulk", "$export (system)", f"job ended {done.status_code}: {done.text[:120]}")
            ]
        manifest = done.json()
        count = sum(int(o.get("count") or 0) for o in manifest.get("output", []))
        if not count:  # no counts in the manifest: count the lines
            for out in manifest.get("output", []):
                count += client.get(out["url"]).content.count(b"\n")
        client.delete(status_url)
    elapsed = end - start
    began = time.perf_counter()
    lines = 0
    sink = Path("/dev/null").open("wb")  # noqa: SIM115 - closed below
    try:
        for (content,) in conn.fetchall(
            "SELECT content FROM resource WHERE NOT deleted ORDER BY res_type, rid"
        ):
            sink.write((content.encode() if isinstance(content, str) else bytes(content)) + b"\n")
            lines += 1
    finally:
        sink.close()
    direct = lines / (time.perf_counter() - began)
    return [
        Row("bulk", "$export (system)", "res/s", count / elapsed, direct, higher=True,
            note=f"{count:,} resources in {elapsed:.1f} s; baseline: SELECT content, all rows",
            detail={"resources": count, "seconds": elapsed})
    ]  # fmt: skip


def import_rows(
    base: str, conn: DirectConnection, schema: str, db_url: str, directory: Path, patients: int, seed: int,
    timeout: float = 900,
) -> list[Row]:  # fmt: skip
    """Import `patients` new patients' NDJSON (a seed of their own, so new ids) through
    `$import`, or else `yilian import`; the baseline COPYs the same rows."""
    shutil.rmtree(directory, ignore_errors=True)
    files = write_ndjson(directory, patients, seed)
    total = sum(n for _, n in files.values())
    rows: list[Row] = []
    seconds, how = _import_http(base, files, timeout)
    if seconds is None:
        rows.append(not_available("bulk", "$import (HTTP)", how))
        seconds, how = _import_cli(db_url, directory)
    if seconds is None:
        rows.append(not_available("bulk", "import (CLI)", how))
        return rows
    from yilian.synth.population import records

    written = stored_rows(
        ((res, rec.institution.code) for rec in records(patients, seed) for res in rec.resources),
        conn.backend,
        rid_start=700_000_000,
    )
    clear_scratch(conn, schema)
    base_seconds = bulk_write(conn, schema, written)
    rows.append(
        Row("bulk", f"import via {how.split(':')[0]}", "res/s", total / seconds, total / base_seconds,
            higher=True, note=f"{total:,} resources; {how}", detail={"resources": total, "seconds": seconds})
    )  # fmt: skip
    return rows


def _import_http(base: str, files: dict[str, tuple[Path, int]], timeout: float) -> tuple[float | None, str]:
    body: dict[str, Any] = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
            *(
                {
                    "name": "input",
                    "part": [{"name": "type", "valueCode": t}, {"name": "url", "valueUri": p.as_uri()}],
                }
                for t, (p, _) in files.items()
            ),
        ],
    }
    with httpx.Client(timeout=60) as client:
        start = time.monotonic()
        kick = client.post(
            f"{base}/county-hospital/$import",
            json=body,
            headers={**ASYNC, "Content-Type": "application/fhir+json"},
        )
        if kick.status_code != 202 or "content-location" not in kick.headers:
            return None, f"kick-off answered {kick.status_code}"
        done, end = _poll(client, kick.headers["content-location"], timeout)
        if done.status_code != 200:
            return None, f"job ended {done.status_code}: {done.text[:120]}"
    return end - start, "$import: server, HTTP kick-off to manifest"


def _import_cli(db_url: str, directory: Path) -> tuple[float | None, str]:
    yilian = str(BIN / "yilian")
    probe = subprocess.run([yilian, "import", "--help"], capture_output=True)
    if probe.returncode != 0:
        return None, "`yilian import` not in this build"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.monotonic()
    run = subprocess.run(
        [yilian, "import", str(directory), "--db", db_url, "--institution", "county-hospital"],
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if run.returncode != 0:
        return None, f"`yilian import` failed ({run.returncode}): {(run.stderr or run.stdout)[-160:]}"
    peak_note = f", peak RSS {peak / 1024:.0f} MiB" if peak > before else ""
    return elapsed, f"yilian import CLI: direct to the database{peak_note}"
