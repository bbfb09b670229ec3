"""Records -> the store, in batches: validate, give ids, `Session.bulk_load`, count.

Each batch (`batch_size` lines or entries, 1,000 by default) is one database transaction, so a
batch is stored whole or not at all.  Parsing, validating, stamping and turning a batch into
rows (the repository's `bulk_preparer`) never run on the event loop: a small input runs in a
worker thread; once an input needs a second batch, a pool of `workers` processes (spawned, one
per core by default) prepares the next batches while the database writes the current one, at
most `workers + 1` batches ahead, so memory stays flat whatever the input size.  A store whose
preparer cannot go to another process (an encrypting codec holds its keys in objects that
stay in this process) prepares in worker threads instead.

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
import os
import pickle
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal, NamedTuple

import anyio.to_thread
import orjson

from yilian.fhir import jsontext
from yilian.fhir.outcome import Issue, IssueSeverity, IssueType, Outcome, OutcomeError
from yilian.fhir.validation import validate_resource
from yilian.ingest.records import DEFAULT_MAX_LINE_BYTES, Line, Problem, Record, read_file
from yilian.ingest.report import LoadReport
from yilian.privacy.consent import check_consent
from yilian.store.base import BulkPreparer, LoadedResource, Repository, Scope

__all__ = ["LoadFailed", "Loader", "LoaderOptions", "Ready", "prepare_chunk"]

_ID_NAMESPACE = uuid.UUID("6f1c2f4e-7d0b-4c55-9a44-3b7b1f0d2a61")


@dataclass(frozen=True, slots=True)
class LoaderOptions:
    batch_size: int = 1000
    validate: bool = True
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    workers: int | None = None
    """Processes preparing batches (None: one per core; 0: worker threads only)."""


class LoadFailed(Exception):
    """The store failed in a way retrying the batch cannot fix; the message says where."""


ProblemSink = Callable[[Problem], None]
ProgressHook = Callable[[LoadReport], Awaitable[None]]
Item = Record | Problem | Line


class Ready(NamedTuple):
    """A checked resource of `source`/`line`, as the store's bulk load takes it: `payload` is
    the preparer's item (or the resource itself when the store has no preparer)."""

    source: str
    line: int
    offset: int
    unit: Literal["line", "entry"]
    resource_type: str
    id: str
    payload: object


@dataclass(frozen=True, slots=True)
class _Context:
    """What preparing a chunk needs besides its items (sent along to a worker process)."""

    partition: str
    validate: bool
    preparer: BulkPreparer | None


_Wire = tuple[Any, ...] | Record | Problem
"""An item on its way to or from a worker process: a Line or a Ready as a plain tuple
(pickled several times faster than a dataclass), records and problems as they are."""


def prepare_chunk(ctx: _Context, items: list[_Wire]) -> list[_Wire]:
    """Parse, check and prepare one chunk, in input order (runs in a worker): Lines come as
    their field tuples, Ready items go back as theirs."""
    out: list[_Wire | None] = []
    checked: list[tuple[int, Record]] = []
    for item in items:
        if isinstance(item, tuple):
            item = Line(*item).parse()
        if isinstance(item, Record):
            item = _check(item, ctx.partition, ctx.validate)
        if isinstance(item, Record):
            checked.append((len(out), item))
            out.append(None)
        else:
            out.append(item)
    for (position, record), payload in zip(checked, _prepare(ctx, [r for _, r in checked]), strict=True):
        resource = record.resource
        out[position] = (
            payload
            if isinstance(payload, Problem)
            else (
                record.source,
                record.line,
                record.offset,
                record.unit,
                str(resource["resourceType"]),
                str(resource["id"]),
                payload,
            )
        )
    return [x for x in out if x is not None]


def _prepare(ctx: _Context, records: list[Record]) -> list[object]:
    """The preparer's items for `records`; one it refuses becomes its Problem."""
    if ctx.preparer is None:
        return [r.resource for r in records]
    try:
        return ctx.preparer([r.resource for r in records], ctx.partition)
    except OutcomeError:
        out: list[object] = []
        for r in records:
            try:
                out += ctx.preparer([r.resource], ctx.partition)
            except OutcomeError as refused:
                out.append(_refused(r, refused.issues))
        return out


def _refused(record: Record, issues: Iterable[Issue]) -> Problem:
    rtype = record.resource.get("resourceType")
    return Problem(
        record.source,
        record.line,
        tuple(issues),
        record.offset,
        record.unit,
        rtype if isinstance(rtype, str) else None,
    )


