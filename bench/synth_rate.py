"""How fast the synthetic alliance generator makes FHIR, and whether its memory stays flat.

* rate: resources per second of generating histories and turning them into FHIR resources
  and transaction Bundles, serialised (`synth.fhir_out`, `synth.fhir_bundle`, `fhir.jsontext`),
  beside the same run's floor: `orjson.dumps` of the very same resources and Bundles alone
  (the ratio says how much the generator adds to serialising what it makes);
* memory: the peak (tracemalloc) of streaming N patients' FHIR without keeping it, at two
  sizes, each in a fresh subprocess; flat memory shows as a ratio near 1.

    .venv/bin/python bench/synth_rate.py [--quick]

Writes bench/results/suite-synth-rate.json.  Full: rate at 10,000 patients, memory at 10,000
and 100,000; quick: 1,000, and 1,000 / 10,000.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.harness` from a plain script run

import orjson
from rich.console import Console
from rich.table import Table

from bench.harness.report import write_results
from yilian.fhir.jsontext import dumps
from yilian.synth.alliance import Alliance
from yilian.synth.fhir_bundle import BundleWriter, transaction
from yilian.synth.fhir_out import registration_resources

console = Console()
INSTITUTIONS = 20


def rate(patients: int, seed: int = 2026) -> dict[str, float]:
    """Generator throughput and the orjson floor over the same resources."""
    alliance = Alliance(patients, INSTITUTIONS, seed)
    writer = BundleWriter(alliance.directory)
    resources = 0
    floor = 0.0
    started = time.perf_counter()
    for history in alliance.histories():
        for registration in history.registrations:
            made = registration_resources(history, registration, alliance.directory)
            bundle = transaction(made, writer.logical)
            for resource in made:
                dumps(resource)
            dumps(bundle)
            resources += len(made)
            t = time.perf_counter()
            for resource in made:
                orjson.dumps(resource, default=str)
            orjson.dumps(bundle, default=str)
            floor += time.perf_counter() - t
    total = time.perf_counter() - started - floor
    return {
        "patients": patients,
        "resources": resources,
        "seconds": round(total, 3),
        "resources_per_s": round(resources / total),
        "orjson_resources_per_s": round(resources / floor),
        "ratio_to_orjson": round(total / floor, 2),
    }


def peak(patients: int) -> int:
    """Peak traced bytes of streaming `patients` patients' FHIR (run in this process)."""
    alliance = Alliance(patients, INSTITUTIONS, 2026)
    tracemalloc.start()
    for history in alliance.histories():
        for registration in history.registrations:
            for resource in registration_resources(history, registration, alliance.directory):
                dumps(resource)
    value = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value


def peak_in_subprocess(patients: int) -> int:
    root = str(Path(__file__).resolve().parents[1])
    code = (
        f"import sys; sys.path.insert(0, {root!r}); "
        f"from bench.synth_rate import peak; print(peak({patients}))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    args = parser.parse_args()
    rate_size = 1_000 if args.quick else 10_000
    small, large = (1_000, 10_000) if args.quick else (10_000, 100_000)
    measured = rate(rate_size)
    peaks = {small: peak_in_subprocess(small), large: peak_in_subprocess(large)}
    table = Table("measure", "value", title="synthetic alliance generator")
    table.add_row(f"resources/s at {rate_size:,} patients", f"{measured['resources_per_s']:,}")
    table.add_row("orjson.dumps floor, resources/s", f"{measured['orjson_resources_per_s']:,}")
    table.add_row("generator / floor (time)", f"{measured['ratio_to_orjson']}")
    for size, value in peaks.items():
        table.add_row(f"peak memory at {size:,} patients", f"{value / 2**20:.1f} MiB")
    table.add_row("peak ratio (flat = ~1)", f"{peaks[large] / peaks[small]:.2f}")
    console.print(table)
    path = write_results(
        {
            "mode": "quick" if args.quick else "full",
            "rate": measured,
            "peak_bytes": {str(k): v for k, v in peaks.items()},
            "peak_ratio": round(peaks[large] / peaks[small], 2),
        },
        "synth-rate-quick" if args.quick else "synth-rate",
    )
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()
