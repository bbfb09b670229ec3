"""The audit log over any SQL backend: append (chaining), read in order, search, checkpoints.

Appending reads the chain head row `audit_head` with the dialect's row lock (PostgreSQL:
`SELECT ... FOR UPDATE`, so concurrent appenders in several worker processes queue on that one
row; SQLite: the single writer, `BEGIN IMMEDIATE`, which also excludes other processes), numbers
and hashes the entries after it, and writes the rows (multi-row INSERTs), their patient rows
and the new head in one batch and one transaction.  The chain can therefore never fork, and a
failed append leaves nothing behind.  See store/audit_log.py for the hash and schema.py
(migration 4) for the tables.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.dates import normalize_instant
from yilian.store.audit_log import (
    RECORDED_OPERATORS,
    AuditCheckpoint,
    AuditEntry,
    AuditLink,
    AuditPage,
    AuditQuery,
    LoggedAuditEntry,
    entry_hash,
)
from yilian.store.base import Repository
from yilian.store.sql.connection import Connection
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import Sql

__all__ = ["SqlAuditLog", "append_entries", "search_log"]

_INSERT_LOG = (
    "INSERT INTO audit_log (seq, recorded, recorded_key, subject, role, institution, partition, outcome, "
    "prev_hash, hash, event) VALUES "
)
_INSERT_PATIENT = "INSERT INTO audit_patient (patient, seq) VALUES "
_UPDATE_HEAD = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1"
_MAX_PARAMS = 50
"""Parameters per multi-row INSERT (4 log rows, 25 patient rows): psycopg converts and caches
statements of up to 50 parameters once, larger ones on every call, which costs more than the
rows save; SQLite gains most of what larger statements would give it."""


@functools.lru_cache(maxsize=64)
def _values(insert: str, width: int, rows: int) -> str:
    row = "(" + ", ".join(["?"] * width) + ")"
    return insert + ", ".join([row] * rows)


def _multi_row(insert: str, rows: list[tuple[object, ...]]) -> list[tuple[str, list[tuple[object, ...]]]]:
    """`rows` as multi-row INSERTs of a fixed size (and one for the rest), each statement run
    once: the database parses and plans one statement per chunk instead of one per row, and the
    fixed sizes keep the statement caches (SQLite's, psycopg's prepared ones) warm."""
    if not rows:
        return []
    width = len(rows[0])
    per = max(1, _MAX_PARAMS // width)
    return [
        (_values(insert, width, len(chunk)), [tuple(v for row in chunk for v in row)])
        for chunk in (rows[i : i + per] for i in range(0, len(rows), per))
    ]


def _columns(d: Dialect) -> str:
    return (
        "l.seq, l.prev_hash, l.hash, l.recorded, l.subject, l.role, l.institution, l.partition, l.outcome, "
        + d.content_column("l.event")
    )


def _recorded_key(recorded: str) -> str:
    """The fixed-width UTC search key of an instant; the trail's own stamps (UTC, with
    microseconds) are already that, plus the zone."""
    if len(recorded) == 32 and recorded.endswith("+00:00") and recorded[10] == "T":
        return recorded[:26]
    try:
        return normalize_instant(recorded)
    except ValueError as exc:
        raise OutcomeError.invalid(f"audit entry recorded {recorded!r}: {exc}") from None


async def append_entries(conn: Connection, d: Dialect, entries: Sequence[AuditEntry]) -> list[AuditLink]:
    """Chain `entries` after the locked head and write them (see the module docstring)."""
    if not entries:
        return []
    head = await conn.fetchone(Sql(f"SELECT seq, hash FROM audit_head WHERE id = 1{d.for_update}"))
    if head is None:
        raise RuntimeError("the audit_head row is missing: the audit log schema is damaged")
    seq, prev = int(head[0]), str(head[1])
    log_rows: list[tuple[object, ...]] = []
    patient_rows: list[tuple[object, ...]] = []
    links: list[AuditLink] = []
    for entry in entries:
        seq += 1
        key = _recorded_key(entry.recorded)
        digest = entry_hash(prev, seq, entry)
        log_rows.append(
            (
                seq,
                entry.recorded,
                key,
                entry.subject,
                entry.role,
                entry.institution,
                entry.partition,
                entry.outcome,
                prev,
                digest,
                d.content_param(entry.event),
            )
        )
        patient_rows += [(patient, seq) for patient in sorted(set(entry.patients))]
        links.append(AuditLink(seq, digest))
        prev = digest
    await conn.batch(
        [
            *_multi_row(_INSERT_LOG, log_rows),
            *_multi_row(_INSERT_PATIENT, patient_rows),
            (_UPDATE_HEAD, [(seq, prev)]),
        ]
    )
    return links


async def _patients(conn: Connection, d: Dialect, seqs: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not seqs:
        return found
    rows = await conn.fetchall(
        Sql("SELECT seq, patient FROM audit_patient WHERE ") + d.in_list("seq", list(seqs))
    )
    for seq, patient in rows:
        found.setdefault(int(seq), []).append(str(patient))
    return found


async def _logged(conn: Connection, d: Dialect, rows: list[tuple[Any, ...]]) -> list[LoggedAuditEntry]:
    patients = await _patients(conn, d, [int(r[0]) for r in rows])
    out = []
    for r in rows:
        event = r[9] if isinstance(r[9], bytes) else str(r[9]).encode()
        entry = AuditEntry(
            recorded=r[3],
            subject=r[4],
            role=r[5],
            institution=r[6],
            partition=r[7],
            outcome=r[8],
            patients=tuple(sorted(patients.get(int(r[0]), []))),
            event=event,
        )
        out.append(LoggedAuditEntry(int(r[0]), str(r[1]), str(r[2]), entry))
    return out


async def read_entries(conn: Connection, d: Dialect, after_seq: int, limit: int) -> list[LoggedAuditEntry]:
    rows = await conn.fetchall(
        Sql(
            f"SELECT {_columns(d)} FROM audit_log l WHERE l.seq > ? ORDER BY l.seq LIMIT ?",
            (after_seq, limit),
        )
    )
    return await _logged(conn, d, rows)


def _where(d: Dialect, query: AuditQuery) -> Sql:
    parts: list[Sql] = []
    if query.patient is not None:
        parts.append(
            Sql("l.seq IN (SELECT p.seq FROM audit_patient p WHERE p.patient = ?)", (query.patient,))
        )
    if query.subject is not None:
        parts.append(Sql("l.subject = ?", (query.subject,)))
    if query.sites is not None:
        sites = sorted(query.sites)
        parts.append(Sql.any_of([d.in_list("l.institution", sites), d.in_list("l.partition", sites)]))
    for operator, bound in query.recorded:
        if operator not in RECORDED_OPERATORS:
            raise ValueError(f"unknown recorded operator {operator!r}")
        parts.append(Sql(f"l.recorded_key {operator} ?", (bound,)))
    if query.outcomes is not None:
        parts.append(d.in_list("l.outcome", sorted(query.outcomes)))
    return Sql.all_of(parts)


async def search_log(conn: Connection, d: Dialect, query: AuditQuery) -> AuditPage:
    """The page of `query` (newest first) and the number of matching entries."""
    where = _where(d, query)
    total_row = await conn.fetchone(Sql("SELECT COUNT(*) FROM audit_log l WHERE ") + where)
    rows = await conn.fetchall(
        Sql(f"SELECT {_columns(d)} FROM audit_log l WHERE ")
        + where
        + Sql(" ORDER BY l.seq DESC LIMIT ? OFFSET ?", (max(query.count, 0), max(query.offset, 0)))
    )
    return AuditPage(await _logged(conn, d, rows), int(total_row[0]) if total_row else 0)


class SqlAuditLog(Repository):
    """The audit-log half of the SQL Repository (mixed into SqlRepository)."""

    dialect: Dialect

    @abstractmethod
    def _connection(self, read_only: bool) -> AbstractAsyncContextManager[Connection]: ...

    async def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditLink]:
        if not entries:
            return []
        async with self._connection(False) as conn:
            return await append_entries(conn, self.dialect, entries)

    async def audit_entries(self, after_seq: int = 0, limit: int = 1000) -> list[LoggedAuditEntry]:
        async with self._connection(True) as conn:
            return await read_entries(conn, self.dialect, after_seq, limit)

    async def audit_head(self) -> AuditLink:
        async with self._connection(True) as conn:
            row = await conn.fetchone(Sql("SELECT seq, hash FROM audit_head WHERE id = 1"))
        if row is None:
            raise RuntimeError("the audit_head row is missing: the audit log schema is damaged")
        return AuditLink(int(row[0]), str(row[1]))

    async def add_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        async with self._connection(False) as conn:
            await conn.execute(
                Sql(
                    "INSERT INTO audit_checkpoint (seq, hash, signature, created) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (seq) DO NOTHING",
                    (checkpoint.seq, checkpoint.hash, checkpoint.signature, checkpoint.created),
                )
            )

    async def audit_checkpoints(self) -> list[AuditCheckpoint]:
        async with self._connection(True) as conn:
            rows = await conn.fetchall(
                Sql("SELECT seq, hash, signature, created FROM audit_checkpoint ORDER BY seq")
            )
        return [AuditCheckpoint(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    async def search_audit(self, query: AuditQuery) -> AuditPage:
        async with self._connection(True) as conn:
            return await search_log(conn, self.dialect, query)
