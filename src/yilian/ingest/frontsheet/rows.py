"""Checking one front-sheet row: every problem it has, or the stay it describes.

A row is checked whole, so its error report names every problem at once (a records office
fixes a row in one go, not one error per re-import).  Beyond each cell's type (`values`) a
row is checked as a record: the resident ID's GB 11643 check character, discharge not before
admission and birth not after it, 实际住院天数 against the dates (the national rule: discharge
date minus admission date, a same-day stay counting one day), 住院总费用 against the sum of
the cost categories given, and a diagnosis or procedure group that has any value must have
its code and name.  A good row becomes a `FrontSheet`; `resources.bundle` makes it FHIR.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from yilian.alliance.resident_id import is_valid_resident_id
from yilian.ingest.frontsheet.columns import (
    COLUMNS,
    DIAGNOSIS_GROUP,
    PROCEDURE_GROUP,
    Column,
    Header,
    numbered,
)
from yilian.ingest.frontsheet.costs import COST_CATEGORIES
from yilian.ingest.frontsheet.read import Row
from yilian.ingest.frontsheet.values import (
    BadValue,
    When,
    read_code,
    read_date,
    read_datetime,
    read_decimal,
    read_icd9cm3,
    read_icd10,
    read_integer,
)

__all__ = ["DiagnosisLine", "FrontSheet", "Problem", "ProcedureLine", "check_row", "column_label"]

T = TypeVar("T")
_BY_KEY: dict[str, Column] = {c.key: c for c in (*COLUMNS, *DIAGNOSIS_GROUP, *PROCEDURE_GROUP)}


@dataclass(frozen=True, slots=True)
class Problem:
    """One line of the error report: the row (as a spreadsheet numbers it; 0 for the file
    as a whole), the column (`中文 (english)`), the value found and what is wrong with it."""

    row: int
    column: str
    value: str
    problem: str


@dataclass(frozen=True, slots=True)
class DiagnosisLine:
    rank: int  # 1 = the main diagnosis
    code: str
    name: str
    admission_condition: str | None  # 入院病情 code


@dataclass(frozen=True, slots=True)
class ProcedureLine:
    rank: int  # 1 = the main procedure
    code: str
    name: str
    performed: When
    surgeon: str | None
    anaesthesia: str | None  # the 麻醉方式 name


@dataclass(frozen=True, slots=True)
class FrontSheet:
    """One discharge as its front sheet records it, checked."""

    row: int
    mrn: str
    admission_count: int
    visit: str  # 住院号, or `{mrn}/{admission_count}` when the sheet has none
    name: str
    sex: str
    birth_date: date
    resident_id: str | None
    phone: str | None
    address: str | None
    admission_way: str
    admitted: When
    admission_department: str
    discharged: When
    discharge_department: str
    length_of_stay: int
    discharge_way: str
    diagnoses: tuple[DiagnosisLine, ...]
    procedures: tuple[ProcedureLine, ...]
    total_cost: Decimal
    costs: dict[str, Decimal] = field(default_factory=dict)  # non-zero categories only


def column_label(key: str) -> str:
    """A column as the error report names it: `性别 (sex)`, `其他诊断编码2 (other_diagnosis_code_2)`."""
    base, _, number = key.rpartition("_")
    if number.isdigit() and base in _BY_KEY:
        return f"{_BY_KEY[base].chinese}{number} ({key})"
    column = _BY_KEY.get(key)
    return f"{column.chinese} ({key})" if column else key


class _Checker:
    """Collects a row's problems while reading its cells."""

    def __init__(self, row: Row) -> None:
        self.row = row
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(
            Problem(self.row.number, column_label(key), self.row.values.get(key, ""), message)
        )

    def cell(self, key: str, read: Callable[[str], T], required: bool) -> T | None:
        text = self.row.values.get(key)
        if text is None:
            if required:
                self.problem(key, "required and empty")
            return None
        try:
            return read(text)
        except BadValue as exc:
            self.problem(key, str(exc))
            return None

    def typed(self, key: str, column: Column, required: bool) -> Any:
        return self.cell(key, _reader(column), required)


def _reader(column: Column) -> Callable[[str], Any]:
    if column.type == "code":
        table: Mapping[str, str] = column.table or {}
        if column.key == "anaesthesia":
            return lambda text: table[read_code(text, table)]  # kept as its name
        return lambda text: read_code(text, table)
    readers: dict[str, Callable[[str], Any]] = {
        "text": str.strip,
        "date": read_date,
        "datetime": read_datetime,
        "integer": read_integer,
        "decimal": read_decimal,
        "icd10": read_icd10,
        "icd9cm3": read_icd9cm3,
    }
    return readers[column.type]


