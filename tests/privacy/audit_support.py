"""Helpers of the audit tests: a populated log, and direct SQL on either backend (tampering
goes around the repository, as an attacker with database access would)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from yilian.auth.principal import Principal
from yilian.privacy.audit import AuditTrail
from yilian.privacy.model import AccessRecord
from yilian.store.base import Repository

KEY = b"test-audit-key"

DOCTOR = Principal("dr-wang", "doctor", institution="clinic-a", purpose="treatment")
PATIENT = Principal("pt-li", "patient", patient="li")
ADMIN_A = Principal("admin-a", "admin", institution="clinic-a")
ADMIN_B = Principal("admin-b", "admin", institution="clinic-b")


def access(
    n: int, *, principal: Principal = DOCTOR, outcome: int = 200, patient: str | None = None
) -> AccessRecord:
    """The n-th sample access: a read of Observation/o{n} of `patient` (default p{n % 3})."""
    pid = patient or f"p{n % 3}"
    return AccessRecord(
        principal=principal,
        interaction="read",
        partition=principal.institution,
        outcome=outcome,
        resource_type="Observation",
        resource_id=f"o{n}",
        entities=(f"Observation/o{n}",),
        patients=(pid,),
        recorded=f"2026-03-{1 + n % 28:02d}T10:00:00.000000+00:00",
    )


async def fill(repository: Repository, n: int, *, checkpoint_every: int = 4) -> AuditTrail:
    """A closed trail that wrote `n` sample accesses (checkpoints every `checkpoint_every`
    and one at the head)."""
    trail = AuditTrail(repository, signing_key=KEY, checkpoint_every=checkpoint_every, flush_interval=60)
    for i in range(1, n + 1):
        await trail.record(access(i))
    await trail.close()
    return trail


def sql(url: str, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement directly on the database of `url` (`?` placeholders), committed."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :])
        try:
            rows = conn.execute(statement, tuple(params)).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        cur = pg.execute(statement.replace("?", "%s").encode(), tuple(params))
        return cur.fetchall() if cur.description else []


def event_param(url: str, content: bytes) -> object:
    """How the event column takes `content` (TEXT on SQLite, BYTEA on PostgreSQL)."""
    return content.decode() if url.startswith("sqlite:") else content


def event_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
