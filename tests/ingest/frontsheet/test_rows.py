"""Front-sheet headers, cell values and whole-row checks: each problem named by row and column."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.ingest.frontsheet.sheets import WRONG_CHECK_ID, chinese, good_row

from yilian.ingest.frontsheet.columns import read_header
from yilian.ingest.frontsheet.read import Row
from yilian.ingest.frontsheet.rows import FrontSheet, Problem, check_row
from yilian.ingest.frontsheet.values import BadValue, read_datetime, read_icd9cm3, read_icd10


def _check(**overrides: str) -> FrontSheet | list[Problem]:
    values = good_row(**overrides)
    header = read_header([chinese(k) for k in values])
    fields = {k: v for k, v in values.items() if v}
    return check_row(Row(7, fields), header)


def _problems(**overrides: str) -> dict[str, str]:
    checked = _check(**overrides)
    assert isinstance(checked, list), "the row should have been refused"
    assert all(p.row == 7 for p in checked)
    return {p.column: p.problem for p in checked}


def test_headers_in_english_chinese_any_case_and_spacing() -> None:
    header = read_header(
        ["  MRN ", "住院次数", "Name", " 性别", "出生日期", "其他诊断编码2", "Procedure_Code_1", "备注"]
    )
    assert header.fields[:5] == ("mrn", "admission_count", "name", "sex", "birth_date")
    assert header.fields[5:] == ("other_diagnosis_code_2", "procedure_code_1", None)
    assert header.diagnoses == (2,) and header.procedures == (1,)
    missing = {c.key for c in header.missing}
    assert "mrn" not in missing and {"admitted", "total_cost", "main_diagnosis_code"} <= missing
    assert "visit_number" not in missing  # optional: the visit is then {mrn}/{admission_count}


def test_a_good_row_is_read_whole() -> None:
    sheet = _check()
    assert isinstance(sheet, FrontSheet)
    assert sheet.visit == "M0001/1"
    assert [(d.rank, d.code) for d in sheet.diagnoses] == [(1, "K35.800"), (2, "I10.x00")]
    assert [(p.rank, p.code, p.anaesthesia) for p in sheet.procedures] == [(1, "47.0900", "全身麻醉")]
    assert sheet.costs == {
        "surgical_treatment": Decimal("2000.00"),
        "western_medicine": Decimal("2000.50"),
        "nursing": Decimal("1000.00"),
    }
    assert sheet.admitted.fhir == "2024-03-01T09:30:00+08:00"


def test_visit_number_when_given() -> None:
    sheet = _check(visit_number="ZY2024-0042")
    assert isinstance(sheet, FrontSheet) and sheet.visit == "ZY2024-0042"


def test_codes_by_name_as_well_as_by_code() -> None:
    sheet = _check(sex="女", discharge_way="医嘱离院", anaesthesia_1="1")
    assert isinstance(sheet, FrontSheet)
    assert (sheet.sex, sheet.discharge_way, sheet.procedures[0].anaesthesia) == ("2", "1", "全身麻醉")


def test_every_problem_of_a_row_at_once() -> None:
    problems = _problems(
        resident_id=WRONG_CHECK_ID,
        birth_date="1949-13-01",
        sex="3",
        main_diagnosis_code="K35",  # well-shaped: accepted
        other_diagnosis_code_1="高血压",
        procedure_code_1="4709",
        anaesthesia_1="针灸麻醉",
        name="",
    )
    assert "GB 11643" in problems["身份证号 (resident_id)"]
    assert "not a date" in problems["出生日期 (birth_date)"]
    assert "not in the table" in problems["性别 (sex)"]
    assert "ICD-10" in problems["其他诊断编码1 (other_diagnosis_code_1)"]
    assert "ICD-9-CM-3" in problems["手术及操作编码1 (procedure_code_1)"]
    assert "not in the table" in problems["麻醉方式1 (anaesthesia_1)"]
    assert problems["姓名 (name)"] == "required and empty"
    assert "主要诊断编码 (main_diagnosis_code)" not in problems


def test_length_of_stay_must_match_the_dates() -> None:
    problems = _problems(length_of_stay="4")
    assert "5 days" in problems["实际住院天数 (length_of_stay)"]
    same_day = _check(discharged="2024-03-01 18:00", length_of_stay="1")
    assert isinstance(same_day, FrontSheet)  # a same-day stay counts one day


def test_discharge_before_admission() -> None:
    assert "before the admission" in _problems(discharged="2024-02-28 10:00")["出院时间 (discharged)"]


def test_total_must_be_the_sum_of_the_categories() -> None:
    problems = _problems(total_cost="5000.00")
    assert "5000.50" in problems["住院总费用 (total_cost)"]
    assert "not an amount" in _problems(nursing="一千")["护理费 (nursing)"]


def test_a_diagnosis_group_needs_its_code_and_name() -> None:
    problems = _problems(other_diagnosis_code_1="")
    assert problems["其他诊断编码1 (other_diagnosis_code_1)"] == "required and empty"


@pytest.mark.parametrize(
    ("text", "fhir"),
    [
        ("2024-03-01 09:30", "2024-03-01T09:30:00+08:00"),
        ("2024/3/1 9:30:15", "2024-03-01T09:30:15+08:00"),
        ("202403010930", "2024-03-01T09:30:00+08:00"),
        ("2024年3月1日", "2024-03-01"),
        ("20240301", "2024-03-01"),
    ],
)
def test_datetimes_as_exports_write_them(text: str, fhir: str) -> None:
    assert read_datetime(text).fhir == fhir


@pytest.mark.parametrize("text", ["2024-02-30 10:00", "2024-03-01 25:00", "yesterday", "03/01/2024"])
def test_bad_datetimes(text: str) -> None:
    with pytest.raises(BadValue):
        read_datetime(text)


def test_code_shapes() -> None:
    assert read_icd10("i10.X00") == "I10.x00"
    assert read_icd10("K35.800x001") == "K35.800x001"
    assert read_icd9cm3("36.0600X004") == "36.0600x004"
    for bad in ("I1", "10.x00", "I10.x0000"):
        with pytest.raises(BadValue):
            read_icd10(bad)
    with pytest.raises(BadValue):
        read_icd9cm3("A47.09")
