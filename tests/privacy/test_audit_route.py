"""`GET /fhir/AuditEvent?...` through the router: every interaction lands in the log, and the
log is read back as a searchset, narrowed by the caller's role (both backends)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.privacy.audit_support import ADMIN_A, ADMIN_B, DOCTOR, KEY, PATIENT, access
from tests.router.router_helpers import Client, patient

from yilian.auth.principal import Principal
from yilian.fhir.outcome import OutcomeError
from yilian.privacy.audit import AuditTrail, verify_chain
from yilian.router import FhirRouter
from yilian.router.status import status_code
from yilian.store.base import Partition, Repository
from yilian.store.factory import open_repository

pytestmark = pytest.mark.anyio

SYSTEM = Principal.development()


@pytest.fixture
async def setup(store_url: str) -> AsyncIterator[tuple[Repository, AuditTrail, Client]]:
    repository = open_repository(store_url)
    await repository.open()
    for code in ("clinic-a", "clinic-b"):
        await repository.add_partition(Partition(code, code))
    trail = AuditTrail(repository, signing_key=KEY, flush_interval=3600)
    try:
        yield repository, trail, Client(FhirRouter(repository, audit=trail))
    finally:
        await trail.close()
        await repository.close()


async def call(
    client: Client, principal: Principal, method: str, url: str, body: Any = None, **kw: Any
) -> dict[str, Any]:
    request = dataclasses.replace(client.request(method, url, body, **kw), principal=principal)
    response = await client.router.handle(request)
    assert response.body is not None
    return response.body


async def refused(client: Client, principal: Principal, url: str) -> int:
    request = dataclasses.replace(client.request("GET", url), principal=principal)
    with pytest.raises(OutcomeError) as caught:
        await client.router.handle(request)
    return status_code(caught.value.kind)


def events(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


async def test_every_interaction_and_refusal_is_logged_and_searchable(
    setup: tuple[Repository, AuditTrail, Client],
) -> None:
    repository, trail, client = setup
    created = await call(client, DOCTOR, "POST", "Patient", patient("Li"), partition="clinic-a")
    pid = created["id"]
    await call(client, DOCTOR, "GET", f"Patient/{pid}", partition="clinic-a")
    await call(client, DOCTOR, "GET", "Observation?patient=Patient/" + pid, partition="clinic-a")
    assert await client.status("GET", "Patient/missing", partition="clinic-a") == 404
    await trail.flush()

    mine = await call(client, SYSTEM, "GET", f"AuditEvent?patient=Patient/{pid}&_count=10")
    found = events(mine)
    assert mine["total"] == 3 and len(found) == 3
    assert [e["subtype"][0]["code"] for e in found] == ["search-type", "read", "create"]  # newest first
    assert [e["action"] for e in found] == ["R", "R", "C"]
    assert all(e["agent"][0]["who"]["identifier"]["value"] == "dr-wang" for e in found)
    assert [int(e["id"]) for e in found] == [3, 2, 1]
    assert mine["entry"][0]["fullUrl"].endswith("/AuditEvent/3")

    failures = events(await call(client, SYSTEM, "GET", "AuditEvent?outcome=4"))
    assert [e["outcomeDesc"][:8] for e in failures] == ["HTTP 404"]
    await trail.flush()
    page = await call(client, SYSTEM, "GET", "AuditEvent?_count=2")
    assert page["total"] == 6 and len(events(page)) == 2  # 4 above + the two searches of the log
    assert events(page)[0]["entity"][0]["description"] == "search-type AuditEvent"
    assert any(link["relation"] == "next" for link in page["link"])
    await trail.flush()
    assert (await verify_chain(repository, KEY)).ok


async def test_a_patient_lists_who_accessed_their_own_record_only(
    setup: tuple[Repository, AuditTrail, Client],
) -> None:
    repository, trail, client = setup
    await repository.append_audit(
        [a for a in map(_entry, (access(1, patient="li"), access(2, patient="wu"), access(3, patient="li")))]
    )
    listed = events(await call(client, PATIENT, "GET", "AuditEvent"))
    assert [e["entity"][1]["what"]["reference"] for e in listed] == ["Observation/o3", "Observation/o1"]
    assert len(events(await call(client, PATIENT, "GET", "AuditEvent?patient=li"))) == 2
    assert await refused(client, PATIENT, "AuditEvent?patient=wu") == 403
    assert await refused(client, Principal("pt-x", "patient"), "AuditEvent") == 403  # no Patient id
    await trail.flush()  # the refusals were audited too
    denied = events(await call(client, SYSTEM, "GET", "AuditEvent?outcome=8"))
    assert [e["agent"][0]["role"][0]["coding"][0]["code"] for e in denied] == ["patient", "patient"]


async def test_admins_search_their_institution_and_other_roles_are_refused(
    setup: tuple[Repository, AuditTrail, Client],
) -> None:
    repository, _, client = setup
    zhao = Principal("dr-zhao", "doctor", institution="clinic-b")
    await repository.append_audit(
        [_entry(access(1)), _entry(access(2, principal=zhao)), _entry(access(3, principal=DOCTOR))]
    )
    in_a = events(await call(client, ADMIN_A, "GET", "AuditEvent"))
    assert sorted(e["entity"][1]["what"]["reference"] for e in in_a) == ["Observation/o1", "Observation/o3"]
    in_b = events(await call(client, ADMIN_B, "GET", "AuditEvent?agent=dr-zhao"))
    assert [e["entity"][1]["what"]["reference"] for e in in_b] == ["Observation/o2"]
    assert events(await call(client, ADMIN_A, "GET", "AuditEvent?agent=dr-zhao")) == []
    assert await refused(client, ADMIN_A, "AuditEvent?site=clinic-b") == 403
    assert await refused(client, DOCTOR, "AuditEvent") == 403
    dated = events(await call(client, SYSTEM, "GET", "AuditEvent?date=ge2026-03-03&date=lt2026-03-04"))
    assert [e["recorded"][:10] for e in dated] == ["2026-03-03"]
    assert await client.status("GET", "AuditEvent?date=yesterday") == 400
    assert await client.status("GET", "AuditEvent?outcome=5") == 400


def _entry(record: Any) -> Any:
    from yilian.privacy.audit_event import audit_entry

    return audit_entry(record)


async def test_reads_of_a_patients_other_records_are_listed_for_that_patient(
    setup: tuple[Repository, AuditTrail, Client],
) -> None:
    """Reading an Observation about Li, or finding it by code, concerns Li: Li's listing shows it."""
    _, trail, client = setup
    li = {**patient("Li"), "id": "li"}
    await call(client, DOCTOR, "PUT", "Patient/li", li, partition="clinic-a")
    body = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
        "subject": {"reference": "Patient/li"},
        "performer": [{"reference": "Practitioner/x"}],
    }
    obs = await call(client, DOCTOR, "POST", "Observation", body, partition="clinic-a")
    await call(client, DOCTOR, "GET", f"Observation/{obs['id']}", partition="clinic-a")
    await call(client, DOCTOR, "GET", "Observation?code=8480-6", partition="clinic-a")
    await trail.flush()
    listed = events(await call(client, PATIENT, "GET", "AuditEvent?_count=20"))
    assert [e["subtype"][0]["code"] for e in listed] == ["search-type", "read", "create", "update"]
    for event in listed:
        assert {"reference": "Patient/li"} in [e.get("what") for e in event["entity"]]
