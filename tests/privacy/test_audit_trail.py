"""The audit trail: AuditEvent content for allowed and refused accesses, the queue (flush on
close, a full queue written by the request, the background writer), on both backends."""

from __future__ import annotations

import base64

import anyio
import pytest
from tests.privacy.audit_support import DOCTOR, KEY, PATIENT, access, sql

from yilian.auth.principal import Principal
from yilian.privacy.audit import AuditTrail, outcome_code, verify_chain
from yilian.privacy.audit_event import BREAK_GLASS_REASON_URL, audit_entry, patients_of
from yilian.privacy.model import AccessRecord
from yilian.store.base import Repository

pytestmark = pytest.mark.anyio


def test_outcome_codes_follow_the_http_status() -> None:
    assert [outcome_code(s) for s in (200, 201, 304, 400, 401, 403, 404, 409, 500, 503)] == [
        "0", "0", "0", "4", "8", "8", "4", "4", "12", "12",
    ]  # fmt: skip


def test_an_allowed_read_as_an_audit_event() -> None:
    record = access(7, patient="li")
    entry = audit_entry(record)
    event = entry.json()
    assert event["resourceType"] == "AuditEvent"
    assert event["type"]["code"] == "rest"
    assert event["subtype"] == [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}]
    assert (event["action"], event["outcome"], event["recorded"]) == ("R", "0", record.recorded)
    assert "outcomeDesc" not in event and "meta" not in event
    (agent,) = event["agent"]
    assert agent["requestor"] is True
    assert agent["who"]["identifier"]["value"] == "dr-wang"
    assert agent["who"]["identifier"]["assigner"]["identifier"]["value"] == "clinic-a"
    assert agent["role"][0]["coding"][0]["code"] == "doctor"
    assert agent["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    whats = [e.get("what", {}).get("reference") for e in event["entity"]]
    assert whats == [None, "Observation/o7", "Patient/li"]
    assert event["entity"][0]["role"]["code"] == "24"
    assert event["entity"][0]["description"] == "read Observation/o7"
    assert event["entity"][2]["role"]["code"] == "1"
    assert (entry.subject, entry.institution, entry.outcome) == ("dr-wang", "clinic-a", "0")
    assert entry.patients == ("li",)


def test_a_refusal_has_outcome_8_and_the_denial_detail() -> None:
    record = AccessRecord(
        principal=Principal("dr-zhao", "doctor", institution="clinic-b"),
        interaction="search-type",
        partition="clinic-a",
        outcome=403,
        resource_type="Observation",
        query="patient=Patient%2Fli&_include=Observation%3Asubject",
        detail="no active consent for clinic-b",
        recorded="2026-03-01T10:00:00.000000+00:00",
    )
    entry = audit_entry(record)
    event = entry.json()
    assert event["outcome"] == "8" and entry.outcome == "8"
    assert event["outcomeDesc"] == "HTTP 403: no active consent for clinic-b"
    assert event["subtype"][0]["code"] == "search-type" and event["action"] == "R"
    assert base64.b64decode(event["entity"][0]["query"]).decode() == record.query
    assert entry.patients == ("li",)  # the patient the refused query was about
    assert event["source"]["site"] == "clinic-a"


def test_break_the_glass_is_labelled_with_its_reason() -> None:
    principal = Principal(
        "dr-er", "doctor", institution="clinic-b", purpose="emergency", break_glass_reason="unconscious"
    )
    record = AccessRecord(principal, "read", "clinic-a", 200, "Patient", "li", break_glass=True)
    event = audit_entry(record).json()
    assert event["meta"]["security"][0]["code"] == "BTG"
    assert event["extension"] == [{"url": BREAK_GLASS_REASON_URL, "valueString": "unconscious"}]
    assert [c["coding"][0]["code"] for c in event["purposeOfEvent"]] == ["ETREAT", "BTG"]


def test_patients_come_from_the_policy_the_entities_and_the_query() -> None:
    record = AccessRecord(
        DOCTOR,
        "search-type",
        None,
        200,
        "Observation",
        query="subject=Patient%2Fa&patient=b,Patient/c",
        entities=("Patient/d", "Observation/o"),
        patients=("e",),
    )
    assert patients_of(record) == ("a", "b", "c", "d", "e")
    assert patients_of(AccessRecord(PATIENT, "read", None, 200, "Patient", "li")) == ("li",)


async def test_close_flushes_what_is_queued(repo: Repository) -> None:
    trail = AuditTrail(repo, signing_key=KEY, flush_interval=3600, checkpoint_every=1000)
    for i in range(25):
        await trail.record(access(i))
    assert trail.pending == 25 and (await repo.audit_head()).seq == 0  # nothing written yet
    await trail.close()
    assert trail.pending == 0 and trail.written == 25
    assert (await repo.audit_head()).seq == 25
    assert [c.seq for c in await repo.audit_checkpoints()] == [25]  # sealed on close
    assert (await verify_chain(repo, KEY)).ok


async def test_a_full_queue_is_written_by_the_request_itself(repo: Repository) -> None:
    trail = AuditTrail(repo, signing_key=KEY, flush_interval=3600, max_pending=4, checkpoint_every=2)
    for i in range(3):
        await trail.record(access(i))
    assert (await repo.audit_head()).seq == 0
    await trail.record(access(3))  # the fourth fills the queue: written before record returns
    assert trail.pending == 0 and (await repo.audit_head()).seq == 4
    assert [c.seq for c in await repo.audit_checkpoints()] == [2, 4]
    await trail.close()


async def test_the_background_writer_flushes_without_close(repo: Repository) -> None:
    trail = AuditTrail(repo, signing_key=KEY, flush_interval=0.01)
    for i in range(5):
        await trail.record(access(i))
    with anyio.fail_after(30):
        while (await repo.audit_head()).seq < 5:
            await anyio.sleep(0.01)
    assert trail.pending == 0
    await trail.record(access(5))  # the writer stopped when idle; a new record restarts it
    with anyio.fail_after(30):
        while (await repo.audit_head()).seq < 6:
            await anyio.sleep(0.01)
    await trail.close()
    assert (await verify_chain(repo, KEY)).entries == 6


async def test_the_trail_stamps_the_time_when_the_record_has_none(repo: Repository) -> None:
    trail = AuditTrail(repo, signing_key=KEY)
    await trail.record(AccessRecord(DOCTOR, "capabilities", None, 200))
    await trail.close()
    (logged,) = await repo.audit_entries()
    assert logged.entry.recorded.startswith("20") and logged.entry.json()["recorded"] == logged.entry.recorded


def _truncate_after(url: str, seq: int) -> None:
    """Delete every entry after `seq` and move the chain head back to it, by direct SQL: what
    someone with write access to the database would do to hide the newest accesses."""
    ((kept,),) = sql(url, "SELECT hash FROM audit_log WHERE seq = ?", [seq])
    sql(url, "DELETE FROM audit_patient WHERE seq > ?", [seq])
    sql(url, "DELETE FROM audit_log WHERE seq > ?", [seq])
    sql(url, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", [seq, kept])


async def _written(repo: Repository, trail: AuditTrail, n: int) -> None:
    """Record `n` more accesses and wait until the background writer has appended them."""
    target = (await repo.audit_head()).seq + n
    for i in range(n):
        await trail.record(access(i))
    with anyio.fail_after(30):
        while (await repo.audit_head()).seq < target:
            await anyio.sleep(0.01)


async def _sealed(repo: Repository, seq: int) -> list[int]:
    """Wait until a checkpoint at `seq` or later exists; the checkpoints' seqs."""
    with anyio.fail_after(30):
        while not (seqs := [c.seq for c in await repo.audit_checkpoints()]) or seqs[-1] < seq:
            await anyio.sleep(0.01)
    return seqs


async def test_a_checkpoint_by_time_seals_the_tail_so_truncating_it_is_detected(
    store_url: str, repo: Repository
) -> None:
    trail = AuditTrail(
        repo, signing_key=KEY, flush_interval=0.01, checkpoint_every=1000, checkpoint_seconds=0.05
    )
    await _written(repo, trail, 5)
    assert await _sealed(repo, 5) == [5]  # no count checkpoint is due: the clock sealed entry 5
    assert (await verify_chain(repo, KEY)).ok
    _truncate_after(store_url, 3)
    report = await verify_chain(repo, KEY)
    assert not report.ok and report.first_bad_seq == 4
    assert "sealed by a checkpoint, were removed" in report.problem
    await trail.close()


async def test_without_a_checkpoint_the_unsealed_tail_can_vanish_unnoticed(
    store_url: str, repo: Repository
) -> None:
    """The window the time checkpoints bound (the AuditTrail docstring): entries written
    since the last checkpoint can be cut off together with the head, undetected."""
    trail = AuditTrail(
        repo, signing_key=KEY, flush_interval=0.01, checkpoint_every=1000, checkpoint_seconds=3600
    )
    await _written(repo, trail, 5)
    assert await repo.audit_checkpoints() == []
    _truncate_after(store_url, 3)
    report = await verify_chain(repo, KEY)
    assert report.ok and report.entries == 3
    await trail.close()


async def test_the_writer_keeps_sealing_as_new_entries_arrive(repo: Repository) -> None:
    trail = AuditTrail(repo, signing_key=KEY, flush_interval=0.01, checkpoint_seconds=0.05)
    await _written(repo, trail, 3)
    assert await _sealed(repo, 3) == [3]
    await _written(repo, trail, 3)  # the writer stopped once all was sealed; this restarts it
    assert await _sealed(repo, 6) == [3, 6]
    await trail.close()
    assert (await verify_chain(repo, KEY)).ok


def test_a_trail_needs_a_key() -> None:
    with pytest.raises(ValueError, match="signing key"):
        AuditTrail(None, signing_key=b"")  # type: ignore[arg-type]
