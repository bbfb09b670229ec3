"""Results: one rich table per backend (figure, baseline, ratio), the growth table, and the
JSON file under bench/results/ with the machine the figures came from."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["Row", "machine_info", "print_growth", "print_table", "write_results"]

RESULTS = Path(__file__).resolve().parents[1] / "results"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: what, the server's figure, the baseline's, in a unit; `higher`
    says whether a bigger figure is better (rates) or worse (latencies)."""

    section: str
    name: str
    unit: str
    figure: float
    baseline: float = math.nan
    higher: bool = False
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        if math.isnan(self.figure) or math.isnan(self.baseline) or self.baseline == 0:
            return math.nan
        return self.figure / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "unit": self.unit,
            "figure": _num(self.figure),
            "baseline": _num(self.baseline),
            "ratio": _num(self.ratio, 3),
            "note": self.note,
            **({"detail": self.detail} if self.detail else {}),
        }


def _num(value: float, digits: int = 3) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def machine_info(versions: dict[str, str]) -> dict[str, Any]:
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "ram_gib": memory,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "backends": versions,
    }


def print_table(console: Console, title: str, rows: list[Row]) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for name, justify in (
        ("section", "left"), ("figure", "left"), ("server", "right"), ("baseline", "right"),
        ("unit", "left"), ("ratio", "right"), ("note", "left"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    section = ""
    for row in rows:
        ratio = row.ratio
        text = "-" if math.isnan(ratio) else (f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x")
        style = ""
        if not math.isnan(ratio):
            good = ratio >= 0.4 if row.higher else ratio <= 3
            style = "green" if good else "red"
        table.add_row(
            row.section if row.section != section else "",
            row.name,
            _fmt(row.figure),
            _fmt(row.baseline),
            row.unit,
            f"[{style}]{text}[/{style}]" if style else text,
            row.note,
        )
        section = row.section
    console.print(table)


def print_growth(console: Console, title: str, growth: dict[str, dict[int, float]]) -> None:
    sizes = sorted({s for per in growth.values() for s in per})
    table = Table(title=title, title_justify="left")
    table.add_column("search (p50 ms)")
    for size in sizes:
        table.add_column(f"{size:,} patients", justify="right")
    table.add_column(f"{sizes[-1]:,}/{sizes[0]:,}", justify="right")
    for name, per in growth.items():
        first, last = per.get(sizes[0], math.nan), per.get(sizes[-1], math.nan)
        r = last / first if first and not math.isnan(first) and not math.isnan(last) else math.nan
        flat = "-" if math.isnan(r) else (f"[green]{r:.2f}x[/green]" if r <= 2 else f"[red]{r:.2f}x[/red]")
        table.add_row(name, *(_fmt(per.get(s, math.nan)) for s in sizes), flat)
    console.print(table)


def write_results(result: dict[str, Any], label: str) -> Path:
    """bench/results/suite-<label>.json (one file per mode; the timestamp is inside, and git
    keeps the earlier runs)."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = RESULTS / f"suite-{label}.json"
    path.write_text(json.dumps({"timestamp": stamp, **result}, indent=2, ensure_ascii=False) + "\n")
    return path
