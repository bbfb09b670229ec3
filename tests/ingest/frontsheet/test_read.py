"""Reading exports: UTF-8 with and without BOM, GBK, tabs, XLSX; missing columns refuse the file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from tests.ingest.frontsheet.sheets import chinese, good_row, header_of, write_csv, write_xlsx

from yilian.ingest.frontsheet.read import FileRefused, open_table
from yilian.ingest.frontsheet.rows import FrontSheet, check_row


def _sheets(path: Path) -> list[FrontSheet]:
    table = open_table(path)
    checked = [check_row(row, table.header) for row in table.rows]
    assert all(isinstance(c, FrontSheet) for c in checked), checked
    return [c for c in checked if isinstance(c, FrontSheet)]


@pytest.mark.parametrize(
    ("encoding", "delimiter", "headers"),
    [
        ("utf-8", ",", "chinese"),
        ("utf-8-sig", ",", "chinese"),
        ("gbk", ",", "chinese"),
        ("gb18030", "\t", "chinese"),
        ("utf-8-sig", "\t", "english"),
    ],
)
def test_csv_variants(tmp_path: Path, encoding: str, delimiter: str, headers: str) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        [good_row("M1"), good_row("M2", name="李娜", sex="2")],
        encoding=encoding,
        delimiter=delimiter,
        headers=headers,  # type: ignore[arg-type]
    )
    sheets = _sheets(path)
    assert [(s.mrn, s.name) for s in sheets] == [("M1", "欧阳明华"), ("M2", "李娜")]
    assert sheets[0].diagnoses[1].name == "高血压"


def test_gbk_found_after_a_long_ascii_start(tmp_path: Path) -> None:
    # The first megabyte decodes as UTF-8; the Chinese further down does not.
    rows = [good_row(f"M{i}", name="Li Wei", address="x" * 2000) for i in range(600)]
    rows.append(good_row("M-last", name="王芳"))
    sheets = _sheets(write_csv(tmp_path / "long.csv", rows, encoding="gbk"))
    assert sheets[-1].name == "王芳"


def test_xlsx_with_typed_cells(tmp_path: Path) -> None:
    row = good_row()
    keys = header_of([row])
    typed: dict[str, object] = {
        **row,
        "admission_count": 1,
        "birth_date": datetime(1949, 12, 31),
        "admitted": datetime(2024, 3, 1, 9, 30),
        "discharged": datetime(2024, 3, 6, 10, 0),
        "length_of_stay": 5,
        "sex": 1,
        "total_cost": 5000.5,
        "nursing": 1000,
    }
    path = write_xlsx(tmp_path / "sheet.xlsx", [[chinese(k) for k in keys], [typed[k] for k in keys]])
    (sheet,) = _sheets(path)
    assert sheet.admitted.fhir == "2024-03-01T09:30:00+08:00"
    assert str(sheet.total_cost) == "5000.50" and sheet.sex == "1"


def test_missing_required_columns_refuse_the_file(tmp_path: Path) -> None:
    row = good_row()
    del row["admitted"], row["main_diagnosis_code"]
    with pytest.raises(FileRefused) as refused:
        open_table(write_csv(tmp_path / "short.csv", [row]))
    assert set(refused.value.missing) == {"入院时间 (admitted)", "主要诊断编码 (main_diagnosis_code)"}


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(FileRefused):
        open_table(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(FileRefused):
        open_table(tmp_path / "empty.csv")
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FileRefused):
        open_table(tmp_path / "broken.xlsx")
