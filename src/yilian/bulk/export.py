"""Bulk Data `$export`: the kick-off parameters and the job that writes the NDJSON files.

https://hl7.org/fhir/uv/bulkdata/export.html: a system-level export reads every type the
caller may see, a Patient-level one the patient compartments of the Patients the caller may
see, a Group-level one those of the Group's Patient members.  `_type` names the types,
`_since` keeps resources updated at or after an instant, `_typeFilter` (`Type?search`) keeps
only the resources of its type matching one of its queries (several for one type are ORed,
https://hl7.org/fhir/uv/bulkdata/export.html#_typefilter-query-parameter); the queries are
parsed by the search parser and compiled by the search SQL, so they mean what a search means.

The job (`export_runner`) streams each type through `Repository.export_scan` (keyset-paged
batches, each its own short transaction) into `{Type}.ndjson` files, starting a new file every
`file_limit` resources (`{Type}.2.ndjson`, ...), so memory stays flat whatever the size.  Every
row passes the caller's `Scope` as decided at kick-off: consent, break-the-glass, excluded
labels, role types and institution boundaries apply exactly as they do to a search.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import parse_qsl

from yilian.bulk.jobs import JobContext, JobRunner
from yilian.fhir import jsontext
from yilian.fhir.definitions.compartments import patient_compartment
from yilian.fhir.definitions.structures import structures
from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.dates import normalize_instant
from yilian.fhir.search.model import Condition
from yilian.fhir.search.parse import parse_search
from yilian.store.base import ExportScan, Repository, Scope

__all__ = [
    "EXPORT_FORMATS",
    "ExportLevel",
    "ExportRequest",
    "compartment_types",
    "export_runner",
    "group_members",
    "parse_export",
]

ExportLevel = Literal["system", "patient", "group"]

EXPORT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
"""`_outputFormat` values accepted (the spec's required ones); all mean NDJSON."""

_KNOWN = frozenset({"_outputFormat", "_type", "_since", "_typeFilter", "_format", "_pretty"})
FILE_LIMIT = 100_000
BATCH_SIZE = 1000
Progress = Callable[[int, int | None], None]


@cache
def compartment_types() -> frozenset[str]:
    """The resource types the Patient compartment can hold (Patient included)."""
    return frozenset(patient_compartment().params) | {"Patient"}


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A checked kick-off: the level, the types asked for (None: every type found), `since`
    (normalised; `since_text` as sent), and the `_typeFilter` conditions per type."""

    level: ExportLevel
    types: tuple[str, ...] | None = None
    since: str | None = None
    since_text: str | None = None
    filters: dict[str, tuple[tuple[Condition, ...], ...]] = field(default_factory=dict)
    output_format: str = "application/fhir+ndjson"

    def params(self) -> dict[str, Any]:
        """The job's `params` (JSON): what was asked, for the status and the CLI."""
        return {
            "level": self.level,
            "types": list(self.types) if self.types is not None else None,
            "since": self.since_text,
            "typeFilter": sorted(self.filters),
            "outputFormat": self.output_format,
        }


def _bad(message: str, where: str) -> OutcomeError:
    return OutcomeError.invalid(message, [where])


def _values(query: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in query if k == name]


def parse_export(query: Sequence[tuple[str, str]], level: ExportLevel) -> ExportRequest:
    """Check the kick-off parameters; every problem is a 400 naming the parameter."""
    for name, _ in query:
        if name not in _KNOWN:
            raise _bad(f"$export does not support the parameter {name!r}", name)
    formats = _values(query, "_outputFormat")
    output_format = formats[-1].strip() if formats else "application/fhir+ndjson"
    if output_format not in EXPORT_FORMATS:
        raise _bad(
            f"_outputFormat {output_format!r} is not supported; use application/fhir+ndjson", "_outputFormat"
        )
    known = structures().resource_types
    named = [t.strip() for v in _values(query, "_type") for t in v.split(",") if t.strip()]
    for name in named:
        if name not in known:
            raise _bad(f"_type names an unknown resource type {name!r}", "_type")
        if level != "system" and name not in compartment_types():
            raise _bad(
                f"_type {name!r} is not in the Patient compartment, so a {level}-level export has none",
                "_type",
            )
    types = tuple(dict.fromkeys(named)) or None
    since_values = _values(query, "_since")
    since = None
    since_text = None
    if since_values:
        since_text = since_values[-1].strip()
        try:
            since = normalize_instant(since_text)
        except ValueError as exc:
            raise _bad(f"_since={since_text!r} is not a FHIR instant: {exc}", "_since") from None
    filters: dict[str, list[tuple[Condition, ...]]] = {}
    for text in _values(query, "_typeFilter"):
        rtype, conditions = _type_filter(text, types)
        filters.setdefault(rtype, []).append(conditions)
    return ExportRequest(
        level,
        types,
        since,
        since_text,
        {t: tuple(c) for t, c in filters.items()},
        output_format,
    )


def _type_filter(text: str, types: tuple[str, ...] | None) -> tuple[str, tuple[Condition, ...]]:
    """One `_typeFilter` value, `Type?param=value&...`, as search conditions."""
    rtype, mark, search = text.strip().partition("?")
    if not mark or not rtype or not search:
        raise _bad(f"_typeFilter {text!r} must be a search such as Observation?code=1234-5", "_typeFilter")
    if rtype not in structures().resource_types:
        raise _bad(f"_typeFilter names an unknown resource type {rtype!r}", "_typeFilter")
    if types is not None and rtype not in types:
        raise _bad(f"_typeFilter is about {rtype}, which _type does not ask for", "_typeFilter")
    params = parse_qsl(search, keep_blank_values=True)
    try:
        request = parse_search((rtype,), params, strict=True)
    except OutcomeError as exc:
        raise _bad(f"_typeFilter {text!r}: {exc}", "_typeFilter") from None
    if request.includes or request.revincludes or request.sort or request.elements or request.summary:
        raise _bad(f"_typeFilter {text!r} may hold search criteria only", "_typeFilter")
    if not request.conditions:
        raise _bad(f"_typeFilter {text!r} holds no search criteria", "_typeFilter")
    return rtype, request.conditions


def group_members(group: dict[str, Any]) -> frozenset[str]:
    """The ids of the Patients a Group lists as members (inactive members left out)."""
    found = set()
    for member in group.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        reference = (member.get("entity") or {}).get("reference")
        if isinstance(reference, str):
            rtype, _, rid = reference.rpartition("/")
            if rtype.rsplit("/", 1)[-1] == "Patient" and rid:
                found.add(rid)
    return frozenset(found)


def _line(content: bytes) -> bytes:
    """One NDJSON line: the stored JSON, re-serialised only if it spans lines."""
    if b"\n" in content or b"\r" in content:
        content = jsontext.dumps(jsontext.loads(content))
    return content + b"\n"


class _TypeWriter:
    """The files of one type: `{Type}.ndjson`, then `{Type}.2.ndjson`, ... every `limit` lines."""

    def __init__(self, context: JobContext, resource_type: str, limit: int) -> None:
        self.context = context
        self.resource_type = resource_type
        self.limit = max(1, limit)
        self.part = 0
        self.count = 0
        self.name = ""
        self.handle: IO[bytes] | None = None

    def _open(self) -> None:
        self.part += 1
        suffix = "" if self.part == 1 else f".{self.part}"
        self.name = f"{self.resource_type}{suffix}.ndjson"
        self.handle = Path(self.context.directory, self.name).open("wb")  # noqa: SIM115 (closed by _close)
        self.count = 0

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            self.context.add_output(self.resource_type, self.name, self.count)

    def write(self, lines: list[bytes]) -> None:
        """Runs in a worker thread: file writes never block the event loop."""
        while lines:
            if self.handle is None:
                self._open()
            assert self.handle is not None
            room = self.limit - self.count
            chunk, lines = lines[:room], lines[room:]
            self.handle.write(b"".join(chunk))
            self.count += len(chunk)
            if self.count >= self.limit:
                self._close()

    def finish(self) -> None:
        self._close()


def export_runner(
    repository: Repository,
    scope: Scope,
    request: ExportRequest,
    *,
    patients: frozenset[str] | None = None,
    batch_size: int = BATCH_SIZE,
    file_limit: int = FILE_LIMIT,
    observer: Progress | None = None,
) -> JobRunner:
    """The job of one export.  `patients`: None for a system export, empty for every visible
    Patient's compartment, or a Group's member ids.  `observer` hears (done, total) after
    every batch (the CLI's progress bar)."""
    if request.level != "system" and patients is None:
        patients = frozenset()

    def scan(rtype: str) -> ExportScan:
        return ExportScan(
            rtype, scope, request.since, request.filters.get(rtype, ()), patients, batch_size=batch_size
        )

    async def run(context: JobContext) -> None:
        context.set_params(transactionTime=datetime.now(UTC).isoformat(timespec="microseconds"))
        types = list(request.types) if request.types is not None else await repository.export_types(scan("*"))
        if patients is not None:
            types = [t for t in types if t in compartment_types()]
        counts = {t: await repository.export_count(scan(t)) for t in types}
        total = sum(counts.values())
        done = 0
        await context.progress(done, total)
        for rtype in types:
            if not counts[rtype]:
                continue
            writer = _TypeWriter(context, rtype, file_limit)
            try:
                async for batch in repository.export_scan(scan(rtype)):
                    if context.cancelled():
                        return
                    lines = [_line(s.content) for s in batch]
                    await asyncio.to_thread(writer.write, lines)
                    done += len(lines)
                    total = max(total, done)
                    await context.progress(done, total)
                    if observer is not None:
                        observer(done, total)
            finally:
                writer.finish()
        await context.progress(done, done)
        if observer is not None:
            observer(done, done)

    return run
