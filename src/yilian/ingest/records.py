"""Files -> resources, each with the file and line it came from, or a problem saying why not.

Two formats (https://hl7.org/fhir/uv/bulkdata/ for NDJSON):

* NDJSON (`.ndjson`, `.jsonl`, gzip-compressed `.ndjson.gz`): one resource per line, parsed
  with orjson.  A line that is not JSON, not an object, of an unknown type or of another type
  than the file is for (`Patient.000.ndjson` holds Patients; an `$import` input declares its
  `type`), or longer than `max_line_bytes`, is a `Problem` with its line number; the lines
  around it still load.  A last line without a newline that does not parse is reported as a
  truncated file.  Blank lines are skipped.  Memory stays flat: lines are read one at a time
  and an over-long line is skipped without being held.
* JSON (`.json`, `.json.gz`): a Bundle (transaction, batch, collection, ... : every
  `entry.resource` is taken, `line` is the entry's position from 1) or a single resource.
  `urn:uuid:` references between entries are rewritten to `Type/id`, the id taken from the
  resource or else from its `urn:uuid:` fullUrl, as a transaction would do.

Folders are walked recursively for those suffixes, in name order (`expand_paths`).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, cast

import orjson

from yilian.fhir import jsontext
from yilian.fhir.bundle import rewrite_references
from yilian.fhir.definitions.structures import structures
from yilian.fhir.outcome import Issue, IssueType, operation_outcome

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "Line",
    "Problem",
    "Record",
    "expand_paths",
    "expected_type",
    "file_format",
    "read_file",
    "read_lines",
    "read_stream",
]

DEFAULT_MAX_LINE_BYTES = 10 * 1024 * 1024
"""An NDJSON line (one resource) longer than this is refused rather than parsed."""

MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024
"""A JSON (Bundle) file is parsed whole; larger ones are refused."""

_NDJSON = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_JSON = (".json", ".json.gz")

Format = Literal["ndjson", "json"]


@dataclass(frozen=True, slots=True)
class Record:
    """A resource read from `source` at `line` (an NDJSON line, or a Bundle entry from 1);
    `offset` is how far into the (compressed) file reading has got, for progress."""

    source: str
    line: int
    resource: dict[str, Any]
    offset: int = 0
    unit: Literal["line", "entry"] = "line"


@dataclass(frozen=True, slots=True)
class Line:
    """An NDJSON line not parsed yet (`parse_line` turns it into a Record or a Problem),
    so parsing can happen in a worker process; `data` keeps its newline, if it had one."""

    source: str
    number: int
    data: bytes
    expected: str | None
    offset: int = 0

    def parse(self) -> Record | Problem:
        return _parse_line(
            self.data.strip(), self.data.endswith(b"\n"), self.source, self.number, self.expected, self.offset
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the resource at `source`/`line` was not loaded (`line` 0: the file as a whole)."""

    source: str
    line: int
    issues: tuple[Issue, ...]
    offset: int = 0
    unit: Literal["line", "entry"] = "line"
    resource_type: str | None = None  # when the line was read as a resource of a known type

    @classmethod
    def of(
        cls,
        source: str,
        line: int,
        message: str,
        code: IssueType = IssueType.INVALID,
        *,
        offset: int = 0,
        unit: Literal["line", "entry"] = "line",
        resource_type: str | None = None,
    ) -> Problem:
        return cls(source, line, (Issue(code, message),), offset, unit, resource_type)

    @property
    def where(self) -> str:
        return f"{self.source} {self.unit} {self.line}" if self.line else self.source

    @property
    def message(self) -> str:
        return "; ".join(
            f"{i.diagnostics} (at {', '.join(i.expression)})" if i.expression else i.diagnostics
            for i in self.issues
        )

    def outcome(self) -> dict[str, Any]:
        """One OperationOutcome naming the file and line in every issue's diagnostics, the
        form Bulk Data import reports failed resources in."""
        return operation_outcome(
            Issue(i.code, f"{self.where}: {i.diagnostics}", i.severity, i.expression) for i in self.issues
        )


def file_format(path: str) -> Format | None:
    """NDJSON or JSON by the file name's suffix (None: neither)."""
    lower = path.lower()
    if lower.endswith(_NDJSON):
        return "ndjson"
    if lower.endswith(_JSON):
        return "json"
    return None


def expected_type(path: str) -> str | None:
    """The resource type a file is for by its name (`Patient.ndjson`, `Patient.000.ndjson`)."""
    head = os.path.basename(path).split(".", 1)[0]
    return head if structures().is_resource_type(head) else None


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and the NDJSON/JSON files inside folders named (recursively, sorted).
    A path that does not exist raises FileNotFoundError."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and file_format(p.name) is not None)
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return out


def read_file(
    path: Path,
    *,
    source: str | None = None,
    resource_type: str | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    lines: bool = False,
) -> Iterator[Record | Problem | Line]:
    """The records and problems of one file (see the module docstring).  `resource_type`
    (default: from the file name) is the type every resource must have.  With `lines`, an
    NDJSON file's lines come unparsed (`Line`)."""
    name = source or str(path)
    kind = file_format(path.name) or "ndjson"
    expected = resource_type or expected_type(path.name)
    with path.open("rb") as raw:
        stream: IO[bytes] = raw
        if path.name.endswith(".gz"):
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
        try:
            if lines and kind == "ndjson":
                yield from read_lines(stream, raw, name, expected, max_line_bytes)
            else:
                yield from read_stream(stream, raw, name, kind, expected, max_line_bytes)
        except (OSError, EOFError) as exc:  # a damaged or cut-off gzip stream
            yield Problem.of(name, 0, f"the file cannot be read to its end: {exc}", IssueType.STRUCTURE)


