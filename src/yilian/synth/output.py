"""Write a synthetic alliance to a folder, streaming: `write(out, patients, institutions, seed, formats)`.

Layout (one folder per format, one file per member so each loads into its own partition):

* `fhir/{institution}/{Type}.ndjson`: the member's resources, one per line (`Type/id` refs),
  except its Organization: a registered member has one (`yilian institution add`), so the
  members' Organizations (with their credit codes) are in `fhir/organizations.ndjson`;
* `fhir/bundles/{institution}.ndjson`: the member's Organization and staff as one transaction
  Bundle, then one transaction Bundle per registration, one Bundle a line;
* `hl7/{institution}.hl7`: HL7 v2 messages (`synth.hl7_out`), each ending in a carriage return
  and a line feed, filed by MSH-4;
* `frontsheet/{institution}.csv`: front-sheet rows (`synth.frontsheet_out`);
* `truth/*.csv` (`synth.truth`) and `manifest.json`: the arguments, the outbreak week, the
  counts per resource type, per format and per truth file, and the yilian version.

Histories stream through and are written as they come; what the writers buffer is flushed
once it passes a few megabytes, so memory stays flat at any size.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from yilian import __version__
from yilian.fhir.jsontext import dumps
from yilian.synth import frontsheet_out, hl7_out
from yilian.synth.alliance import Alliance
from yilian.synth.fhir_bundle import BundleWriter, transaction
from yilian.synth.fhir_out import RESOURCE_TYPES, directory_resources, registration_resources
from yilian.synth.model import Directory, History
from yilian.synth.truth import TruthWriter

__all__ = ["FORMATS", "Summary", "write"]

FORMATS = ("fhir", "hl7", "frontsheet")
_FLUSH_BYTES = 4 * 1024 * 1024


@dataclass
class Summary:
    """What `write` wrote."""

    persons: int = 0
    resources: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCE_TYPES, 0))
    bundles: int = 0
    messages: int = 0
    frontsheet_rows: int = 0
    truth_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_resources(self) -> int:
        return sum(self.resources.values())


class _Files:
    """Appending writers for many files, buffered in memory up to `_FLUSH_BYTES` in all."""

    def __init__(self) -> None:
        self.buffers: dict[Path, list[bytes]] = {}
        self.size = 0
        self.started: set[Path] = set()

    def add(self, path: Path, data: bytes) -> None:
        self.buffers.setdefault(path, []).append(data)
        self.size += len(data)
        if self.size > _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        for path, chunks in self.buffers.items():
            if path not in self.started:
                path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab" if path in self.started else "wb") as handle:
                handle.writelines(chunks)
            self.started.add(path)
        self.buffers.clear()
        self.size = 0


def write(
    out: Path,
    patients: int,
    institutions: int,
    seed: int = 2026,
    formats: Iterable[str] = FORMATS,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Generate the alliance and write `formats` and the truth files under `out`; `progress`
    is called with the number of persons written so far."""
    wanted = tuple(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format {', '.join(unknown)} (known: {', '.join(FORMATS)})")
    alliance = Alliance(patients, institutions, seed)
    directory = alliance.directory
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    summary = Summary()
    files = _Files()
    fhir = out / "fhir"
    bundles = BundleWriter(directory)
    if "fhir" in wanted:
        for inst in directory.institutions:
            for resource in directory_resources(directory, inst.code):
                rtype = resource["resourceType"]
                # the member's own folder loads into a registered partition, which has its
                # Organization already (`yilian institution add`): the Organizations go apart
                path = (
                    fhir / "organizations.ndjson"
                    if rtype == "Organization"
                    else fhir / inst.code / f"{rtype}.ndjson"
                )
                files.add(path, dumps(resource) + b"\n")
                summary.resources[rtype] += 1
            files.add(
                fhir / "bundles" / f"{inst.code}.ndjson", orjson.dumps(bundles.members(inst.code)) + b"\n"
            )
            summary.bundles += 1
    if "frontsheet" in wanted:
        for inst in directory.institutions:
            files.add(out / "frontsheet" / f"{inst.code}.csv", _csv_line(frontsheet_out.HEADER))
    with TruthWriter(out / "truth", alliance.cluster) as truth:
        for history in alliance.histories():
            truth.add(history)
            if "fhir" in wanted:
                _write_fhir(history, directory, bundles, fhir, files, summary)
            if "hl7" in wanted:
                for code, message in hl7_out.institution_messages(history, directory):
                    files.add(out / "hl7" / f"{code}.hl7", message.rstrip("\r\n").encode() + b"\r\n")
                    summary.messages += 1
            if "frontsheet" in wanted:
                for code, row in frontsheet_out.institution_rows(history, directory):
                    files.add(out / "frontsheet" / f"{code}.csv", _csv_line(row))
                    summary.frontsheet_rows += 1
            summary.persons += 1
            if progress is not None and summary.persons % 200 == 0:
                progress(summary.persons)
        summary.truth_rows = dict(truth.rows)
    files.flush()
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(summary.persons)
    manifest = {
        "generator": "yilian synth",
        "version": __version__,
        "arguments": {
            "patients": patients,
            "institutions": institutions,
            "seed": seed,
            "formats": list(wanted),
        },
        "outbreak": {
            "town": alliance.cluster.town,
            "week_start": alliance.cluster.start.isoformat(),
            "code": alliance.cluster.code,
        },
        "institutions": [i.code for i in directory.institutions],
        "persons": summary.persons,
        "resources": summary.resources if "fhir" in wanted else {},
        "bundles": summary.bundles,
        "hl7_messages": summary.messages,
        "frontsheet_rows": summary.frontsheet_rows,
        "truth_rows": summary.truth_rows,
    }
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return summary


def _write_fhir(
    history: History, directory: Directory, bundles: BundleWriter, fhir: Path, files: _Files, summary: Summary
) -> None:
    for registration in history.registrations:
        code = registration.institution
        resources = registration_resources(history, registration, directory)
        for resource in resources:
            rtype = resource["resourceType"]
            files.add(fhir / code / f"{rtype}.ndjson", dumps(resource) + b"\n")
            summary.resources[rtype] += 1
        bundle = transaction(resources, bundles.logical)
        files.add(fhir / "bundles" / f"{code}.ndjson", dumps(bundle) + b"\n")
        summary.bundles += 1


def _csv_line(row: Iterable[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(list(row))
    return buffer.getvalue().encode("utf-8")
