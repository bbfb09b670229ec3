"""Tampering with the audit log by direct SQL, on SQLite and PostgreSQL: every change is
detected and the report names the exact first bad entry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson
import pytest
from tests.privacy.audit_support import KEY, event_bytes, event_param, fill, sql

from yilian.privacy.audit import verify_chain
from yilian.privacy.audit_chain import signature_of
from yilian.store.audit_log import entry_hash
from yilian.store.base import Repository
from yilian.store.factory import open_repository

pytestmark = pytest.mark.anyio

ENTRIES = 10  # checkpoints at 4 and 8 (every 4) and 10 (the head, on close)


@pytest.fixture
async def logged(store_url: str) -> AsyncIterator[tuple[str, Repository]]:
    repository = open_repository(store_url)
    await repository.open()
    try:
        await fill(repository, ENTRIES)
        yield store_url, repository
    finally:
        await repository.close()


def change_event(url: str) -> None:
    (raw,) = sql(url, "SELECT event FROM audit_log WHERE seq = 5")[0]
    event = orjson.loads(event_bytes(raw))
    event["outcome"] = "8"
    sql(url, "UPDATE audit_log SET event = ? WHERE seq = 5", [event_param(url, orjson.dumps(event))])


def delete_row(url: str) -> None:
    sql(url, "DELETE FROM audit_log WHERE seq = 5")


def swap_rows(url: str) -> None:
    sql(url, "UPDATE audit_log SET seq = -1 WHERE seq = 3")
    sql(url, "UPDATE audit_log SET seq = 3 WHERE seq = 6")
    sql(url, "UPDATE audit_log SET seq = 6 WHERE seq = -1")


def change_hash(url: str) -> None:
    sql(url, "UPDATE audit_log SET hash = ? WHERE seq = 7", ["ab" * 32])


def change_subject(url: str) -> None:
    """Hide an access from an agent search without touching the event."""
    sql(url, "UPDATE audit_log SET subject = 'someone-else' WHERE seq = 2")


def drop_patient(url: str) -> None:
    """Hide an access from the patient's own listing."""
    sql(url, "DELETE FROM audit_patient WHERE seq = 6")


def forge_checkpoint(url: str) -> None:
    sql(url, "UPDATE audit_checkpoint SET signature = ? WHERE seq = 8", ["00" * 32])


def insert_forged_checkpoint(url: str) -> None:
    (h,) = sql(url, "SELECT hash FROM audit_log WHERE seq = 2")[0]
    sql(url, "INSERT INTO audit_checkpoint (seq, hash, signature, created) VALUES (2, ?, 'f00d', 'x')", [h])


def rewrite_with_recomputed_hashes(url: str) -> None:
    """Alter entry 6 and recompute every later hash: the chain alone verifies again, the
    checkpoint at 8 (signed with a key the attacker lacks) does not."""
    change = {"outcome": "4"}
    rows = sql(url, "SELECT seq, prev_hash, event FROM audit_log WHERE seq >= 6 ORDER BY seq")
    prev = rows[0][1]
    for seq, _, raw in rows:
        event = orjson.loads(event_bytes(raw))
        if seq == 6:
            event.update(change)
            sql(url, "UPDATE audit_log SET event = ? WHERE seq = 6", [event_param(url, orjson.dumps(event))])
        entry = _stored_entry(url, seq)
        digest = entry_hash(prev, seq, entry)
        sql(url, "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", [prev, digest, seq])
        prev = digest
    sql(url, "UPDATE audit_head SET hash = ? WHERE id = 1", [prev])


def truncate_tail(url: str) -> None:
    """Delete the last two entries and move the head back: only the head checkpoint tells."""
    (h,) = sql(url, "SELECT hash FROM audit_log WHERE seq = 8")[0]
    sql(url, "DELETE FROM audit_log WHERE seq > 8")
    sql(url, "UPDATE audit_head SET seq = 8, hash = ? WHERE id = 1", [h])


def _stored_entry(url: str, seq: int):  # type: ignore[no-untyped-def]
    from yilian.store.audit_log import AuditEntry

    row = sql(
        url,
        "SELECT recorded, subject, role, institution, partition, outcome, event FROM audit_log WHERE seq = ?",
        [seq],
    )[0]
    patients = tuple(sorted(r[0] for r in sql(url, "SELECT patient FROM audit_patient WHERE seq = ?", [seq])))
    return AuditEntry(row[0], row[1], row[2], row[3], row[4], row[5], patients, event_bytes(row[6]))


TAMPERING: list[tuple[Callable[[str], None], int, str]] = [
    (change_event, 5, "altered"),
    (delete_row, 5, "removed"),
    (swap_rows, 3, "reordered"),
    (change_hash, 7, "altered"),
    (change_subject, 2, "altered"),
    (drop_patient, 6, "altered"),
    (forge_checkpoint, 8, "forged"),
    (insert_forged_checkpoint, 2, "forged"),
    (rewrite_with_recomputed_hashes, 8, "rewritten"),
    (truncate_tail, 9, "removed"),
]


async def test_an_untouched_log_verifies(logged: tuple[str, Repository]) -> None:
    _, repository = logged
    report = await verify_chain(repository, KEY)
    assert report.ok, report.summary()
    assert (report.entries, report.head_seq, report.checkpoints) == (ENTRIES, ENTRIES, 3)
    assert "intact" in report.summary() and "signatures checked" in report.summary()


@pytest.mark.parametrize(("tamper", "first_bad", "word"), TAMPERING, ids=[t[0].__name__ for t in TAMPERING])
async def test_tampering_is_detected_at_the_first_bad_entry(
    logged: tuple[str, Repository], tamper: Callable[[str], None], first_bad: int, word: str
) -> None:
    url, repository = logged
    tamper(url)
    report = await verify_chain(repository, KEY)
    assert not report.ok
    assert report.first_bad_seq == first_bad, report.summary()
    assert word in report.problem, report.problem


async def test_without_the_key_hashes_are_checked_but_not_signatures(logged: tuple[str, Repository]) -> None:
    url, repository = logged
    forge_checkpoint(url)
    unkeyed = await verify_chain(repository, None)
    assert unkeyed.ok and not unkeyed.signatures_checked
    assert "NOT checked" in unkeyed.summary()
    change_hash(url)
    assert (await verify_chain(repository, None)).first_bad_seq == 7


async def test_a_wrong_key_rejects_every_checkpoint(logged: tuple[str, Repository]) -> None:
    _, repository = logged
    report = await verify_chain(repository, b"another key")
    assert report.first_bad_seq == 4 and "forged" in report.problem
    checkpoints = await repository.audit_checkpoints()
    assert all(c.signature == signature_of(KEY, c.seq, c.hash) for c in checkpoints)
