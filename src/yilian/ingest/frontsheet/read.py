"""Reading a front-sheet export: CSV or XLSX into rows of column -> text.

Records offices export from whatever their HIS offers, so the reader takes CSV in UTF-8 (with
or without the BOM Excel writes) or, failing that, GB18030 (a superset of GBK and GB2312, what
a Chinese Windows Excel saves), comma- or tab-separated (whichever the header line uses more),
and XLSX (the first sheet, read in openpyxl's read-only mode so a large file streams).  Cells
come back as text, spreadsheet dates as ISO text, so the row checks see one form.

A file whose header lacks a required column is refused as a whole, with everything that is
missing, before any row is read: loading half a file's worth of columns would write
resources without the parts that make them useful.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from yilian.ingest.frontsheet.columns import Header, read_header

__all__ = ["FileRefused", "Row", "Table", "open_table"]

_CHUNK = 1 << 20


class FileRefused(Exception):
    """The file cannot be imported at all: unreadable, or required columns are missing."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: `number` as a spreadsheet shows it (the header is row 1), `values` by
    field name (`Header.fields`), blank cells left out."""

    number: int
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class Table:
    """An opened file: its header (checked) and a one-shot iterator over its data rows."""

    header: Header
    rows: Iterator[Row]
    encoding: str


def open_table(path: Path) -> Table:
    """Open a CSV or XLSX front-sheet file; raises FileRefused when it cannot be imported."""
    try:
        with path.open("rb") as probe:
            magic = probe.read(4)
    except OSError as exc:
        raise FileRefused(f"cannot read {path}: {exc.strerror or exc}") from exc
    if magic.startswith(b"PK\x03\x04"):
        cells: Iterator[list[str]] = _xlsx_cells(path)
        encoding = "xlsx"
    else:
        encoding = _encoding(path)
        cells = _csv_cells(path, encoding)
    first = next(cells, None)
    if first is None:
        raise FileRefused(f"{path} is empty: expected a header row")
    header = read_header(first)
    if header.missing:
        names = tuple(f"{c.chinese} ({c.key})" for c in header.missing)
        raise FileRefused(f"{path}: required columns missing: {', '.join(names)}", names)
    return Table(header, _rows(header, cells), encoding)


def _rows(header: Header, cells: Iterator[list[str]]) -> Iterator[Row]:
    for number, line in enumerate(cells, start=2):
        values = {
            field: text.strip()
            for field, text in zip(header.fields, line, strict=False)
            if field is not None and text.strip()
        }
        if values:
            yield Row(number, values)


def _encoding(path: Path) -> str:
    """`utf-8-sig` when the whole file decodes as UTF-8 (checked in chunks, so a GBK byte deep
    in a large file still counts), else `gb18030`."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as source:
            while chunk := source.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _csv_cells(path: Path, encoding: str) -> Iterator[list[str]]:
    try:
        with path.open(encoding=encoding, newline="", errors="strict") as text:
            first = text.readline()
            delimiter = "\t" if first.count("\t") > first.count(",") else ","
            reader = csv.reader(io.StringIO(first), delimiter=delimiter)
            yield from reader
            yield from csv.reader(text, delimiter=delimiter)
    except UnicodeDecodeError as exc:  # neither UTF-8 nor GB18030
        raise FileRefused(f"{path} is neither UTF-8 nor GB18030 text: {exc}") from exc
    except csv.Error as exc:
        raise FileRefused(f"{path} is not readable CSV: {exc}") from exc


def _xlsx_cells(path: Path) -> Iterator[list[str]]:
    import openpyxl  # only XLSX files need it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise FileRefused(f"{path} is not a readable XLSX workbook: {exc}") from exc
    try:
        if not workbook.worksheets:
            raise FileRefused(f"{path} has no worksheet")
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            yield [_cell_text(v) for v in values]
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    """A cell as the text a CSV export would hold: dates ISO (a midnight datetime as its date),
    whole floats without `.0`, None as blank."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(Decimal(repr(value)))
    return str(value)
