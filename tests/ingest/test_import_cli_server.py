"""`yilian import --server` against a real server on both backends: the job's own counts
(created on a fresh import, unchanged on a re-run), files the server may not read sent to it
in chunks, refused lines (exit 1 and the --errors file, exit 0 with --accept-refused, on
--db too), and the summary table agreeing with the summary line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.serving import auth_headers, running_server, system_token
from typer.testing import CliRunner

import yilian.cli.import_ as import_cli
from yilian.cli.main import app

LINE = re.compile(r"(\d+) resources loaded \((\d+) created, (\d+) updated, (\d+) unchanged\), (\d+) refused")


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female"}


def write(path: Path, lines: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return path


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    path = tmp_path / "server-inbox"
    path.mkdir()
    return path


@pytest.fixture
def fhir(store_url: str, tmp_path: Path, allowed: Path) -> Iterator[str]:
    with running_server(store_url, bulk_dir=str(tmp_path / "bulk"), import_allowed_dirs=str(allowed)) as base:
        yield base


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["import", *args], catch_exceptions=False)


def via_server(fhir: str, *args: str) -> Any:
    return run(*args, "--server", fhir, "--token", system_token())


def totals(output: str) -> tuple[list[int], list[int], list[list[int]]]:
    """(the summary line's numbers, the table's total row, the table's type rows): created,
    updated, unchanged, refused each."""
    found = LINE.search(output)
    assert found, output
    line = [int(g) for g in found.groups()[1:]]
    rows = []
    total: list[int] = []
    for text in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", text) if c.strip()]
        if len(cells) == 5 and all(c.isdigit() for c in cells[1:]):
            numbers = [int(c) for c in cells[1:]]
            if cells[0] == "total":
                total = numbers
            else:
                rows.append(numbers)
    return line, total, rows


def test_a_fresh_import_reports_created_and_a_rerun_unchanged(fhir: str, tmp_path: Path) -> None:
    folder = tmp_path / "client-side"  # not in the server's import_allowed_dirs
    write(folder / "Patient.ndjson", [patient(f"s{i}") for i in range(7)])
    first = via_server(fhir, str(folder))
    assert first.exit_code == 0, first.output
    assert "7 resources loaded (7 created, 0 updated, 0 unchanged), 0 refused" in first.output
    with httpx.Client(headers=auth_headers()) as client:
        assert client.get(f"{fhir}/Patient/s6").json()["gender"] == "female"
    again = via_server(fhir, str(folder))
    assert again.exit_code == 0, again.output
    assert "7 resources loaded (0 created, 0 updated, 7 unchanged), 0 refused" in again.output
    line, total, rows = totals(again.output)
    assert line == total == [0, 0, 7, 0] and rows == [[0, 0, 7, 0]]


def test_files_the_server_may_not_read_go_in_chunks(
    fhir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "elsewhere"
    write(folder / "Patient.ndjson", [patient(f"c{i}") for i in range(40)])
    refused = via_server(fhir, str(folder), "--server-reads-files")
    assert refused.exit_code == 1 and "outside the folders" in refused.output
    monkeypatch.setattr(import_cli, "CHUNK_BYTES", 100)  # many chunks, cut mid-line
    streamed = via_server(fhir, str(folder))
    assert streamed.exit_code == 0, streamed.output
    assert "40 resources loaded (40 created, 0 updated, 0 unchanged), 0 refused" in streamed.output
    with httpx.Client(headers=auth_headers()) as client:
        found = client.get(f"{fhir}/Patient", params={"_id": "c0,c39", "_summary": "count"}).json()
    assert found["total"] == 2


def test_by_path_still_works_for_a_folder_the_server_reads(fhir: str, allowed: Path) -> None:
    write(allowed / "Patient.ndjson", [patient("bp1"), patient("bp2")])
    result = via_server(fhir, str(allowed), "--server-reads-files")
    assert result.exit_code == 0, result.output
    assert "2 resources loaded (2 created, 0 updated, 0 unchanged), 0 refused" in result.output


def bad_file(folder: Path) -> Path:
    invalid = {"resourceType": "Patient", "id": "bad1", "gender": "sometimes"}
    return write(folder / "Patient.ndjson", [patient("g1"), b"not json", invalid, patient("g2")])


def check_refused(result: Any, errors: Path) -> None:
    assert result.exit_code == 1, result.output
    assert "2 resources loaded (2 created, 0 updated, 0 unchanged), 2 refused" in result.output
    outcomes = [orjson.loads(x) for x in errors.read_bytes().splitlines()]
    diagnostics = [o["issue"][0]["diagnostics"] for o in outcomes]
    assert len(outcomes) == 2 and all(o["resourceType"] == "OperationOutcome" for o in outcomes)
    assert any("Patient.ndjson line 2" in d for d in diagnostics)
    assert any("Patient.ndjson line 3" in d for d in diagnostics)
    line, total, rows = totals(result.output)
    assert line == total == [2, 0, 0, 2]
    assert [sum(column) for column in zip(*rows, strict=True)] == total
    assert rows == [[2, 0, 0, 1], [0, 0, 0, 1]]  # Patient, then the line that was not JSON


def test_refused_lines_exit_1_unless_accepted_via_server(fhir: str, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    bad_file(folder)
    errors = tmp_path / "errors.ndjson"
    check_refused(via_server(fhir, str(folder), "--errors", str(errors)), errors)
    accepted = via_server(fhir, str(folder), "--accept-refused", "--errors", str(tmp_path / "again.ndjson"))
    assert accepted.exit_code == 0, accepted.output
    assert "2 resources loaded (0 created, 0 updated, 2 unchanged), 2 refused" in accepted.output
    assert len((tmp_path / "again.ndjson").read_bytes().splitlines()) == 2


def test_refused_lines_exit_1_unless_accepted_via_db(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    bad_file(folder)
    errors = tmp_path / "errors.ndjson"
    check_refused(run(str(folder), "--db", store_url, "--errors", str(errors)), errors)
    accepted = run(str(folder), "--db", store_url, "--accept-refused")
    assert accepted.exit_code == 0, accepted.output
    line, total, _ = totals(accepted.output)
    assert line == total == [0, 0, 2, 2]
