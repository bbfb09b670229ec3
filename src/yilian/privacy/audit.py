"""The audit trail: every access and refusal becomes an AuditEvent in a hash-chained log.

`AuditTrail` is the `AuditSink` the router tells about every interaction.  The request path
only stamps the record's time and appends it to an in-memory queue; a background task
(started lazily on the running asyncio loop) turns queued records into AuditEvents
(`audit_event`) and appends them in batches, each batch in its own transaction, through
`Repository.append_audit`, which chains them (store/audit_log.py).  Every `checkpoint_every`
entries, and when the trail closes, it signs a checkpoint of the chain (HMAC-SHA256 under the
configured key, see `audit_chain`).

The trade-off, bounded: entries still queued when the process dies are lost.  At most
`flush_interval` seconds of accesses (and never more than `max_pending` entries) are at risk,
because the writer flushes at that interval; when the queue is full, `record` writes the queue
itself before returning (the request waits) rather than drop an entry.  A failed write (the
database unreachable) keeps the entries queued and is retried; it never fails the request.
`close()` flushes everything and seals the chain with a checkpoint, so a clean shutdown loses
nothing.

AuditEvent: http://hl7.org/fhir/R4/auditevent.html.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from yilian.fhir.search.dates import now_instant
from yilian.privacy.audit_chain import VerifyReport, sign_checkpoint, verify_chain
from yilian.privacy.audit_event import audit_entry, audit_event, outcome_code
from yilian.privacy.keyring import load_keyring
from yilian.privacy.model import AccessRecord
from yilian.privacy.redaction import query_redactor
from yilian.store.base import Repository

if TYPE_CHECKING:
    from yilian.config import Settings

__all__ = ["AuditTrail", "VerifyReport", "audit_event", "outcome_code", "verify_chain"]

log = logging.getLogger("yilian.audit")


class AuditTrail:
    """An `AuditSink` writing a hash-chained log through `repository` (see the module
    docstring for the queue, its bounds and what a crash can lose)."""

    def __init__(
        self,
        repository: Repository,
        *,
        signing_key: bytes,
        checkpoint_every: int = 1000,
        flush_interval: float = 0.2,
        max_pending: int = 10_000,
        batch_size: int = 500,
        redact_query: Callable[[str], str] | None = None,
    ) -> None:
        if not signing_key:
            raise ValueError("the audit trail needs a signing key for its checkpoints")
        self._redact_query = redact_query
        if checkpoint_every < 1 or max_pending < 1 or batch_size < 1 or flush_interval <= 0:
            raise ValueError("checkpoint_every, max_pending, batch_size and flush_interval must be positive")
        self.repository = repository
        self._key = signing_key
        self._every = checkpoint_every
        self._interval = flush_interval
        self._max_pending = max_pending
        self._batch = batch_size
        self._pending: deque[tuple[str, AccessRecord]] = deque()  # (recorded, record)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
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
        if self._redact_query is not None and record.query:
            record = dataclasses.replace(record, query=self._redact_query(record.query))
        self._pending.append((record.recorded or now_instant(), record))
        if len(self._pending) >= self._max_pending:
            try:
                await self.flush()
            except Exception:
                log.exception(
                    "audit: writing a full queue failed; %d entries stay queued", len(self._pending)
                )
            return
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

    async def _run(self) -> None:
        """Flush every `flush_interval` while anything is queued, then stop (restarted by the
        next `record`)."""
        while self._pending:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("audit: writing %d entries failed; retrying", len(self._pending))

    async def flush(self) -> None:
        """Write what is queued when the call starts, in batches of `batch_size`, each in one
        transaction.  Records queued meanwhile wait for the next flush: under steady load the
        writer then wakes once per `flush_interval` with a full batch, instead of chasing every
        new record with a transaction of its own.  A failed batch goes back to the front of the
        queue and the error propagates."""
        async with self._bind():
            remaining = len(self._pending)
            while remaining > 0 and self._pending:
                take = min(self._batch, remaining, len(self._pending))
                remaining -= take
                records = [self._pending.popleft() for _ in range(take)]
                try:
                    links = await self.repository.append_audit([audit_entry(r, at) for at, r in records])
                except BaseException:
                    self._pending.extendleft(reversed(records))
                    raise
                self.written += len(links)
                for link in links:
                    if link.seq % self._every == 0:
                        await self.repository.add_audit_checkpoint(sign_checkpoint(self._key, link))

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
            await self.repository.add_audit_checkpoint(sign_checkpoint(self._key, head))

    async def verify(self) -> VerifyReport:
        """`verify_chain` under this trail's key."""
        return await verify_chain(self.repository, self._key)