def _check(record: Record, partition: str, validate: bool) -> Record | Problem:
    resource = record.resource
    try:
        check_consent(resource)
    except OutcomeError as refused:
        return _refused(record, refused.issues)
    if validate:
        errors = [
            i for i in validate_resource(resource) if i.severity in (IssueSeverity.ERROR, IssueSeverity.FATAL)
        ]
        if errors:
            return _refused(record, errors)
    if not isinstance(resource.get("id"), str):
        resource = {**resource, "id": content_id(partition, resource)}
        return Record(record.source, record.line, resource, record.offset, record.unit)
    return record


def content_id(partition: str, resource: dict[str, Any]) -> str:
    """The id of an id-less resource: stable for the same content in the same partition."""
    canonical = jsontext.dumps(resource, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(partition.encode() + b"\x00" + canonical).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


@dataclass(frozen=True, slots=True)
class _Chunk:
    items: list[Item]
    offset: int  # of the last item read
    done: bool  # the input is exhausted


class Loader:
    """Loads into `partition` with write access `scope` (see the module docstring).  Close it
    (`aclose`, or `async with`) to stop its worker processes at once; they also stop when it is
    garbage collected."""

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
        self._preparer = repository.bulk_preparer()
        self._context = _Context(partition, self.options.validate, self._preparer)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_usable: bool | None = None

    async def __aenter__(self) -> Loader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the worker processes (if any were started)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await anyio.to_thread.run_sync(lambda: pool.shutdown(wait=True, cancel_futures=True))

    async def load_file(
        self, path: Path, *, source: str | None = None, resource_type: str | None = None
    ) -> None:
        """Load one NDJSON or JSON file (records.read_file)."""
        size = path.stat().st_size
        items = read_file(
            path,
            source=source,
            resource_type=resource_type,
            max_line_bytes=self.options.max_line_bytes,
            lines=True,
        )
        await self.load(items)
        self._bytes_before += size
        self.report.bytes_done = self._bytes_before

    async def load(self, items: Iterable[Item]) -> None:
        """Load records and lines (reporting problems) until `items` ends or the load is
        cancelled.  Later batches are prepared while this one is written."""
        source = iter(items)
        ahead: deque[tuple[asyncio.Future[list[_Wire]], int]] = deque()
        exhausted = False
        chunks = 0

        async def fill() -> None:
            nonlocal exhausted, chunks
            while not exhausted and len(ahead) < self._depth(chunks):
                chunk = await anyio.to_thread.run_sync(self._read, source)
                exhausted = chunk.done
                chunks += 1
                ahead.append((self._submit(chunk.items, chunks), chunk.offset))

        carry: list[Ready] = []
        try:
            await fill()
            while ahead or carry:
                if self._cancelled is not None and self._cancelled():
                    self.report.cancelled = True
                    return
                results: list[_Wire] = []
                offset = self.report.bytes_done - self._bytes_before
                if ahead:
                    future, offset = ahead.popleft()
                    results = await future
                    await fill()
                problems = [x for x in results if isinstance(x, Problem)]
                for problem in problems:
                    self._problem(problem)
                ready = carry + [Ready._make(x) for x in results if isinstance(x, tuple)]
                keys = [(r.resource_type, r.id) for r in ready]
                carry = []
                if len(set(keys)) != len(keys):  # the same resource twice: the later line in the next batch
                    first = _first_repeat(keys)
                    ready, carry = ready[:first], ready[first:]
                if ready:
                    await self._write(ready)
                self.report.records += len(ready) + len(problems)
                self.report.bytes_done = self._bytes_before + offset
                if self._progress is not None:
                    await self._progress(self.report)
        finally:
            for future, _ in ahead:
                future.cancel()
            if ahead:
                await asyncio.wait([f for f, _ in ahead])  # a worker thread cannot be interrupted

    # -- the pieces -----------------------------------------------------------------------------
    def _read(self, source: Iterator[Item]) -> _Chunk:
        """Up to a batch of records or lines, and the problems among them (a worker thread)."""
        items: list[Item] = []
        count = 0
        offset = 0
        for item in source:
            items.append(item)
            offset = item.offset
            if not isinstance(item, Problem):
                count += 1
                if count >= self.options.batch_size:
                    return _Chunk(items, offset, False)
        return _Chunk(items, offset, True)

    def _workers(self) -> int:
        if self.options.workers is not None:
            return max(self.options.workers, 0)
        return os.cpu_count() or 1

    def _depth(self, chunks: int) -> int:
        """How many chunks to have in preparation: one until the input proves bigger."""
        return 1 if chunks == 0 and self._pool is None else max(self._workers(), 1) + 1

    def _submit(self, items: list[Item], number: int) -> asyncio.Future[list[_Wire]]:
        """Prepare a chunk in the process pool (from the second chunk on, when there is one)
        or in a worker thread."""
        wire: list[_Wire] = [
            (x.source, x.number, x.data, x.expected, x.offset) if isinstance(x, Line) else x for x in items
        ]
        executor = self._executor() if number > 1 or self._pool is not None else None
        if executor is not None:
            return asyncio.wrap_future(executor.submit(prepare_chunk, self._context, wire))
        return asyncio.ensure_future(anyio.to_thread.run_sync(prepare_chunk, self._context, wire))

    def _executor(self) -> Executor | None:
        if self._pool is not None:
            return self._pool
        if self._pool_usable is None:
            self._pool_usable = self._workers() > 0 and _picklable(self._context)
        if not self._pool_usable:
            return None
        pool = ProcessPoolExecutor(self._workers(), mp_context=get_context("spawn"))
        weakref.finalize(self, pool.shutdown, wait=False, cancel_futures=True)
        self._pool = pool
        return pool

    async def _write(self, records: list[Ready]) -> None:
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

    async def _bulk(self, records: list[Ready]) -> list[LoadedResource | Problem]:
        async with self.repository.transaction() as session:
            if self._preparer is not None:
                loaded = await session.bulk_load_prepared(
                    [r.payload for r in records], self.partition, self.scope
                )
            else:
                resources: list[dict[str, Any]] = [r.payload for r in records]  # type: ignore[misc]
                loaded = await session.bulk_load(resources, self.partition, self.scope)
        return list(loaded)

    async def _one_by_one(self, records: list[Ready]) -> list[LoadedResource | Problem]:
        """Isolate the resource the store refused: each in a transaction of its own."""
        out: list[LoadedResource | Problem] = []
        for record in records:
            try:
                out += await self._bulk([record])
            except OutcomeError as refused:
                out.append(
                    Problem(
                        record.source,
                        record.line,
                        tuple(refused.issues),
                        record.offset,
                        record.unit,
                        record.resource_type,
                    )
                )
            except Exception as exc:
                raise LoadFailed(_failure([record], exc)) from exc
        return out

    def _count(self, records: list[Ready], results: list[LoadedResource | Problem]) -> None:
        for record, result in zip(records, results, strict=True):
            if isinstance(result, Problem):
                self._problem(result)
                continue
            counts = self.report.counts(result.resource_type)
            if result.status == "refused":
                self._problem(
                    Problem.of(
                        record.source,
                        record.line,
                        result.message,
                        IssueType.CONFLICT,
                        unit=record.unit,
                        resource_type=result.resource_type,
                    )
                )
            elif result.status == "created":
                counts.created += 1
            elif result.status == "updated":
                counts.updated += 1
            else:
                counts.unchanged += 1

    def _problem(self, problem: Problem) -> None:
        if problem.resource_type is not None:
            self.report.counts(problem.resource_type).refused += 1
        self.report.problem(problem)
        if self._sink is not None:
            self._sink(problem)

    def content_id(self, resource: dict[str, Any]) -> str:
        """The id of an id-less resource: stable for the same content in the same partition."""
        return content_id(self.partition, resource)


def _picklable(value: object) -> bool:
    try:
        pickle.dumps(value)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    return True


def _key(resource: dict[str, Any]) -> tuple[str, str]:
    return str(resource["resourceType"]), str(resource["id"])


def _first_repeat(keys: list[tuple[str, str]]) -> int:
    seen: set[tuple[str, str]] = set()
    for index, key in enumerate(keys):
        if key in seen:
            return index
        seen.add(key)
    return len(keys)


def _failure(records: list[Ready], exc: Exception) -> str:
    first, last = records[0], records[-1]
    where = f"{first.source} {first.unit} {first.line}"
    if last is not first:
        where += f" to {last.source} {last.unit} {last.line}"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"the database failed while storing {where} ({detail}); the resources before them are "
        "stored, and running the import again finishes the rest without duplicates"
    )
