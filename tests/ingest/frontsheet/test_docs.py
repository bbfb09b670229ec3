"""docs/frontsheet.md stays true: every column is in its table and its example imports."""

from __future__ import annotations

import re
from pathlib import Path

from yilian.ingest.frontsheet.columns import COLUMNS, DIAGNOSIS_GROUP, PROCEDURE_GROUP
from yilian.ingest.frontsheet.read import open_table
from yilian.ingest.frontsheet.rows import FrontSheet, check_row

DOC = Path(__file__).resolve().parents[3] / "docs" / "frontsheet.md"


def test_every_column_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for column in COLUMNS:
        assert f"| `{column.key}` | {column.chinese}" in text, column.key
    for column in (*DIAGNOSIS_GROUP, *PROCEDURE_GROUP):
        assert f"| `{column.key}_n` | {column.chinese}n" in text, column.key


def test_the_example_is_a_clean_front_sheet(tmp_path: Path) -> None:
    example = re.search(r"```csv\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert example is not None
    path = tmp_path / "sheet.csv"
    path.write_text(example[1], encoding="utf-8")
    table = open_table(path)
    checked = [check_row(row, table.header) for row in table.rows]
    assert len(checked) == 2 and all(isinstance(c, FrontSheet) for c in checked), checked
