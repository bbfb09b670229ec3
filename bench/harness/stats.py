"""Latency statistics: percentiles by linear interpolation between closest ranks (the
definition numpy calls "linear" and most load tools report), and a summary of one run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Summary", "percentile", "ratio", "summarize"]


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `values`; NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Summary:
    """One measured run: how many operations, how long the whole run took (seconds), and
    latency percentiles in milliseconds."""

    count: int
    wall_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.count / self.wall_s if self.wall_s > 0 else math.nan

    def as_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "wall_s": round(self.wall_s, 4),
            "per_second": round(self.per_second, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
        }


def summarize(latencies_ms: Sequence[float], wall_s: float | None = None) -> Summary:
    """Summary of latencies; the wall time defaults to their sum (operations run one after
    another)."""
    wall = sum(latencies_ms) / 1000 if wall_s is None else wall_s
    return Summary(
        len(latencies_ms),
        wall,
        percentile(latencies_ms, 50),
        percentile(latencies_ms, 95),
        percentile(latencies_ms, 99),
    )


def ratio(figure: float, baseline: float) -> float:
    """figure / baseline; NaN when either is missing or the baseline is zero."""
    if math.isnan(figure) or math.isnan(baseline) or baseline == 0:
        return math.nan
    return figure / baseline
