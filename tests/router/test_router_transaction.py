"""Transaction and batch Bundles (http://hl7.org/fhir/R4/http.html#transaction)."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.router.router_helpers import Client, ids, observation, patient

from yilian.fhir.outcome import Outcome
from yilian.router import FhirRouter, RouterSettings

pytestmark = pytest.mark.anyio


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def req(method: str, url: str, resource: dict[str, Any] | None = None, **request: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        entry["resource"] = resource
    return entry


async def run(client: Client, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = await client.call("POST", "", body, **kw)
    assert response.outcome is Outcome.OK and response.body is not None
    return response.body


async def test_urn_uuid_references_are_rewritten_everywhere(client: Client) -> None:
    p_urn, e_urn = (
        "urn:uuid:11111111-1111-4111-8111-111111111111",
        "urn:uuid:22222222-2222-4222-8222-222222222222",
    )
    obs = observation(
        e_urn,  # deliberately odd: subject points at the encounter's urn; rewritten like any other
        encounter={"reference": e_urn},
        extension=[
            {"url": "http://example.org/x", "valueReference": {"reference": p_urn}},
            {"url": "http://example.org/provenance", "valueReference": {"reference": "#p1"}},
        ],
        contained=[
            {
                "resourceType": "Provenance",
                "id": "p1",
                "recorded": "2020-01-01T00:00:00Z",
                "target": [{"reference": p_urn}],
                "agent": [{"who": {"reference": p_urn}}],
            }
        ],
    )
    obs["subject"] = {"reference": p_urn}
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": p_urn},
    }
    reply = await run(
        client, bundle("transaction", post(obs), post(encounter, e_urn), post(patient(), p_urn))
    )
    assert reply["type"] == "transaction-response"
    locations = [e["response"]["location"] for e in reply["entry"]]
    assert [loc.split("/")[0] for loc in locations] == [
        "Observation",
        "Encounter",
        "Patient",
    ]  # original order
    assert all(e["response"]["status"].startswith("201") for e in reply["entry"])
    assert all(e["response"]["etag"] == 'W/"1"' and e["response"]["lastModified"] for e in reply["entry"])
    pid = "/".join(locations[2].split("/")[:2])
    eid = "/".join(locations[1].split("/")[:2])
    stored = (await client.call("GET", "/".join(locations[0].split("/")[:2]))).body
    assert stored is not None
    assert stored["subject"]["reference"] == pid and stored["encounter"]["reference"] == eid
    assert stored["extension"][0]["valueReference"]["reference"] == pid
    assert stored["contained"][0]["target"][0]["reference"] == pid
    assert "urn:uuid" not in orjson.dumps(stored).decode()
    found = await client.search(f"Observation?subject={pid}")
    assert len(ids(found)) == 1


async def test_failing_entry_rolls_everything_back(client: Client) -> None:
    body = bundle(
        "transaction",
        post(patient("Rollback")),
        post(patient("Rollback")),
        post(patient("Rollback")),
        post(patient("Rollback", birthDate="yesterday")),
        post(patient("Rollback")),
    )
    error = await client.fails(422, "POST", "", body)
    assert "Bundle.entry[3]" in str(error)
    assert any(e.startswith("Bundle.entry[3]") for issue in error.issues for e in issue.expression)
    assert (await client.search("Patient?family=Rollback"))["total"] == 0


async def test_delete_and_update_failures_roll_back_too(client: Client) -> None:
    pid = (await client.create(patient("Stay")))["id"]
    body = bundle(
        "transaction",
        req("DELETE", f"Patient/{pid}"),
        req("PUT", "Patient/other", patient(id="mismatch")),
    )
    error = await client.fails(400, "POST", "", body)
    assert "Bundle.entry[1]" in str(error)
    assert (await client.call("GET", f"Patient/{pid}")).outcome is Outcome.OK


async def test_processing_order_and_mixed_methods(client: Client) -> None:
    old = (await client.create(patient("Old")))["id"]
    keep = (await client.create(patient("Keep", gender="male")))["id"]
    patch = base64.b64encode(orjson.dumps([{"op": "replace", "path": "/gender", "value": "female"}])).decode()
    reply = await run(
        client,
        bundle(
            "transaction",
            req("GET", "Patient?family=New"),  # GETs run last, so they see the POST
            req(
                "PATCH",
                f"Patient/{keep}",
                {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch},
            ),
            post(patient("New")),
            req("DELETE", f"Patient/{old}"),
            req("PUT", f"Patient/{keep}x", patient("Put", id=f"{keep}x")),
        ),
    )
    statuses = [e["response"]["status"][:3] for e in reply["entry"]]
    assert statuses == ["200", "200", "201", "200", "201"]
    searchset = reply["entry"][0]["resource"]
    assert searchset["type"] == "searchset" and searchset["total"] == 1
    await client.fails(410, "GET", f"Patient/{old}")
    kept = (await client.call("GET", f"Patient/{keep}")).body
    assert kept is not None and kept["gender"] == "female"


async def test_conditional_references_and_conditional_create(client: Client) -> None:
    pid = (await client.create(patient(identifier=[{"system": "urn:mrn", "value": "c1"}])))["id"]
    reply = await run(
        client,
        bundle(
            "transaction",
            post(observation("Patient?identifier=urn:mrn|c1")),
            post(
                patient(identifier=[{"system": "urn:mrn", "value": "c1"}]),
                "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001",
                ifNoneExist="identifier=urn:mrn|c1",
            ),
            post(observation("urn:uuid:aaaaaaaa-0000-4000-8000-000000000001", code="1234-5")),
        ),
    )
    assert reply["entry"][1]["response"]["status"].startswith("200")  # matched, not created
    assert reply["entry"][1]["response"]["location"].startswith(f"Patient/{pid}/")
    observations = await client.search(f"Observation?subject=Patient/{pid}")
    assert observations["total"] == 2
    assert (await client.search("Patient"))["total"] == 1
    # no match and several matches both fail the whole transaction
    await client.fails(
        400, "POST", "", bundle("transaction", post(observation("Patient?identifier=urn:mrn|none")))
    )
    await client.create(patient(identifier=[{"system": "urn:mrn", "value": "c1"}]))
    await client.fails(
        412, "POST", "", bundle("transaction", post(observation("Patient?identifier=urn:mrn|c1")))
    )


async def test_conditional_update_and_delete_inside_transaction(client: Client) -> None:
    pid = (await client.create(patient("Before", identifier=[{"system": "urn:mrn", "value": "u1"}])))["id"]
    await client.create(patient("Doomed", identifier=[{"system": "urn:mrn", "value": "d1"}]))
    reply = await run(
        client,
        bundle(
            "transaction",
            req(
                "PUT",
                "Patient?identifier=urn:mrn|u1",
                patient("After", identifier=[{"system": "urn:mrn", "value": "u1"}]),
            ),
            req("DELETE", "Patient?identifier=urn:mrn|d1"),
            req(
                "PUT",
                "Patient?identifier=urn:mrn|n1",
                patient("Fresh", identifier=[{"system": "urn:mrn", "value": "n1"}]),
            ),
        ),
    )
    assert [e["response"]["status"][:3] for e in reply["entry"]] == ["200", "200", "201"]
    assert reply["entry"][0]["response"]["location"].startswith(f"Patient/{pid}/_history/2")
    assert ids(await client.search("Patient?family=Doomed")) == []
    assert len(ids(await client.search("Patient?family=Fresh"))) == 1


async def test_bundle_shape_errors(client: Client) -> None:
    error = await client.fails(400, "POST", "", bundle("transaction", {"resource": patient()}))
    assert "Bundle.entry[0].request" in str(error)
    await client.fails(
        400, "POST", "", bundle("transaction", {"request": {"method": "FETCH", "url": "Patient"}})
    )
    await client.fails(400, "POST", "", bundle("collection", post(patient())))
    await client.fails(400, "POST", "", patient())
    dangling = await client.fails(
        400, "POST", "", bundle("transaction", post(observation("urn:uuid:nowhere")))
    )
    assert "urn:uuid:nowhere" in str(dangling) and "Bundle.entry[0]" in str(dangling)
    small = Client(FhirRouter(client.router.repository, RouterSettings(max_bundle_entries=3)))
    await small.fails(413, "POST", "", bundle("batch", *[post(patient()) for _ in range(4)]))
    assert ids(await client.search("Patient")) == []


async def test_batch_partial_success(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    reply = await run(
        client,
        bundle(
            "batch",
            post(patient("BatchOk")),
            post(patient("BatchBad", birthDate="nope")),
            req("GET", f"Patient/{pid}"),
            req("GET", "Patient/missing"),
            post(observation("urn:uuid:bbbbbbbb-0000-4000-8000-000000000001")),
            post(patient("Target"), "urn:uuid:bbbbbbbb-0000-4000-8000-000000000001"),
        ),
    )
    assert reply["type"] == "batch-response"
    statuses = [e["response"]["status"][:3] for e in reply["entry"]]
    assert statuses == ["201", "422", "200", "404", "400", "201"]
    assert reply["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert reply["entry"][2]["resource"]["id"] == pid
    assert len(ids(await client.search("Patient?family=BatchOk"))) == 1
    assert ids(await client.search("Patient?family=BatchBad")) == []


async def test_prefer_representation_returns_resources(client: Client) -> None:
    reply = await run(
        client, bundle("transaction", post(patient("Rep"))), headers={"Prefer": "return=representation"}
    )
    assert reply["entry"][0]["resource"]["name"][0]["family"] == "Rep"


@pytest.mark.shared_data
async def test_synthea_bundles_load_with_references_rewritten(client: Client, shared_data: Path) -> None:
    files = sorted((shared_data / "synthea-r4-bundles").glob("*.json.gz"), key=lambda p: p.stat().st_size)[:3]
    assert files
    for path in files:
        source = orjson.loads(gzip.decompress(path.read_bytes()))
        reply = await run(client, source, partition="clinic-a")
        assert len(reply["entry"]) == len(source["entry"])
        url_to_id: dict[str, str] = {}
        for entry, result in zip(source["entry"], reply["entry"], strict=True):
            assert result["response"]["status"].startswith("201")
            url_to_id[entry["fullUrl"]] = "/".join(result["response"]["location"].split("/")[:2])
        patient_id = next(v for v in url_to_id.values() if v.startswith("Patient/"))
        # every Encounter of the bundle refers to the stored patient by its server id
        encounters = [e for e in source["entry"] if e["resource"]["resourceType"] == "Encounter"]
        found = await client.search(f"Encounter?subject={patient_id}&_count=100", partition="clinic-a")
        assert found["total"] == len(encounters)
        for entry in found.get("entry", [])[:20]:
            text = orjson.dumps(entry["resource"]).decode()
            assert "urn:uuid:" not in text
            assert entry["resource"]["subject"]["reference"] == patient_id
