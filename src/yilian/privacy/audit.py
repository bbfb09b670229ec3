"""The audit trail: every access and refusal becomes an AuditEvent in a hash-chained log.

`AuditTrail` is the `AuditSink` the router tells about every interaction.  The request path
only appends the record and the clock's reading to an in-memory queue: no JSON, no hashing,
no time formatting, no task or lock per request.  A background writer (started lazily on the
running asyncio loop, alive while anything is queued or unsealed) wakes every
`flush_interval`, turns what was queued into AuditEvents (`audit_event`) and appends them
through `Repository.append_audit`, which numbers and chains them and writes them with one
multi-row insert in one transaction per batch (store/sql/audit.py).  The chain's order is the
order of `record` calls: one flush runs at a time, taking records from the queue's front.

Checkpoints (HMAC-SHA256 under the configured key, see `audit_chain`) are signed every
`checkpoint_every` entries, at least every `checkpoint_seconds` while entries this trail wrote
are unsealed, and when the trail closes.  A checkpoint seals everything up to it: altering,
reordering or deleting a sealed entry, or truncating the log below a checkpoint, is found by
`verify_chain`.

What stays at risk, bounded:
* a crash loses the entries still queued: at most `flush_interval` seconds of accesses (never
  more than `max_pending` entries: when the queue is full, `record` writes it itself before
  returning, so the request waits rather than an entry being dropped);
* entries written but not yet sealed, at most `checkpoint_seconds` (plus one flush) of the
  newest ones, can be deleted together with an update of the chain head by someone with write
  access to the database without `verify_chain` noticing (they look never written).  Once the
  next checkpoint is signed, that deletion is detected.

A failed write (the database unreachable) keeps the entries queued and is retried; it never
fails the request.  `close()` flushes everything and seals the chain with a checkpoint at its
head, so a clean shutdown loses nothing and leaves nothing unsealed.

AuditEvent: http://hl7.org/fhir/R4/auditevent.html.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from yilian.privacy.audit_chain import VerifyReport, sign_checkpoint, verify_chain
from yilian.privacy.audit_event import audit_entry, audit_event, outcome_code
from yilian.privacy.keyring import load_keyring
from yilian.privacy.model import AccessRecord
from yilian.privacy.redaction import query_redactor
from yilian.store.audit_log import AuditEntry, AuditLink
from yilian.store.base import Repository

if TYPE_CHECKING:
    from yilian.config import Settings

__all__ = ["AuditTrail", "VerifyReport", "audit_event", "outcome_code", "verify_chain"]

log = logging.getLogger("yilian.audit")


def _instant(at: float) -> str:
    """A `time.time()` reading as the FHIR instant the server writes (UTC, microseconds)."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")


