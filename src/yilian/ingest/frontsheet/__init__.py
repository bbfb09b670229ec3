"""Front sheets (病案首页) and settlement lists as tables: columns, row checks, rows to FHIR.

`read.open_table` reads a CSV or XLSX export (refusing a file without the required
columns), `rows.check_row` checks one row whole, and `resources.bundle` turns a checked row
into the transaction Bundle that loads it; `feeds.frontsheet` runs the three through the
router.  The columns are specified in `columns` (and docs/frontsheet.md).
"""

from yilian.ingest.frontsheet.columns import COLUMNS, Column, Header, read_header
from yilian.ingest.frontsheet.read import FileRefused, Row, Table, open_table
from yilian.ingest.frontsheet.resources import bundle
from yilian.ingest.frontsheet.rows import FrontSheet, Problem, check_row

__all__ = [
    "COLUMNS",
    "Column",
    "FileRefused",
    "FrontSheet",
    "Header",
    "Problem",
    "Row",
    "Table",
    "bundle",
    "check_row",
    "open_table",
    "read_header",
]
