"""metadata (CapabilityStatement), Patient/$everything and $validate."""

from __future__ import annotations

import pytest
from tests.router.router_helpers import BASE, Client, ids, link, observation, patient, relative

from yilian.fhir.definitions import registry
from yilian.fhir.outcome import Outcome
from yilian.router.resource_types import resource_types

pytestmark = pytest.mark.anyio


async def test_metadata_lists_every_type_and_what_is_supported(client: Client) -> None:
    body = (await client.call("GET", "metadata")).body
    assert body is not None and body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1" and body["status"] == "active" and body["kind"] == "instance"
    assert "json" in body["format"] and body["implementation"]["url"] == BASE
    rest = body["rest"][0]
    assert rest["mode"] == "server"
    assert {i["code"] for i in rest["interaction"]} == {
        "transaction",
        "batch",
        "search-system",
        "history-system",
    }
    by_type = {r["type"]: r for r in rest["resource"]}
    assert set(by_type) == set(resource_types()) and len(by_type) == 146
    patient_entry = by_type["Patient"]
    assert {"read", "vread", "update", "patch", "delete", "create", "search-type"} <= {
        i["code"] for i in patient_entry["interaction"]
    }
    assert patient_entry["versioning"] == "versioned-update"
    assert patient_entry["conditionalDelete"] == "single" and patient_entry["conditionalCreate"] is True
    params = {p["name"]: p["type"] for p in patient_entry["searchParam"]}
    assert params["birthdate"] == "date" and params["_id"] == "token"
    assert set(params) == set(registry().for_type("Patient"))
    assert "Observation:subject" in patient_entry["searchRevInclude"]
    assert "Patient:general-practitioner" in patient_entry["searchInclude"]
    assert {o["name"] for o in patient_entry["operation"]} == {"everything", "validate"}
    assert {o["name"] for o in by_type["Observation"]["operation"]} == {"validate"}
    inst = (await client.call("GET", "metadata", partition="clinic-a")).body
    assert inst is not None and inst["implementation"]["url"] == f"{BASE}/clinic-a"


async def test_everything_returns_patient_and_referring_resources(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    other = (await client.create(patient("Other")))["id"]
    obs = (await client.create(observation(f"Patient/{pid}")))["id"]
    cond = (
        await client.create(
            {
                "resourceType": "Condition",
                "subject": {"reference": f"Patient/{pid}"},
                "code": {"text": "flu"},
            }
        )
    )["id"]
    await client.create(observation(f"Patient/{other}"))
    bundle = (await client.call("GET", f"Patient/{pid}/$everything")).body
    assert bundle is not None and bundle["type"] == "searchset"
    got = ids(bundle)
    assert got[0] == f"Patient/{pid}"
    assert set(got) == {f"Patient/{pid}", f"Observation/{obs}", f"Condition/{cond}"}
    assert bundle["total"] == 3
    only_obs = (await client.call("GET", f"Patient/{pid}/$everything?_type=Observation")).body
    assert only_obs is not None and ids(only_obs) == [f"Observation/{obs}"]
    first = (await client.call("GET", f"Patient/{pid}/$everything?_count=2")).body
    assert first is not None and len(ids(first)) == 2
    following = link(first, "next")
    assert following is not None
    second = (await client.call("GET", relative(following))).body
    assert second is not None and len(ids(second)) == 1
    assert set(ids(first) + ids(second)) == set(got)
    await client.fails(404, "GET", "Patient/nobody/$everything")
    await client.fails(400, "GET", f"Observation/{obs}/$everything")


async def test_everything_since(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    old = (await client.create(observation(f"Patient/{pid}")))["id"]
    new = await client.create(observation(f"Patient/{pid}", code="1234-5"))
    since = new["meta"]["lastUpdated"].replace("+", "%2B")
    bundle = (await client.call("GET", f"Patient/{pid}/$everything?_since={since}")).body
    assert bundle is not None and ids(bundle) == [f"Observation/{new['id']}"]
    assert f"Observation/{old}" not in ids(bundle)
    await client.fails(400, "GET", f"Patient/{pid}/$everything?_since=later")


async def test_everything_respects_the_institution_scope(client: Client) -> None:
    pid = (await client.create(patient(), partition="clinic-a"))["id"]
    await client.create(observation(f"Patient/{pid}"), partition="clinic-a")
    await client.create(observation(f"Patient/{pid}"), partition="clinic-b")
    scoped = (await client.call("GET", f"Patient/{pid}/$everything", partition="clinic-a")).body
    assert scoped is not None and scoped["total"] == 2
    alliance = (await client.call("GET", f"Patient/{pid}/$everything")).body
    assert alliance is not None and alliance["total"] == 3


async def test_validate_operation(client: Client) -> None:
    ok = await client.call("POST", "Patient/$validate", patient())
    assert ok.outcome is Outcome.OK and ok.body is not None
    assert ok.body["issue"][0]["severity"] == "information"
    bad = await client.call("POST", "Patient/$validate", patient(birthDate="soon"))
    assert bad.body is not None and any(i["severity"] == "error" for i in bad.body["issue"])
    wrapped = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": patient(gender="x")}],
    }
    params = await client.call("POST", "Patient/$validate", wrapped)
    assert params.body is not None and any(i["severity"] == "error" for i in params.body["issue"])
    pid = (await client.create(patient()))["id"]
    stored = await client.call("GET", f"Patient/{pid}/$validate")
    assert stored.body is not None and stored.body["issue"][0]["severity"] == "information"
    await client.fails(400, "POST", "Patient/$validate", {"resourceType": "Observation", "status": "final"})
    await client.fails(400, "POST", "Patient/$validate", [1])
    assert (await client.search("Patient"))["total"] == 1  # $validate stores nothing


async def test_unknown_operation(client: Client) -> None:
    await client.fails(404, "POST", "Patient/$frobnicate", {})
