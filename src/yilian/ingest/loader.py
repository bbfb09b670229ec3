"""Records -> the store, in batches: validate, give ids, `Session.bulk_load`, count.

Each batch (`batch_size` resources, 1,000 by default) is one database transaction, so a batch
is stored whole or not at all.  Reading, parsing and validating a batch run in a worker thread,
so a server importing in the background keeps answering requests between batches.

* A record the validator rejects (R4 structure errors, a patient-privacy Consent yilian could
  not enforce; the same checks a create runs) becomes a `Problem`, and so does a resource the
  store refuses (its id is held by another institution).
* A resource without an id gets one derived from its content and the partition (a name-based
  UUID of the sha-256 of its canonical JSON): a re-run of the same file then finds it again
  instead of creating a duplicate.  Two identical id-less resources are one resource; a changed
  id-less resource is a new resource (it has nothing else to be recognised by), so exports
  meant to be re-imported should carry ids.
* A batch the store rejects as a whole for a bad value (e.g. text PostgreSQL cannot hold) is
  retried one resource at a time, so only the bad resource is reported; a batch that meets an
  id created concurrently is retried once.  Any other failure (database down, disk full) stops
  the load with `LoadFailed`: the batches before it stay committed, and running the import again
  finishes the rest without duplicates (the committed ones come back `unchanged`).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson

from yilian.fhir.outcome import IssueSeverity, IssueType, Outcome, OutcomeError
from yilian.fhir.validation import validate_resource
from yilian.ingest.records import DEFAULT_MAX_LINE_BYTES, Problem, Record, read_file
from yilian.ingest.report import LoadReport
from yilian.privacy.consent import check_consent
from yilian.store.base import LoadedResource, Repository, Scope

__all__ = ["LoadFailed", "Loader", "LoaderOptions"]

_ID_NAMESPACE = uuid.UUID("6f1c2f4e-7d0b-4c55-9a44-3b7b1f0d2a61")


@dataclass(frozen=True, slots=True)
class LoaderOptions:
    batch_size: int = 1000
    validate: bool = True
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


class LoadFailed(Exception):
    """The store failed in a way retrying the batch cannot fix; the message says where."""


ProblemSink = Callable[[Problem], None]
ProgressHook = Callable[[LoadReport], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Batch:
    records: list[Record]
    problems: list[Problem]
    offset: int  # of the last item read
    done: bool  # the input is exhausted


class Loader:
    """Loads into `partition` with write access `scope` (see the module docstring)."""

    def __init__(
        self,
        repository: Repository,
        partition: str,
        scope: Scope,
        options: LoaderOptions | None = None,
        *,
        problems: ProblemSink | None = None,
        progress: ProgressHook | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        self.repository = repository
        self.partition = partition
        self.scope = scope
        self.options = options or LoaderOptions()
        self.report = LoadReport()
        self._sink = problems
        self._progress = progress
        self._cancelled = cancelled
        self._bytes_before = 0  # of the files finished earlier

    async def load_file(
        self, path: Path, *, source: str | None = None, resource_type: str | None = None
    ) -> None:
        """Load one NDJSON or JSON file (records.read_file)."""
        size = path.stat().st_size
        items = read_file(
            path, source=source, resource_type=resource_type, max_line_bytes=self.options.max_line_bytes
        )
        await self.load(items)
        self._bytes_before += size
        self.report.bytes_done = self._bytes_before

    async def load(self, items: Iterable[Record | Problem]) -> None:
        """Load records (reporting problems) until `items` ends or the load is cancelled.
        The next batch is read and validated in a worker thread while this one is written."""
        source = iter(items)
        carry: list[Record] = []
        batch = await anyio.to_thread.run_sync(self._prepare, source, [])
        while True:
            if self._cancelled is not None and self._cancelled():
                self.report.cancelled = True
                return
            for problem in batch.problems:
                self._problem(problem)
            records = carry + batch.records
            keys = [_key(r.resource) for r in records]
            carry = []
            if len(set(keys)) != len(keys):  # the same resource twice: the later line in the next batch
                first = _first_repeat(keys)
                records, carry = records[:first], records[first:]
            ahead = None
            if not batch.done:
                ahead = asyncio.ensure_future(anyio.to_thread.run_sync(self._prepare, source, []))
            try:
                if records:
                    await self._write(records)
            finally:
                if ahead is not None and not ahead.done():
                    await asyncio.wait([ahead])  # a worker thread cannot be interrupted
            self.report.records += len(records) + len(batch.problems)
            self.report.bytes_done = self._bytes_before + batch.offset
            if self._progress is not None:
                await self._progress(self.report)
            if ahead is None:
                if not carry:
                    return
                batch = _Batch([], [], batch.offset, True)
            else:
                batch = ahead.result()

    # -- the pieces -----------------------------------------------------------------------------
    def _prepare(self, source: Iterator[Record | Problem], carry: list[Record]) -> _Batch:
        """Read up to a batch of records, validating them (runs in a worker thread)."""
        records: list[Record] = list(carry)
        problems: list[Problem] = []
        offset = 0
        for item in source:
            offset = item.offset
            if isinstance(item, Problem):
                problems.append(item)
            else:
                checked = self._check(item)
                if isinstance(checked, Problem):
                    problems.append(checked)
                else:
                    records.append(checked)
            if len(records) >= self.options.batch_size:
                return _Batch(records, problems, offset, False)
        return _Batch(records, problems, offset, True)

    def _check(self, record: Record) -> Record | Problem:
        resource = record.resource
        try:
            check_consent(resource)
        except OutcomeError as refused:
            return Problem(record.source, record.line, tuple(refused.issues), record.offset, record.unit)
        if self.options.validate:
            errors = [
                i
                for i in validate_resource(resource)
                if i.severity in (IssueSeverity.ERROR, IssueSeverity.FATAL)
            ]
            if errors:
                return Problem(record.source, record.line, tuple(errors), record.offset, record.unit)
        if not isinstance(resource.get("id"), str):
            resource = {**resource, "id": self.content_id(resource)}
            return Record(record.source, record.line, resource, record.offset, record.unit)
        return record

    def content_id(self, resource: dict[str, Any]) -> str:
        """The id of an id-less resource: stable for the same content in the same partition."""
        canonical = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(self.partition.encode() + b"\x00" + canonical).digest()
        return str(uuid.UUID(bytes=digest[:16], version=5))

    async def _write(self, records: list[Record]) -> None:
        try:
            results = await self._bulk(records)
        except OutcomeError as failed:
            if failed.kind == Outcome.CONFLICT:  # an id created concurrently: it exists now
                try:
                    results = await self._bulk(records)
                except OutcomeError:
                    results = await self._one_by_one(records)
            else:
                results = await self._one_by_one(records)
        except Exception as exc:
            raise LoadFailed(_failure(records, exc)) from exc
        self._count(records, results)

    async def _bulk(self, records: list[Record]) -> list[LoadedResource | Problem]:
        async with self.repository.transaction() as session:
            loaded = await session.bulk_load([r.resource for r in records], self.partition, self.scope)
        return list(loaded)

    async def _one_by_one(self, records: list[Record]) -> list[LoadedResource | Problem]:
        """Isolate the resource the store refused: each in a transaction of its own."""
        out: list[LoadedResource | Problem] = []
        for record in records:
            try:
                out += await self._bulk([record])
            except OutcomeError as refused:
                out.append(
                    Problem(record.source, record.line, tuple(refused.issues), record.offset, record.unit)
                )
            except Exception as exc:
                raise LoadFailed(_failure([record], exc)) from exc
        return out

    def _count(self, records: list[Record], results: list[LoadedResource | Problem]) -> None:
        for record, result in zip(records, results, strict=True):
            if isinstance(result, Problem):
                self._problem(result)
                continue
            counts = self.report.counts(result.resource_type)
            if result.status == "refused":
                counts.refused += 1
                self._problem(
                    Problem.of(
                        record.source, record.line, result.message, IssueType.CONFLICT, unit=record.unit
                    )
                )
            elif result.status == "created":
                counts.created += 1
            elif result.status == "updated":
                counts.updated += 1
            else:
                counts.unchanged += 1

    def _problem(self, problem: Problem) -> None:
        self.report.problem(problem)
        if self._sink is not None:
            self._sink(problem)


def _key(resource: dict[str, Any]) -> tuple[str, str]:
    return str(resource["resourceType"]), str(resource["id"])


def _first_repeat(keys: list[tuple[str, str]]) -> int:
    seen: set[tuple[str, str]] = set()
    for index, key in enumerate(keys):
        if key in seen:
            return index
        seen.add(key)
    return len(keys)


def _failure(records: list[Record], exc: Exception) -> str:
    first, last = records[0], records[-1]
    where = f"{first.source} {first.unit} {first.line}"
    if last is not first:
        where += f" to {last.source} {last.unit} {last.line}"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"the database failed while storing {where} ({detail}); the resources before them are "
        "stored, and running the import again finishes the rest without duplicates"
    )
