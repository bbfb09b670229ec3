"""The targets table reads the measured rows right: met, missed, and by how much."""

from __future__ import annotations

from typing import Any

from bench.harness.targets import check_targets


def row(section: str, name: str, figure: float, baseline: float | None) -> dict[str, Any]:
    ratio = None if baseline is None else figure / baseline
    return {"section": section, "name": name, "figure": figure, "baseline": baseline, "ratio": ratio}


def test_met_and_missed_targets_with_their_shortfall() -> None:
    measured = {
        "rows": [
            row("bulk", "import via $import", 5_000, 10_000),
            row("ingest", "transaction Bundles", 2_500, 10_000),
            row("crud", "read p50 x1", 0.9, 0.1),
            row("search", "A", 2.0, 1.0),
            row("search", "B", 40.0, 1.0),
            row("memory", "server peak RSS", 150, None),
            row("scaling", "read x32, --workers 2", 300, 200),
        ],
        "growth_p50_ms": {"A": {"100": 2.0, "10000": 3.0}, "B": {"100": 2.0, "10000": 40.0}},
    }
    checks = {c.target: c for c in check_targets(measured)}
    assert checks["$import >= 0.4x raw COPY"].met is True
    assert checks["$import >= 20,000 res/s"].met is False
    assert checks["$import >= 20,000 res/s"].shortfall.startswith("4.0x short")
    assert checks["transaction ingest >= 2,000 res/s"].met is True
    assert checks["read p50 <= 3x direct SQL"].met is False
    assert checks["read p50 <= 3x direct SQL"].shortfall == "3.0x over the bound"
    search = checks["search p50 <= 3x hand SQL"]
    assert (search.measured, search.met, search.shortfall) == ("1/2 shapes", False, "worst B 40.0x")
    assert checks["search p50 < 10 ms at 10,000 patients"].measured == "1/2 shapes"
    flat = checks["search flat (<= 2x) 100 -> 10,000"]
    assert (flat.measured, flat.shortfall) == ("1/2", "steepest B 20x")
    assert checks["server memory < 400 MB (1,000,000-resource import)"].met is True
    assert checks["throughput grows with --workers"].met is True


def test_a_run_without_a_figure_says_not_measured() -> None:
    checks = {c.target: c for c in check_targets({"rows": []})}
    assert checks["$import >= 20,000 res/s"].met is None
    assert checks["$import >= 20,000 res/s"].measured == "not measured"
