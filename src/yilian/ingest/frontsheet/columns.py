"""The front sheet's columns (住院病案首页), as a records office or insurance office exports them.

After the national inpatient front-sheet data set: 卫生部《住院病案首页》(卫医政发〔2011〕84号)
and its data standard WS 445-2014《电子病历基本数据集》 (住院病案首页 section), with the codes of
GB/T 2261.1 (sex) and the front sheet's own tables (入院途径, 离院方式, 入院病情, 麻醉方式).
Only the columns yilian maps are listed; any other column in a file is ignored.

Every column has a stable English header and its Chinese header; a file may use either, in
any mix, with case and surrounding spaces ignored.  Other diagnoses and procedures are
numbered groups (`其他诊断编码1`, `其他诊断名称1`, `入院病情1`, `手术及操作编码1`, ...): a
file has as many as its header names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from yilian.ingest.frontsheet.costs import COST_CATEGORIES

__all__ = [
    "ADMISSION_CONDITIONS",
    "ADMISSION_WAYS",
    "ANAESTHESIA",
    "COLUMNS",
    "DIAGNOSIS_GROUP",
    "DISCHARGE_WAYS",
    "PROCEDURE_GROUP",
    "SEXES",
    "Column",
    "ColumnType",
    "Header",
    "numbered",
    "read_header",
]

ColumnType = Literal["text", "code", "date", "datetime", "integer", "decimal", "icd10", "icd9cm3"]
"""`code`: one of the column's table; `icd10` / `icd9cm3`: a diagnosis (ICD-10 医保版 2.0) or
procedure (ICD-9-CM-3 医保版) code of the right shape."""

SEXES: Mapping[str, str] = {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}
"""GB/T 2261.1 性别代码."""

ADMISSION_WAYS: Mapping[str, str] = {"1": "急诊", "2": "门诊", "3": "其他医疗机构转入", "9": "其他"}
"""入院途径."""

DISCHARGE_WAYS: Mapping[str, str] = {
    "1": "医嘱离院",
    "2": "医嘱转院",
    "3": "医嘱转社区卫生服务机构/乡镇卫生院",
    "4": "非医嘱离院",
    "5": "死亡",
    "9": "其他",
}
"""离院方式."""

ADMISSION_CONDITIONS: Mapping[str, str] = {"1": "有", "2": "临床未确定", "3": "情况不明", "4": "无"}
"""入院病情: whether the condition was present on admission."""

ANAESTHESIA: Mapping[str, str] = {
    "1": "全身麻醉",
    "11": "吸入麻醉",
    "12": "静脉麻醉",
    "13": "基础麻醉",
    "2": "区域麻醉",
    "21": "椎管内麻醉",
    "211": "蛛网膜下腔阻滞麻醉",
    "212": "硬膜外间隙阻滞麻醉",
    "213": "腰硬联合麻醉",
    "22": "神经阻滞麻醉",
    "3": "局部麻醉",
    "31": "局部浸润麻醉",
    "32": "表面麻醉",
    "4": "复合麻醉",
    "41": "静吸复合麻醉",
    "9": "其他",
}
"""麻醉方式 (WS 364 CV06.00.103 麻醉方法代码): front sheets write the name, some the code; both
are accepted and the name is kept."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column: `key` is its English header (and the name rows are read by), `chinese` its
    Chinese header; `table` lists the codes of a `code` column (code -> Chinese display)."""

    key: str
    chinese: str
    required: bool
    type: ColumnType
    table: Mapping[str, str] | None = None
    aliases: tuple[str, ...] = ()


def _c(
    key: str,
    chinese: str,
    required: bool,
    type: ColumnType = "text",
    table: Mapping[str, str] | None = None,
    *aliases: str,
) -> Column:
    return Column(key, chinese, required, type, table, aliases)


COLUMNS: tuple[Column, ...] = (
    _c("mrn", "病案号", True),
    _c("admission_count", "住院次数", True, "integer"),
    _c("visit_number", "住院号", False),
    _c("name", "姓名", True),
    _c("sex", "性别", True, "code", SEXES),
    _c("birth_date", "出生日期", True, "date"),
    _c("resident_id", "身份证号", False, "text", None, "身份证号码", "居民身份证号"),
    _c("phone", "联系电话", False, "text", None, "电话"),
    _c("address", "现住址", False),
    _c("admission_way", "入院途径", True, "code", ADMISSION_WAYS),
    _c("admitted", "入院时间", True, "datetime"),
    _c("admission_department", "入院科别", True),
    _c("discharged", "出院时间", True, "datetime"),
    _c("discharge_department", "出院科别", True),
    _c("length_of_stay", "实际住院天数", True, "integer"),
    _c("discharge_way", "离院方式", True, "code", DISCHARGE_WAYS),
    _c("main_diagnosis_code", "主要诊断编码", True, "icd10", None, "出院主要诊断编码"),
    _c("main_diagnosis_name", "主要诊断名称", True, "text", None, "出院主要诊断名称"),
    _c("main_admission_condition", "主要诊断入院病情", True, "code", ADMISSION_CONDITIONS, "入院病情"),
    _c("total_cost", "住院总费用", True, "decimal", None, "总费用"),
    *(_c(key, name, False, "decimal") for key, name in COST_CATEGORIES),
)
"""The single columns, in the order a records office exports them (`synth.frontsheet_out`)."""

DIAGNOSIS_GROUP: tuple[Column, ...] = (
    _c("other_diagnosis_code", "其他诊断编码", True, "icd10"),
    _c("other_diagnosis_name", "其他诊断名称", True),
    _c("other_admission_condition", "入院病情", False, "code", ADMISSION_CONDITIONS),
)
"""One other diagnosis: headers end in its number (`其他诊断编码1`, `other_diagnosis_code_1`).
`required` here means required when the group has any value in a row."""

PROCEDURE_GROUP: tuple[Column, ...] = (
    _c("procedure_code", "手术及操作编码", True, "icd9cm3"),
    _c("procedure_name", "手术及操作名称", True),
    _c("procedure_date", "手术及操作日期", True, "datetime"),
    _c("surgeon", "术者", False),
    _c("anaesthesia", "麻醉方式", False, "code", ANAESTHESIA),
)
"""One procedure (rank = its number; 1 is the main procedure), as `DIAGNOSIS_GROUP`."""


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass(frozen=True, slots=True)
class Header:
    """A file's header as columns: `fields[i]` is the key of column i (`other_diagnosis_code_2`
    for a numbered one) or None for a column yilian does not map; `diagnoses` and
    `procedures` are the group numbers present, ascending."""

    fields: tuple[str | None, ...]
    missing: tuple[Column, ...]
    diagnoses: tuple[int, ...]
    procedures: tuple[int, ...]
    repeated: tuple[str, ...]


def numbered(key: str, number: int) -> str:
    """The field name of column `key` of group `number` (`other_diagnosis_code_2`)."""
    return f"{key}_{number}"


_SINGLE: dict[str, Column] = {}
for _column in COLUMNS:
    for _name in (_column.key, _column.chinese, *_column.aliases):
        _SINGLE[_normal(_name)] = _column
_GROUPS: list[tuple[re.Pattern[str], Column, str]] = []
for _group, _kind in ((DIAGNOSIS_GROUP, "diagnosis"), (PROCEDURE_GROUP, "procedure")):
    for _column in _group:
        for _name in (_column.key, _column.chinese):
            _GROUPS.append((re.compile(re.escape(_normal(_name)) + r"[ _-]?(\d{1,2})"), _column, _kind))


def read_header(names: Iterable[str]) -> Header:
    """Match a file's header cells to columns; `missing` lists the required single columns
    absent (the file is refused when there are any), `repeated` the columns named twice."""
    fields: list[str | None] = []
    seen: set[str] = set()
    repeated: list[str] = []
    diagnoses: set[int] = set()
    procedures: set[int] = set()
    for name in names:
        text = _normal(name).lstrip("\ufeff")
        field: str | None = None
        column = _SINGLE.get(text)
        if column is not None:
            field = column.key
        else:
            for pattern, group_column, kind in _GROUPS:
                match = pattern.fullmatch(text)
                if match and int(match[1]) > 0:
                    number = int(match[1])
                    field = numbered(group_column.key, number)
                    (diagnoses if kind == "diagnosis" else procedures).add(number)
                    break
        if field is not None and field in seen:
            repeated.append(name.strip())
            field = None
        if field is not None:
            seen.add(field)
        fields.append(field)
    missing = tuple(c for c in COLUMNS if c.required and c.key not in seen)
    return Header(
        tuple(fields), missing, tuple(sorted(diagnoses)), tuple(sorted(procedures)), tuple(repeated)
    )