def check_row(row: Row, header: Header) -> FrontSheet | list[Problem]:
    """The stay `row` describes, or every problem that keeps it from being loaded."""
    c = _Checker(row)
    v: dict[str, Any] = {col.key: c.typed(col.key, col, col.required) for col in COLUMNS}
    resident_id = v["resident_id"]
    if resident_id is not None:
        resident_id = resident_id.upper()
        if not is_valid_resident_id(resident_id):
            c.problem("resident_id", "not a valid 18-digit resident ID (GB 11643 check character wrong)")
    _check_dates(c, v)
    _check_costs(c, v)
    diagnoses = _diagnoses(c, header, v)
    procedures = _procedures(c, header)
    if c.problems:
        return c.problems
    costs = {key: v[key] for key, _ in COST_CATEGORIES if v[key]}
    return FrontSheet(
        row=row.number,
        mrn=v["mrn"],
        admission_count=v["admission_count"],
        visit=v["visit_number"] or f"{v['mrn']}/{v['admission_count']}",
        name=v["name"],
        sex=v["sex"],
        birth_date=v["birth_date"],
        resident_id=resident_id,
        phone=v["phone"],
        address=v["address"],
        admission_way=v["admission_way"],
        admitted=v["admitted"],
        admission_department=v["admission_department"],
        discharged=v["discharged"],
        discharge_department=v["discharge_department"],
        length_of_stay=v["length_of_stay"],
        discharge_way=v["discharge_way"],
        diagnoses=diagnoses,
        procedures=procedures,
        total_cost=v["total_cost"],
        costs=costs,
    )


def _check_dates(c: _Checker, v: dict[str, Any]) -> None:
    admitted: When | None = v["admitted"]
    discharged: When | None = v["discharged"]
    if v["birth_date"] is not None and admitted is not None and v["birth_date"] > admitted.value.date():
        c.problem("birth_date", f"after the admission date {admitted.value.date().isoformat()}")
    if admitted is None or discharged is None:
        return
    if discharged.value < admitted.value:
        c.problem("discharged", f"before the admission time {admitted.fhir}")
        return
    expected = max(1, (discharged.value.date() - admitted.value.date()).days)
    if v["length_of_stay"] is not None and v["length_of_stay"] != expected:
        c.problem(
            "length_of_stay",
            f"the dates give {expected} days (discharge date minus admission date, at least 1)",
        )


def _check_costs(c: _Checker, v: dict[str, Any]) -> None:
    given = [v[key] for key, _ in COST_CATEGORIES if v[key] is not None]
    if v["total_cost"] is None or not given:
        return  # a sheet with the total only (some settlement lists) has nothing to add up
    total = sum(given, Decimal(0))
    if total != v["total_cost"]:
        c.problem("total_cost", f"the cost categories add up to {total}")


def _diagnoses(c: _Checker, header: Header, v: dict[str, Any]) -> tuple[DiagnosisLine, ...]:
    lines = [
        DiagnosisLine(1, v["main_diagnosis_code"], v["main_diagnosis_name"], v["main_admission_condition"])
    ]
    for number in header.diagnoses:
        keys = [numbered(col.key, number) for col in DIAGNOSIS_GROUP]
        if not any(k in c.row.values for k in keys):
            continue
        code, name, condition = (
            c.typed(k, col, col.required) for k, col in zip(keys, DIAGNOSIS_GROUP, strict=True)
        )
        lines.append(DiagnosisLine(len(lines) + 1, code, name, condition))
    return tuple(lines)


def _procedures(c: _Checker, header: Header) -> tuple[ProcedureLine, ...]:
    lines: list[ProcedureLine] = []
    for number in header.procedures:
        keys = [numbered(col.key, number) for col in PROCEDURE_GROUP]
        if not any(k in c.row.values for k in keys):
            continue
        code, name, performed, surgeon, anaesthesia = (
            c.typed(k, col, col.required) for k, col in zip(keys, PROCEDURE_GROUP, strict=True)
        )
        lines.append(ProcedureLine(len(lines) + 1, code, name, performed, surgeon, anaesthesia))
    return tuple(lines)
