"""Tampering with the audit log by direct SQL, on SQLite and PostgreSQL: every change is
detected and the report names the exact first bad entry."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable

import orjson
import pytest
from tests.privacy.audit_support import KEY, event_bytes, event_param, fill, sql

from yilian.privacy.audit import verify_chain
from yilian.privacy.audit_chain import key_id, signature_of, split_signature
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


async def test_a_wrong_key_is_told_apart_from_tampering(logged: tuple[str, Repository]) -> None:
    url, repository = logged
    report = await verify_chain(repository, b"another key")
    assert not report.ok and not report.tampered and report.wrong_key, report.summary()
    assert report.other_key == (4, key_id(KEY)) and report.key_id == key_id(b"another key")
    assert "forged" not in report.problem and "BROKEN" not in report.summary()
    assert f"signed with key {key_id(KEY)}, not with the key given ({key_id(b'another key')})" in (
        report.summary()
    )
    checkpoints = await repository.audit_checkpoints()
    assert all(
        split_signature(c.signature) == (key_id(KEY), signature_of(KEY, c.seq, c.hash)) for c in checkpoints
    )
    change_event(url)  # the hashes need no key: tampering is still tampering
    tampered = await verify_chain(repository, b"another key")
    assert tampered.tampered and tampered.first_bad_seq == 5 and "altered" in tampered.problem


async def test_a_key_id_names_the_key_without_revealing_it() -> None:
    assert key_id(KEY) == key_id(KEY) != key_id(b"another key")
    assert len(key_id(KEY)) == 16 and int(key_id(KEY), 16) >= 0
    assert KEY.hex() not in key_id(KEY) and hashlib.sha256(KEY).hexdigest()[:16] != key_id(KEY)


async def test_a_checkpoint_naming_the_key_given_but_not_matching_is_forged(
    logged: tuple[str, Repository],
) -> None:
    url, repository = logged
    sql(url, "UPDATE audit_checkpoint SET signature = ? WHERE seq = 8", [f"{key_id(KEY)}:{'00' * 32}"])
    report = await verify_chain(repository, KEY)
    assert report.tampered and report.first_bad_seq == 8
    assert "forged" in report.problem and "does not match its entries" in report.problem


async def test_a_checkpoint_whose_key_id_was_edited_is_tampering(logged: tuple[str, Repository]) -> None:
    url, repository = logged
    (stored,) = sql(url, "SELECT signature FROM audit_checkpoint WHERE seq = 4")[0]
    sql(
        url,
        "UPDATE audit_checkpoint SET signature = ? WHERE seq = 4",
        ["0" * 16 + ":" + stored.split(":")[1]],
    )
    report = await verify_chain(repository, KEY)
    assert report.tampered and report.first_bad_seq == 4 and "key id was altered" in report.problem


def write_as_before_key_ids(url: str) -> None:
    """What a yilian without key ids wrote: the checkpoint signature is the HMAC alone."""
    for seq, digest in sql(url, "SELECT seq, hash FROM audit_checkpoint"):
        sql(
            url,
            "UPDATE audit_checkpoint SET signature = ? WHERE seq = ?",
            [signature_of(KEY, seq, digest), seq],
        )


async def test_checkpoints_written_before_key_ids_still_verify(logged: tuple[str, Repository]) -> None:
    url, repository = logged
    write_as_before_key_ids(url)
    assert all(split_signature(c.signature)[0] is None for c in await repository.audit_checkpoints())
    report = await verify_chain(repository, KEY)
    assert report.ok and report.signatures_checked, report.summary()
    await fill(repository, 3)  # a newer server appends checkpoints with key ids to the old chain
    kinds = {split_signature(c.signature)[0] for c in await repository.audit_checkpoints()}
    assert kinds == {None, key_id(KEY)}
    assert (await verify_chain(repository, KEY)).ok
    wrong = await verify_chain(repository, b"another key")
    assert wrong.tampered and wrong.first_bad_seq == 4  # no key id: cannot be told from a forgery
    assert "forged" in wrong.problem and "unknown" in wrong.problem
    change_event(url)
    assert (await verify_chain(repository, KEY)).first_bad_seq == 5
