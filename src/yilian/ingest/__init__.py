"""Bulk ingest: NDJSON and Bundle files into the store, PUT-style (Bulk Data `$import` and
`yilian import`).

`records` reads files (NDJSON lines, Bundle entries) into resources or problems with their
file and line; `loader` validates them and writes them in batches through
`Session.bulk_load`; `report` counts what happened and renders the problems as
OperationOutcome NDJSON; `inputs` resolves the `$import` inputs (allowed local paths, http(s)
downloads).  See https://hl7.org/fhir/uv/bulkdata/ for the NDJSON conventions.
"""

from yilian.ingest.loader import Loader, LoaderOptions, LoadFailed
from yilian.ingest.records import Problem, Record, expand_paths, read_file
from yilian.ingest.report import LoadReport

__all__ = [
    "LoadFailed",
    "LoadReport",
    "Loader",
    "LoaderOptions",
    "Problem",
    "Record",
    "expand_paths",
    "read_file",
]
