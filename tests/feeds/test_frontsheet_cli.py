"""`yilian import frontsheet`: exit codes, the report file, and today's `yilian import PATH...`
still working beside it."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
from tests.ingest.frontsheet.sheets import good_row, write_csv
from typer.testing import CliRunner

from yilian.cli.main import app

runner = CliRunner()


def _register(store_url: str) -> None:
    added = runner.invoke(
        app, ["institution", "add", "county-hospital", "--name", "县人民医院", "--db", store_url]
    )
    assert added.exit_code == 0, added.output


def _frontsheet(store_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["import", "frontsheet", *args, "--db", store_url])
    return result.exit_code, result.output


def test_exit_codes_and_report(store_url: str, tmp_path: Path) -> None:
    _register(store_url)
    good = write_csv(tmp_path / "good.csv", [good_row("M1"), good_row("M2")])
    code, output = _frontsheet(store_url, str(good), "--institution", "county-hospital")
    assert code == 0, output
    assert "2 rows read: 2 loaded, 0 unchanged, 0 failed" in output
    code, output = _frontsheet(store_url, str(good), "--institution", "county-hospital")
    assert code == 0 and "0 loaded, 2 unchanged" in output

    mixed = write_csv(tmp_path / "mixed.csv", [good_row("M3"), good_row("M4", sex="x")])
    report = tmp_path / "reports" / "mixed-errors.csv"
    code, output = _frontsheet(
        store_url, str(mixed), "--institution", "county-hospital", "--report", str(report)
    )
    assert code == 1, output
    assert "1 loaded, 0 unchanged, 1 failed" in output and "row 3, 性别 (sex)" in output
    with report.open(encoding="utf-8-sig") as f:
        lines = list(csv.DictReader(f))
    assert [(line["row"], line["column"], line["value"]) for line in lines] == [("3", "性别 (sex)", "x")]

    short = write_csv(
        tmp_path / "short.csv", [{k: v for k, v in good_row("M5").items() if k != "total_cost"}]
    )
    code, output = _frontsheet(store_url, str(short), "--institution", "county-hospital")
    assert code == 2 and "住院总费用" in output
    code, output = _frontsheet(store_url, str(tmp_path / "absent.csv"), "--institution", "county-hospital")
    assert code == 2 and "cannot read" in output
    code, output = _frontsheet(store_url, str(good), "--institution", "nowhere")
    assert code == 2 and "not registered" in output


def test_import_of_resource_files_still_works_both_ways(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "Patient.ndjson").write_bytes(orjson.dumps({"resourceType": "Patient", "id": "p1"}) + b"\n")
    plain = runner.invoke(app, ["import", str(folder), "--db", store_url])
    assert plain.exit_code == 0, plain.output
    assert "1 resources loaded (1 created" in plain.output
    named = runner.invoke(app, ["import", "fhir", str(folder), "--db", store_url])
    assert named.exit_code == 0 and "1 unchanged" in named.output
    options_first = runner.invoke(app, ["import", "--db", store_url, str(folder)])
    assert options_first.exit_code == 0 and "1 unchanged" in options_first.output
    helped = runner.invoke(app, ["import", "--help"])
    assert helped.exit_code == 0 and "frontsheet" in helped.output and "fhir" in helped.output
