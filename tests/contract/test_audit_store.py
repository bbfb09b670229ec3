"""The audit-log half of the repository contract, on SQLite and PostgreSQL: appending chains
entries, concurrent appenders never fork the chain, search and checkpoints."""

from __future__ import annotations

import anyio
import orjson
import pytest

from yilian.store.audit_log import GENESIS_HASH, AuditCheckpoint, AuditEntry, AuditQuery, entry_hash
from yilian.store.base import Repository
from yilian.store.factory import open_repository

pytestmark = pytest.mark.anyio


def entry(n: int, *, subject: str = "dr-wang", institution: str | None = "clinic-a", outcome: str = "0",
          patients: tuple[str, ...] = ("p1",), day: int = 1) -> AuditEntry:  # fmt: skip
    return AuditEntry(
        recorded=f"2026-03-{day:02d}T10:00:00.000000+00:00",
        subject=subject,
        role="doctor",
        institution=institution,
        partition=institution,
        outcome=outcome,
        patients=patients,
        event=orjson.dumps({"resourceType": "AuditEvent", "n": n}),
    )


async def test_append_numbers_and_chains_entries(repo: Repository) -> None:
    assert (await repo.audit_head()).seq == 0
    first = await repo.append_audit([entry(1), entry(2, patients=("p1", "p2"))])
    second = await repo.append_audit([entry(3)])
    assert [link.seq for link in first + second] == [1, 2, 3]
    stored = await repo.audit_entries()
    assert [e.seq for e in stored] == [1, 2, 3]
    prev = GENESIS_HASH
    for logged in stored:
        assert logged.prev_hash == prev
        assert logged.hash == entry_hash(prev, logged.seq, logged.entry)
        prev = logged.hash
    assert stored[1].entry.patients == ("p1", "p2")
    assert stored[0].entry.json() == {"resourceType": "AuditEvent", "n": 1}
    head = await repo.audit_head()
    assert (head.seq, head.hash) == (3, stored[-1].hash) == (second[0].seq, second[0].hash)
    assert [e.seq for e in await repo.audit_entries(after_seq=1, limit=1)] == [2]
    assert await repo.append_audit([]) == []


async def test_concurrent_appenders_in_separate_pools_never_fork_the_chain(store_url: str) -> None:
    """Three repositories on one database stand for three worker processes."""
    repos = [open_repository(store_url) for _ in range(3)]
    for r in repos:
        await r.open()
    try:

        async def writer(r: Repository, w: int) -> None:
            for b in range(8):
                await r.append_audit([entry(w * 100 + b * 10 + i) for i in range(5)])

        async with anyio.create_task_group() as tg:
            for w, r in enumerate(repos):
                tg.start_soon(writer, r, w)
        stored = await repos[0].audit_entries(limit=1000)
        assert [e.seq for e in stored] == list(range(1, 121))
        prev = GENESIS_HASH
        for logged in stored:
            assert logged.prev_hash == prev and logged.hash == entry_hash(prev, logged.seq, logged.entry)
            prev = logged.hash
        assert sorted(e.entry.json()["n"] for e in stored) == sorted(
            w * 100 + b * 10 + i for w in range(3) for b in range(8) for i in range(5)
        )
    finally:
        for r in repos:
            await r.close()


async def test_search_by_patient_subject_site_date_and_outcome(repo: Repository) -> None:
    await repo.append_audit(
        [
            entry(1, patients=("p1",), day=1),
            entry(2, patients=("p2",), day=2, subject="dr-zhao", institution="clinic-b"),
            entry(3, patients=("p1", "p2"), day=3, outcome="8"),
            entry(4, patients=(), day=4, subject="dr-zhao", institution=None),
        ]
    )

    async def seqs(**kw: object) -> list[int]:
        page = await repo.search_audit(AuditQuery(**kw))  # type: ignore[arg-type]
        return [e.seq for e in page.entries]

    assert await seqs() == [4, 3, 2, 1]  # newest first
    assert await seqs(patient="p1") == [3, 1]
    assert await seqs(patient="p2") == [3, 2]
    assert await seqs(patient="nobody") == []
    assert await seqs(subject="dr-zhao") == [4, 2]
    assert await seqs(sites=frozenset({"clinic-b"})) == [2]
    assert await seqs(sites=frozenset({"clinic-a"})) == [3, 1]
    days = ((">=", "2026-03-02T00:00:00.000000"), ("<", "2026-03-04T00:00:00.000000"))
    assert await seqs(recorded=days) == [3, 2]
    assert await seqs(outcomes=frozenset({"8"})) == [3]
    assert await seqs(patient="p2", subject="dr-wang") == [3]
    page = await repo.search_audit(AuditQuery(count=2, offset=1))
    assert [e.seq for e in page.entries] == [3, 2] and page.total == 4
    assert (await repo.search_audit(AuditQuery(patient="p1", count=1))).total == 2


async def test_checkpoints_are_kept_once_per_seq(repo: Repository) -> None:
    await repo.append_audit([entry(1), entry(2)])
    head = await repo.audit_head()
    await repo.add_audit_checkpoint(AuditCheckpoint(2, head.hash, "sig-1", "2026-03-01T00:00:00+00:00"))
    await repo.add_audit_checkpoint(AuditCheckpoint(2, head.hash, "sig-2", "2026-03-01T00:00:01+00:00"))
    await repo.add_audit_checkpoint(AuditCheckpoint(1, "h1", "sig-0", "2026-03-01T00:00:02+00:00"))
    assert [(c.seq, c.signature) for c in await repo.audit_checkpoints()] == [(1, "sig-0"), (2, "sig-1")]