class AuditTrail:
    """An `AuditSink` writing a hash-chained log through `repository` (see the module
    docstring for the queue, the checkpoints, their bounds and what a crash can lose)."""

    def __init__(
        self,
        repository: Repository,
        *,
        signing_key: bytes,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 10.0,
        flush_interval: float = 0.2,
        max_pending: int = 10_000,
        batch_size: int = 500,
        redact_query: Callable[[str], str] | None = None,
    ) -> None:
        if not signing_key:
            raise ValueError("the audit trail needs a signing key for its checkpoints")
        if (
            checkpoint_every < 1
            or max_pending < 1
            or batch_size < 1
            or flush_interval <= 0
            or checkpoint_seconds <= 0
        ):
            raise ValueError(
                "checkpoint_every, checkpoint_seconds, max_pending, batch_size and flush_interval "
                "must be positive"
            )
        self.repository = repository
        self._redact_query = redact_query
        self._key = signing_key
        self._every = checkpoint_every
        self._seal_after = checkpoint_seconds
        self._interval = flush_interval
        self._max_pending = max_pending
        self._batch = batch_size
        self._pending: deque[tuple[AccessRecord, float]] = deque()  # (record, time.time())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._last: AuditLink | None = None  # the newest entry this trail wrote
        self._sealed_seq = 0  # the newest checkpoint this trail signed
        self._sealed_at = time.monotonic()
        self.written = 0
        """Entries this trail has appended (for tests and the benchmark)."""

    @classmethod
    def from_settings(cls, repository: Repository, settings: Settings) -> AuditTrail:
        """The trail a deployment configures (`audit_*` settings in config.py)."""
        keyring = load_keyring(settings.encryption_keys, settings.hmac_key, settings.encryption_key_file)
        return cls(
            repository,
            redact_query=query_redactor(keyring) if keyring is not None else None,
            signing_key=settings.audit_signing_key.encode(),
            checkpoint_every=settings.audit_checkpoint_every,
            checkpoint_seconds=settings.audit_checkpoint_seconds,
            flush_interval=settings.audit_flush_ms / 1000,
            max_pending=settings.audit_max_pending,
        )

    @property
    def pending(self) -> int:
        """Entries queued but not yet written."""
        return len(self._pending)

    # -- the request path ---------------------------------------------------------------------
    async def record(self, record: AccessRecord) -> None:
        """Queue `record`; write the queue now only when it is full.  Never raises."""
        pending = self._pending
        pending.append((record, time.time()))
        if len(pending) >= self._max_pending:
            try:
                await self.flush()
            except Exception:
                log.exception("audit: writing a full queue failed; %d entries stay queued", len(pending))
            return
        task = self._task
        if task is None or task.done():
            self._start_writer()

    # -- the writer ---------------------------------------------------------------------------
    def _bind(self) -> asyncio.Lock:
        """The lock of the running loop (a new loop, e.g. another test's, gets a new one)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._lock is None:
            self._loop, self._lock, self._task = loop, asyncio.Lock(), None
        return self._lock

    def _start_writer(self) -> None:
        self._bind()
        if self._task is None or self._task.done():
            assert self._loop is not None
            self._task = self._loop.create_task(self._run(), name="yilian-audit-writer")

    def _unsealed(self) -> bool:
        return self._last is not None and self._last.seq > self._sealed_seq

    async def _run(self) -> None:
        """Every `flush_interval`: write what is queued, and sign a checkpoint when entries
        written have waited `checkpoint_seconds` unsealed; stop when nothing is queued or
        unsealed (the next `record` starts a new writer)."""
        while self._pending or self._unsealed():
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("audit: writing %d entries failed; retrying", len(self._pending))

    def _entry(self, record: AccessRecord, at: float) -> AuditEntry:
        if self._redact_query is not None and record.query:
            record = dataclasses.replace(record, query=self._redact_query(record.query))
        return audit_entry(record, record.recorded or _instant(at))

    async def flush(self) -> None:
        """Write what is queued when the call starts, in batches of `batch_size`, each in one
        transaction, then sign the checkpoints that are due.  Records queued meanwhile wait for
        the next flush: under steady load the writer wakes once per `flush_interval` with one
        batch, instead of chasing every new record with a transaction of its own.  A failed
        batch goes back to the front of the queue and the error propagates."""
        async with self._bind():
            pending = self._pending
            remaining = len(pending)
            while remaining > 0 and pending:
                take = min(self._batch, remaining, len(pending))
                remaining -= take
                records = [pending.popleft() for _ in range(take)]
                try:
                    entries = [self._entry(r, at) for r, at in records]
                    links = await self.repository.append_audit(entries)
                except BaseException:
                    pending.extendleft(reversed(records))
                    raise
                self.written += len(links)
                if links:
                    self._last = links[-1]
                for link in links:
                    if link.seq % self._every == 0:
                        await self._seal(link)
            if self._unsealed() and time.monotonic() - self._sealed_at >= self._seal_after:
                assert self._last is not None
                await self._seal(self._last)

    async def _seal(self, link: AuditLink) -> None:
        await self.repository.add_audit_checkpoint(sign_checkpoint(self._key, link))
        self._sealed_seq = max(self._sealed_seq, link.seq)
        self._sealed_at = time.monotonic()

    async def close(self) -> None:
        """Stop the writer, write what is queued and sign a checkpoint at the chain's head."""
        async with self._bind():  # no batch is half-written while the writer is stopped
            task, self._task = self._task, None
            if task is not None:
                task.cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while self._pending:
            await self.flush()
        head = await self.repository.audit_head()
        if head.seq > 0:
            await self._seal(head)

    async def verify(self) -> VerifyReport:
        """`verify_chain` under this trail's key."""
        return await verify_chain(self.repository, self._key)
