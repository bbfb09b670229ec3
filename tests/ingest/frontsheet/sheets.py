"""Front-sheet files for the tests: a good row to vary, and writers for CSV and XLSX."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from yilian.ingest.frontsheet.columns import COLUMNS, DIAGNOSIS_GROUP, PROCEDURE_GROUP

_CHINESE = {c.key: c.chinese for c in COLUMNS}
for _group in (DIAGNOSIS_GROUP, PROCEDURE_GROUP):
    for _c in _group:
        for _n in range(1, 10):
            _CHINESE[f"{_c.key}_{_n}"] = f"{_c.chinese}{_n}"

VALID_ID = "11010519491231002X"  # the example printed in GB 11643-1999
WRONG_CHECK_ID = "110105194912310021"


def good_row(mrn: str = "M0001", **overrides: str) -> dict[str, str]:
    """One discharge that imports cleanly: two diagnoses, one procedure, three cost categories."""
    row = {
        "mrn": mrn,
        "admission_count": "1",
        "name": "欧阳明华",
        "sex": "1",
        "birth_date": "1949-12-31",
        "resident_id": VALID_ID,
        "phone": "13800138000",
        "address": "浙江省青溪县城关镇幸福路8号",
        "admission_way": "2",
        "admitted": "2024-03-01 09:30",
        "admission_department": "普外科",
        "discharged": "2024-03-06 10:00",
        "discharge_department": "普外科",
        "length_of_stay": "5",
        "discharge_way": "1",
        "main_diagnosis_code": "K35.800",
        "main_diagnosis_name": "急性阑尾炎",
        "main_admission_condition": "1",
        "other_diagnosis_code_1": "I10.x00",
        "other_diagnosis_name_1": "高血压",
        "other_admission_condition_1": "1",
        "procedure_code_1": "47.0900",
        "procedure_name_1": "腹腔镜下阑尾切除术",
        "procedure_date_1": "2024-03-01 15:00",
        "surgeon_1": "张伟",
        "anaesthesia_1": "全身麻醉",
        "total_cost": "5000.50",
        "western_medicine": "2000.50",
        "nursing": "1000",
        "surgical_treatment": "2000.00",
    }
    row.update(overrides)
    return row


def header_of(rows: Sequence[dict[str, str]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return keys


def write_csv(
    path: Path,
    rows: Sequence[dict[str, str]],
    *,
    headers: Literal["chinese", "english"] = "chinese",
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    keys = header_of(rows)
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow([_CHINESE[k] if headers == "chinese" else k for k in keys])
        for row in rows:
            writer.writerow([row.get(k, "") for k in keys])
    return path


def write_xlsx(path: Path, rows: Sequence[list[object]]) -> Path:
    """A workbook whose first sheet holds `rows` (the header first), cells as given."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def chinese(key: str) -> str:
    return _CHINESE[key]
