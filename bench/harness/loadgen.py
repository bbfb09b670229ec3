"""The load generator: a separate process driving the server with httpx async clients.

    python -m bench.harness.loadgen JOB.json RESULT.json

JOB: {"base": URL, "concurrency": N, "requests": [{"method", "path", "body"?}, ...],
"capture": "id" | "total" | null}.  N clients take requests from one shared queue in order,
each on its own keep-alive connection; every request's latency is recorded in milliseconds.
RESULT: {"wall_s", "latencies_ms", "statuses", "captured"} where `captured` is, per request,
the response's `id` or Bundle `total` when asked for.

`run_load` (for the orchestrator) writes the job, runs this module in a subprocess, and reads
the result, so the load generator never shares a Python process (or its GIL) with the server
or the orchestrator.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

__all__ = ["LoadResult", "run_load"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class LoadResult:
    wall_s: float
    latencies_ms: list[float]
    statuses: dict[str, int]
    captured: list[Any]

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if not code.startswith("2"))


def run_load(
    base: str, requests: list[dict[str, Any]], concurrency: int = 1, capture: str | None = None
) -> LoadResult:
    with tempfile.TemporaryDirectory() as tmp:
        job, result = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job.write_bytes(
            orjson.dumps({"base": base, "concurrency": concurrency, "requests": requests, "capture": capture})
        )
        subprocess.run(
            [sys.executable, "-m", "bench.harness.loadgen", str(job), str(result)], check=True, cwd=ROOT
        )
        data = json.loads(result.read_text())
    return LoadResult(data["wall_s"], data["latencies_ms"], data["statuses"], data["captured"])


async def _drive(job: dict[str, Any]) -> dict[str, Any]:
    requests: list[dict[str, Any]] = job["requests"]
    capture = job.get("capture")
    latencies = [0.0] * len(requests)
    statuses: list[int | str] = [0] * len(requests)
    captured: list[Any] = [None] * len(requests)
    next_index = 0
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    limits = httpx.Limits(max_connections=job["concurrency"], max_keepalive_connections=job["concurrency"])

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < len(requests):
            i = next_index
            next_index += 1
            spec = requests[i]
            body = orjson.dumps(spec["body"]) if "body" in spec else None
            start = time.perf_counter()
            try:
                url = job["base"] + "/" + spec["path"]
                response = await client.request(spec["method"], url, content=body)
            except httpx.HTTPError as exc:  # counted, not fatal: the run reports its error statuses
                latencies[i] = (time.perf_counter() - start) * 1000
                statuses[i] = type(exc).__name__
                continue
            content = response.content
            latencies[i] = (time.perf_counter() - start) * 1000
            statuses[i] = response.status_code
            if capture and content and response.status_code < 300:
                captured[i] = orjson.loads(content).get(capture)

    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=120) as client:
        # one warm connection per client before the clock starts
        await asyncio.gather(*(client.get(job["base"] + "/metadata") for _ in range(job["concurrency"])))
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(job["concurrency"])))
        wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "latencies_ms": latencies,
        "statuses": {str(k): v for k, v in Counter(statuses).items()},
        "captured": captured,
    }


def main() -> None:
    job = orjson.loads(Path(sys.argv[1]).read_bytes())
    Path(sys.argv[2]).write_bytes(orjson.dumps(asyncio.run(_drive(job))))


if __name__ == "__main__":
    main()