def read_stream(
    stream: IO[bytes],
    raw: IO[bytes],
    source: str,
    kind: Format,
    expected: str | None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Record | Problem]:
    """Records of an open (decompressed) `stream`; `raw` is the file underneath, whose
    position is the progress offset."""
    if kind == "json":
        yield from _json_document(stream, raw, source, expected)
        return
    for item in read_lines(stream, raw, source, expected, max_line_bytes):
        yield item.parse() if isinstance(item, Line) else item


def read_lines(
    stream: IO[bytes],
    raw: IO[bytes],
    source: str,
    expected: str | None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Line | Problem]:
    """The non-blank lines of an NDJSON stream, unparsed; an over-long one is a Problem."""
    number = 0
    while True:
        chunk = stream.readline(max_line_bytes + 1)
        if not chunk:
            return
        number += 1
        if len(chunk) > max_line_bytes and not chunk.endswith(b"\n"):
            size = len(chunk) + _skip_line(stream)
            yield Problem.of(
                source,
                number,
                f"the line is {size} bytes long, more than the {max_line_bytes} a resource may take",
                IssueType.TOO_LONG,
                offset=raw.tell(),
            )
            continue
        if chunk.isspace():
            continue
        yield Line(source, number, chunk, expected, raw.tell())


def _skip_line(stream: IO[bytes]) -> int:
    """Read past the rest of an over-long line; return how many bytes that was."""
    skipped = 0
    while True:
        more = stream.readline(1 << 20)
        skipped += len(more)
        if not more or more.endswith(b"\n"):
            return skipped


def _parse_line(
    text: bytes, complete: bool, source: str, number: int, expected: str | None, offset: int
) -> Record | Problem:
    try:
        value = jsontext.loads(text)
    except orjson.JSONDecodeError as exc:
        if not complete:
            message = f"the file ends in the middle of a resource (truncated?): {exc}"
            return Problem.of(source, number, message, IssueType.INCOMPLETE, offset=offset)
        return Problem.of(source, number, f"the line is not JSON: {exc}", IssueType.STRUCTURE, offset=offset)
    problem = _type_problem(value, expected)
    if problem is not None:
        return Problem.of(source, number, problem[0], problem[1], offset=offset)
    return Record(source, number, value, offset)


def _type_problem(value: Any, expected: str | None) -> tuple[str, IssueType] | None:
    """Why `value` is not a resource of the expected type, or None."""
    if not isinstance(value, dict):
        return "a resource must be a JSON object", IssueType.STRUCTURE
    rtype = value.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        return "the resource has no resourceType", IssueType.REQUIRED
    if not structures().is_resource_type(rtype):
        return f"unknown resource type {rtype!r}", IssueType.NOT_SUPPORTED
    if expected is not None and rtype != expected:
        return f"a {rtype} in input for {expected} resources", IssueType.INVALID
    return None


def _json_document(
    stream: IO[bytes], raw: IO[bytes], source: str, expected: str | None
) -> Iterator[Record | Problem]:
    data = stream.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        yield Problem.of(
            source, 0, f"a JSON file may hold at most {MAX_DOCUMENT_BYTES} bytes", IssueType.TOO_LONG
        )
        return
    try:
        value = jsontext.loads(data)
    except orjson.JSONDecodeError as exc:
        yield Problem.of(source, 0, f"the file is not JSON: {exc}", IssueType.STRUCTURE, offset=raw.tell())
        return
    end = raw.tell()
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        problem = _type_problem(value, expected)
        if problem is not None:
            yield Problem.of(source, 1, problem[0], problem[1], offset=end, unit="entry")
        else:
            yield Record(source, 1, value, end, "entry")
        return
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        yield Problem.of(source, 0, "Bundle.entry must be an array", IssueType.STRUCTURE, offset=end)
        return
    yield from _entries(entries, source, expected, end)


def _entries(entries: list[Any], source: str, expected: str | None, end: int) -> Iterator[Record | Problem]:
    """Bundle entries with a resource, `urn:uuid:` references rewritten to `Type/id`."""
    mapping: dict[str, str] = {}
    taken: list[tuple[int, dict[str, Any]]] = []
    for index, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue  # a DELETE or other request without a resource: nothing to import
        problem = _type_problem(resource, expected)
        if problem is not None:
            yield Problem.of(source, index, problem[0], problem[1], offset=end, unit="entry")
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
            if not isinstance(resource.get("id"), str):
                resource = {**resource, "id": full_url.removeprefix("urn:uuid:")}
            mapping[full_url] = f"{resource['resourceType']}/{resource['id']}"
        taken.append((index, resource))
    for index, resource in taken:
        rewritten = rewrite_references(resource, mapping) if mapping else resource
        yield Record(source, index, rewritten, end, "entry")
