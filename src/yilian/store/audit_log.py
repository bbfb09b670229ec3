"""The values of the audit log the Repository keeps, and the one hash that chains them.

The log is append-only and hash-chained: the store numbers each appended entry (`seq`, 1, 2,
...), gives it the hash of the entry before it (`prev_hash`; the first entry follows
`GENESIS_HASH`) and its own `hash = SHA-256(prev_hash || canonical JSON of the entry)`, all
inside the appending transaction, so two appenders can never fork the chain.  The canonical
JSON covers every column a search reads (subject, institution, partition, outcome, patients,
recorded) as well as the AuditEvent itself, so changing what a search finds breaks the chain
just as changing the event does.  `privacy.audit_chain` recomputes the same hash to verify.

AuditEvent: http://hl7.org/fhir/R4/auditevent.html.  The signed checkpoints are written by the
audit trail, which holds the key; the store only keeps them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "GENESIS_HASH",
    "RECORDED_OPERATORS",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditLink",
    "AuditPage",
    "AuditQuery",
    "LoggedAuditEntry",
    "canonical_entry",
    "entry_hash",
]

GENESIS_HASH = "0" * 64
"""The `prev_hash` of entry 1."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit event as handed to `Repository.append_audit` (the store assigns its place).

    `recorded` is the FHIR instant of the access; `outcome` the AuditEvent outcome code
    (`0`, `4`, `8`, `12`); `patients` the Patient ids whose records were touched; `event` the
    AuditEvent JSON (orjson bytes)."""

    recorded: str
    subject: str
    role: str
    institution: str | None
    partition: str | None
    outcome: str
    patients: tuple[str, ...]
    event: bytes

    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = orjson.loads(self.event)
        return loaded


@dataclass(frozen=True, slots=True)
class LoggedAuditEntry:
    """An entry as stored: its place in the chain and its hashes."""

    seq: int
    prev_hash: str
    hash: str
    entry: AuditEntry


@dataclass(frozen=True, slots=True)
class AuditLink:
    """A position in the chain: an entry's seq and hash (the head after an append)."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class AuditCheckpoint:
    """A signature over (seq, hash) made by the holder of the audit key: entries up to `seq`
    can no longer be rewritten, even with every hash recomputed, without the key.  The
    signature is `key id:HMAC`, or the HMAC alone in checkpoints written before key ids
    (privacy/audit_chain.py)."""

    seq: int
    hash: str
    signature: str
    created: str


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A search over the log, newest first.  `sites` keeps entries whose agent institution or
    accessed partition is one of the codes (None: any); `recorded` holds (operator, bound)
    pairs over the fixed-width UTC form of fhir.search.model (`>=`, `>`, `<=`, `<`)."""

    patient: str | None = None
    subject: str | None = None
    sites: frozenset[str] | None = None
    recorded: tuple[tuple[str, str], ...] = ()
    outcomes: frozenset[str] | None = None
    count: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[LoggedAuditEntry]
    total: int


RECORDED_OPERATORS = frozenset({">=", ">", "<=", "<"})


def canonical_entry(seq: int, entry: AuditEntry) -> bytes:
    """The canonical JSON of an entry: sorted keys, no whitespace, and the event's own bytes
    as stored (written canonical by the trail: orjson with sorted keys), so any change to the
    stored event, even of its formatting, changes the hash."""
    body = {
        "seq": seq,
        "recorded": entry.recorded,
        "subject": entry.subject,
        "role": entry.role,
        "institution": entry.institution,
        "partition": entry.partition,
        "outcome": entry.outcome,
        "patients": sorted(set(entry.patients)),
        "event": orjson.Fragment(entry.event),
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def entry_hash(prev_hash: str, seq: int, entry: AuditEntry) -> str:
    """SHA-256(prev_hash bytes || canonical JSON of the entry), as hex."""
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(canonical_entry(seq, entry))
    return digest.hexdigest()
