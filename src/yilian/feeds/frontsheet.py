"""Importing a front-sheet file (住院病案首页 / 医保结算清单 export) through the FHIR router.

Read the file (`ingest.frontsheet.read`), check each row (`rows`), and run each good row's
transaction Bundle (`resources`) through a `FhirRouter`, as any client's transaction would
run: validation, access policy and audit all apply.  One transaction per row, so a row is
all or nothing and a bad row never takes good ones with it; a row the server refuses
(`OutcomeError`) is reported like a row that failed its checks.

Before writing a row, its resources are looked up by their identifiers in one batch of
searches; those stored with the same content are left out of the row's transaction, and a
row with nothing left is counted unchanged.  So importing a file again adds no versions, and
a patient's second stay in the file does not rewrite the Patient the first one wrote.

Every problem goes to the error report, a CSV file (row, column, value, problem; UTF-8 with
a BOM so Excel shows the Chinese), written next to the input (`NAME.errors.csv`) unless
another path is given, and written on every run, so an old report never outlives a clean
import.
"""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yilian.auth.principal import Principal
from yilian.fhir.bundle import ReferenceMap
from yilian.fhir.outcome import OutcomeError
from yilian.ingest.frontsheet.read import FileRefused, open_table
from yilian.ingest.frontsheet.resources import bundle
from yilian.ingest.frontsheet.rows import FrontSheet, Problem, check_row, column_label
from yilian.router import FhirRequest, FhirRouter
from yilian.store.base import Partition

__all__ = ["FileRefused", "FrontSheetReport", "import_frontsheet", "report_path_for"]

REPORT_HEADER = ("row", "column", "value", "problem")


@dataclass(slots=True)
class FrontSheetReport:
    """What an import did: rows read, loaded (created or changed), unchanged, failed; the
    problems (every one; they are in the report file too) and where the report was written."""

    path: Path
    report_path: Path
    rows_read: int = 0
    loaded: int = 0
    unchanged: int = 0
    failed: int = 0
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.rows_read} rows read: {self.loaded} loaded, {self.unchanged} unchanged, "
            f"{self.failed} failed"
        )


def report_path_for(path: Path) -> Path:
    """Where the error report of `path` goes by default: beside it, `NAME.errors.csv`."""
    return path.with_name(f"{path.stem}.errors.csv")


Progress = Callable[[FrontSheetReport], Awaitable[None]]


async def import_frontsheet(
    router: FhirRouter,
    path: Path,
    institution: str,
    *,
    report_path: Path | None = None,
    principal: Principal | None = None,
    progress: Progress | None = None,
) -> FrontSheetReport:
    """Import `path` into `institution`'s partition; returns the report (also on disk).

    Raises FileRefused (after writing the report) when the file cannot be imported at all:
    unreadable, required columns missing, an institution that is not registered, or a
    report that cannot be written."""
    report = FrontSheetReport(path, report_path or report_path_for(path))
    try:
        report.report_path.parent.mkdir(parents=True, exist_ok=True)
        out = report.report_path.open("w", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise FileRefused(
            f"cannot write the error report {report.report_path}: {exc.strerror or exc}"
        ) from exc
    with out:
        sink = csv.writer(out)
        sink.writerow(REPORT_HEADER)

        def problem(p: Problem) -> None:
            report.problems.append(p)
            sink.writerow((p.row, p.column, p.value, p.problem))

        try:
            await _check_institution(router, institution)
            table = open_table(path)
        except FileRefused as refused:
            for name in refused.missing:
                problem(Problem(0, name, "", "required column missing"))
            if not refused.missing:
                problem(Problem(0, "", "", str(refused)))
            raise
        for name in table.header.repeated:
            problem(Problem(1, name, "", "column named twice; only its first appearance is read"))
        loader = _RowLoader(router, institution, principal)
        seen: dict[str, int] = {}
        for row in table.rows:
            report.rows_read += 1
            checked = check_row(row, table.header)
            if isinstance(checked, FrontSheet) and checked.visit in seen:
                key = "visit_number" if "visit_number" in row.values else "mrn"
                checked = [
                    Problem(
                        row.number,
                        column_label(key),
                        checked.visit,
                        f"visit {checked.visit} already appears in row {seen[checked.visit]} of this file",
                    )
                ]
            if isinstance(checked, list):
                report.failed += 1
                for p in checked:
                    problem(p)
            else:
                seen[checked.visit] = row.number
                try:
                    changed = await loader.load(checked)
                except OutcomeError as error:
                    report.failed += 1
                    problem(Problem(row.number, "", "", f"refused by the server: {error}"))
                else:
                    if changed:
                        report.loaded += 1
                    else:
                        report.unchanged += 1
            if progress is not None:
                await progress(report)
    return report


async def _check_institution(router: FhirRouter, institution: str) -> None:
    partitions: list[Partition] = await router.repository.list_partitions()
    if institution not in {p.code for p in partitions}:
        raise FileRefused(
            f"institution {institution!r} is not registered (yilian institution add {institution} --name ...)"
        )


class _RowLoader:
    """Runs one checked row through the router: a batch of searches for what is stored under
    the row's identifiers, then a transaction of the resources that are new or changed."""

    def __init__(self, router: FhirRouter, institution: str, principal: Principal | None) -> None:
        self.router = router
        self.institution = institution
        self.principal = principal

    def _request(self, method: str, body: dict[str, Any] | None, headers: dict[str, str]) -> FhirRequest:
        return FhirRequest(
            method=method,
            path=(),
            partition=self.institution,
            headers=headers,
            body=body,
            principal=self.principal,
        )

    async def load(self, sheet: FrontSheet) -> bool:
        """Write what of `sheet` is not stored already; whether anything was written.

        A resource stored with the same content is left out of the transaction (no new
        version), and references to it point at its id; references to resources found
        under their identifiers point at their ids too, which is what the transaction's
        conditional PUTs would resolve them to.  A resource whose identifier matches more
        than one stored resource stays in, and the transaction refuses it (412)."""
        entries = bundle(sheet, self.institution)["entry"]
        stored = await self._stored(entries)
        found = ReferenceMap(
            {
                e["fullUrl"]: f"{s['resourceType']}/{s['id']}"
                for e, s in zip(entries, stored, strict=True)
                if s
            }
        )
        changed: list[dict[str, Any]] = []
        for entry, current in zip(entries, stored, strict=True):
            wanted, _ = found.rewrite(entry["resource"])
            if current is not None and wanted == {
                k: v for k, v in current.items() if k not in ("id", "meta")
            }:
                continue
            changed.append({**entry, "resource": wanted})
        if not changed:
            return False
        transaction = {"resourceType": "Bundle", "type": "transaction", "entry": changed}
        headers = {"content-type": "application/fhir+json", "prefer": "return=minimal"}
        await self.router.handle(self._request("POST", transaction, headers))
        return True

    async def _stored(self, entries: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """The resource stored under each entry's identifier (its conditional PUT's search),
        None when there is none or more than one."""
        searches = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": e["request"]["url"]}} for e in entries],
        }
        response = await self.router.handle(self._request("POST", searches, {}))
        answers = (response.body or {}).get("entry", [])
        if len(answers) != len(entries):
            return [None] * len(entries)
        stored: list[dict[str, Any] | None] = []
        for answer in answers:
            matches = (answer.get("resource") or {}).get("entry") or []
            stored.append(matches[0]["resource"] if len(matches) == 1 else None)
        return stored
