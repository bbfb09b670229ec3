"""The benchmark's percentile and summary arithmetic (no timing is asserted)."""

from __future__ import annotations

import math

import pytest
from bench.harness.stats import percentile, ratio, summarize


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == 25.0
    assert percentile(values, 95) == pytest.approx(38.5)


def test_percentile_ignores_input_order_and_handles_one_or_no_value() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_summary_rates_and_ratio() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0], wall_s=0.5)
    assert s.count == 4 and s.per_second == 8.0 and s.p50_ms == 2.5
    assert summarize([500.0, 500.0]).wall_s == 1.0  # sequential: wall is the sum
    assert s.as_dict()["p99_ms"] == pytest.approx(3.97)
    assert ratio(6.0, 2.0) == 3.0
    assert math.isnan(ratio(1.0, 0.0))
