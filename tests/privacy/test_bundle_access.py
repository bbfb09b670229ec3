"""Batch and transaction Bundles under AlliancePolicy, on both backends: every entry is decided
and audited as if it had been sent alone (see policy_support.py for the world: clinic-b holds
p1 and p2, clinic-a holds pa, the Consent c1 opens p1 less PSY to clinic-a for treatment)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from tests.privacy.audit_support import KEY
from tests.privacy.policy_support import (
    DOCTOR_A,
    DOCTOR_B,
    PATIENT_1,
    SYSTEM,
    World,
    obs,
    scopes,
    user,
)

from yilian.fhir.outcome import OutcomeError
from yilian.privacy.audit import AuditTrail, verify_chain
from yilian.router import FhirRouter
from yilian.router.status import status_code
from yilian.store.base import DEFAULT_PARTITION, Scope

pytestmark = pytest.mark.anyio

RESEARCHER = user("researcher", purpose="research")


def get(url: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": url}}


def post(url: str, resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"request": {"method": "POST", "url": url, **request}, "resource": resource}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def statuses(response_body: dict[str, Any] | None) -> list[int]:
    assert response_body is not None
    return [int(e["response"]["status"].split()[0]) for e in response_body["entry"]]


async def refused(w: World, principal: Any, body: dict[str, Any], **kw: Any) -> OutcomeError:
    with pytest.raises(OutcomeError) as caught:
        await w.call(principal, "POST", "", body=body, **kw)
    return caught.value


async def partition_of(w: World, rtype: str, rid: str) -> str:
    async with w.repository.transaction(read_only=True) as s:
        return (await s.read(rtype, rid, Scope.everything())).partition


async def count(w: World, rtype: str) -> int:
    return (await w.ids(SYSTEM, rtype))[2] or 0


def created_id(entry: dict[str, Any]) -> tuple[str, str]:
    rtype, rid, *_ = entry["response"]["location"].split("/")
    return rtype, rid


# -- transactions ------------------------------------------------------------------------------


async def test_a_doctors_transaction_writes_into_the_doctors_institution(world: World) -> None:
    w = world
    tx = bundle(
        "transaction",
        post("Patient", {"resourceType": "Patient", "name": [{"family": "New"}]}, "urn:uuid:np"),
        post("Observation", {**obs("x", "10"), "subject": {"reference": "urn:uuid:np"}}),
    )
    for partition in (None, "clinic-a"):
        response = await w.call(DOCTOR_A, "POST", "", body=tx, partition=partition)
        assert statuses(response.body) == [201, 201]
        assert response.body is not None
        for entry in response.body["entry"]:
            assert await partition_of(w, *created_id(entry)) == "clinic-a"
    # through another institution's base the whole Bundle is refused, naming the entry
    before = await count(w, "Patient")
    error = await refused(w, DOCTOR_A, tx, partition="clinic-b")
    assert status_code(error.kind) == 403 and "Bundle.entry[0]" in str(error)
    assert await count(w, "Patient") == before


async def test_a_transaction_with_one_forbidden_entry_writes_nothing(world: World) -> None:
    w = world
    claim = {
        "resourceType": "Claim",
        "status": "active",
        "type": {"coding": [{"code": "institutional"}]},
        "use": "claim",
        "patient": {"reference": "Patient/pa"},
        "created": "2026-02-01",
        "provider": {"display": "A"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "x"}}],
    }
    tx = bundle(
        "transaction",
        {"request": {"method": "DELETE", "url": "Observation/oa1"}},
        post("Observation", obs("pa", "11")),
        post("Claim", claim),  # doctors do not write financial records
    )
    observations = await count(w, "Observation")
    error = await refused(w, DOCTOR_A, tx)
    assert status_code(error.kind) == 403
    assert "Bundle.entry[2]" in str(error) and error.issues[0].expression[0].startswith("Bundle.entry[2]")
    assert await count(w, "Observation") == observations
    assert (await w.status(SYSTEM, "GET", "Observation/oa1"))[0] == 200  # the DELETE never ran
    # the refusal is audited as the entry's and as the Bundle's
    denied = [r for r in w.sink.records if r.outcome == 403]
    assert [(r.interaction, r.resource_type) for r in denied] == [("create", "Claim"), ("bundle", None)]


async def test_conditional_references_resolve_only_what_the_caller_may_read(world: World) -> None:
    w = world

    def tx(reference: str) -> dict[str, Any]:
        return bundle(
            "transaction", post("Observation", {**obs("x", "12"), "subject": {"reference": reference}})
        )

    observations = await count(w, "Observation")
    # p2 lives in clinic-b and no Consent opens it to clinic-a: it is not there for doctor A
    error = await refused(w, DOCTOR_A, tx("Patient?_id=p2"))
    assert status_code(error.kind) == 400 and "matches no resource" in str(error)
    assert "Bundle.entry[0]" in str(error)
    assert await count(w, "Observation") == observations
    # the same reference from clinic-b's doctor finds its own patient
    response = await w.call(DOCTOR_B, "POST", "", body=tx("Patient?_id=p2"))
    assert response.body is not None
    _, rid = created_id(response.body["entry"][0])
    async with w.repository.transaction(read_only=True) as s:
        stored = await s.read("Observation", rid, Scope.everything())
    assert stored.json()["subject"]["reference"] == "Patient/p2" and stored.partition == "clinic-b"
    # under the Consent c1, p1 resolves for doctor A; the lookup is audited as a search
    w.sink.records.clear()
    response = await w.call(DOCTOR_A, "POST", "", body=tx("Patient?_id=p1"))
    assert statuses(response.body) == [201]
    lookups = [r for r in w.sink.records if r.interaction == "search-type"]
    assert [(r.resource_type, r.entities, r.outcome) for r in lookups] == [("Patient", ("Patient/p1",), 200)]
    # a reference to a type the role may not read is refused before anything is written
    error = await refused(w, DOCTOR_A, tx("Claim?_id=cb1"))
    assert status_code(error.kind) == 403 and "Bundle.entry[0]" in str(error)


async def test_if_none_exist_matches_only_inside_the_callers_institution(world: World) -> None:
    w = world
    tx = bundle("transaction", post("Patient", {"resourceType": "Patient"}, ifNoneExist="_id=p1"))
    response = await w.call(DOCTOR_A, "POST", "", body=tx)
    assert response.body is not None
    rtype, rid = created_id(response.body["entry"][0])
    assert statuses(response.body) == [201] and rid != "p1"  # p1 (clinic-b) is readable, not writable
    assert await partition_of(w, rtype, rid) == "clinic-a"


# -- batches -----------------------------------------------------------------------------------


async def test_a_doctors_batch_is_decided_entry_by_entry(world: World) -> None:
    w = world
    batch = bundle(
        "batch",
        get("Observation/oa1"),
        get("Claim/cb1"),  # not a doctor's type: refused by the policy
        get("Observation/ob3"),  # clinic-b's, no Consent: as hidden as when read directly
        post("Observation", obs("pa", "13")),
        get("Observation/ob1"),  # clinic-b's, open under c1
    )
    response = await w.call(DOCTOR_A, "POST", "", body=batch)
    assert statuses(response.body) == [200, 403, 404, 201, 200]
    assert response.body is not None
    entries = response.body["entry"]
    outcome = entries[1]["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "forbidden"
    assert "Bundle.entry[1]" in outcome["issue"][0]["diagnostics"]
    assert "resource" not in entries[2]
    assert await partition_of(w, *created_id(entries[3])) == "clinic-a"
    assert (await w.status(DOCTOR_A, "GET", "Observation/ob3"))[0] == 404  # the same answer alone


async def test_every_entry_is_audited_on_its_own(world: World) -> None:
    w = world
    batch = bundle("batch", get("Observation/ob1"), get("Claim/cb1"), get("Patient?_id=p1"))
    await w.call(DOCTOR_A, "POST", "", body=batch)
    seen = [(r.interaction, r.resource_type, r.resource_id, r.outcome, r.entities) for r in w.sink.records]
    assert seen == [
        ("read", "Observation", "ob1", 200, ("Observation/ob1",)),
        ("read", "Claim", "cb1", 403, ()),
        ("search-type", "Patient", None, 200, ("Patient/p1",)),
        ("bundle", None, None, 200, ()),
    ]
    assert all(r.principal == DOCTOR_A for r in w.sink.records)
    assert "may not read Claim" in w.sink.records[1].detail


async def test_a_patient_sees_bundle_entry_reads_of_their_record(world: World) -> None:
    w = world
    trail = AuditTrail(w.repository, signing_key=KEY, flush_interval=3600)
    w.router = FhirRouter(w.repository, policy=w.policy, audit=trail)
    try:
        await w.call(DOCTOR_A, "POST", "", body=bundle("batch", get("Observation/ob1"), get("Patient/p1")))
        tx = bundle(
            "transaction", post("Observation", {**obs("x", "14"), "subject": {"reference": "Patient?_id=p1"}})
        )
        await w.call(DOCTOR_A, "POST", "", body=tx)
        await trail.flush()
        listed = (await w.call(PATIENT_1, "GET", "AuditEvent", [("_count", "50")])).body or {}
        by_doctor = [
            e["resource"]
            for e in listed.get("entry", [])
            if e["search"]["mode"] == "match"
            and e["resource"]["agent"][0]["who"]["identifier"]["value"] == DOCTOR_A.subject
        ]
        # every entry that concerns p1 (the reads of Observation/ob1 and Patient/p1, the lookup
        # that resolved to p1, the Observation created about p1) is listed as a direct
        # interaction would be
        described = sorted(e["entity"][0]["description"] for e in by_doctor)
        assert described == [
            "create Observation",
            "read Observation/ob1",
            "read Patient/p1",
            "search-type Patient",
        ]
        # inside a Bundle the patient is still the patient: the log is narrowed to their record
        await trail.flush()
        direct = (await w.call(PATIENT_1, "GET", "AuditEvent", [("_count", "50")])).body or {}
        batch = (await w.call(PATIENT_1, "POST", "", body=bundle("batch", get("AuditEvent?_count=50")))).body
        assert batch is not None
        via_batch = batch["entry"][0]["resource"]
        assert via_batch["total"] == direct["total"] < 10
        await trail.flush()
        assert (await verify_chain(w.repository, KEY)).ok
    finally:
        await trail.close()


# -- the other roles ---------------------------------------------------------------------------


async def test_a_researcher_gets_directory_entries_only(world: World) -> None:
    w = world
    batch = bundle("batch", get("Organization"), get("Patient/p1"), post("Observation", obs("pa", "15")))
    response = await w.call(RESEARCHER, "POST", "", body=batch)
    assert statuses(response.body) == [200, 403, 403]
    tx = bundle("transaction", post("Observation", obs("pa", "15")))
    assert status_code((await refused(w, RESEARCHER, tx)).kind) == 403


async def test_a_patient_reads_their_own_compartment_and_writes_nothing(world: World) -> None:
    w = world
    batch = bundle(
        "batch", get("Observation/ob1"), get("Observation/ob3"), post("Observation", obs("p1", "16"))
    )
    response = await w.call(PATIENT_1, "POST", "", body=batch)
    assert statuses(response.body) == [200, 404, 403]
    observations = await count(w, "Observation")
    tx = bundle("transaction", get("Observation/ob1"), post("Observation", obs("p1", "16")))
    error = await refused(w, PATIENT_1, tx)
    assert status_code(error.kind) == 403 and "Bundle.entry[1]" in str(error)
    assert await count(w, "Observation") == observations


async def test_the_system_role_reads_and_writes_every_institution(world: World) -> None:
    w = world
    tx = bundle(
        "transaction",
        post("Patient", {"resourceType": "Patient"}, "urn:uuid:sp"),
        post("Observation", {**obs("x", "17"), "subject": {"reference": "urn:uuid:sp"}}),
        get("Observation/ob3"),
    )
    response = await w.call(SYSTEM, "POST", "", body=tx, partition="clinic-b")
    assert statuses(response.body) == [201, 201, 200]
    assert response.body is not None
    assert await partition_of(w, *created_id(response.body["entry"][0])) == "clinic-b"
    response = await w.call(SYSTEM, "POST", "", body=tx)
    assert response.body is not None
    assert await partition_of(w, *created_id(response.body["entry"][1])) == DEFAULT_PARTITION
    batch = bundle("batch", get("Observation/oa1"), get("Claim/cb1"))
    assert statuses((await w.call(SYSTEM, "POST", "", body=batch)).body) == [200, 200]
    # a system token without system/ scopes gets nothing from any entry
    not_system = replace(SYSTEM, scopes=scopes("user/*.cruds"))
    assert statuses((await w.call(not_system, "POST", "", body=batch)).body) == [403, 403]
