"""create / read / vread / update / patch / delete and their conditional forms, on both backends
(http://hl7.org/fhir/R4/http.html)."""

from __future__ import annotations

import pytest
from tests.router.router_helpers import BASE, Client, observation, patient

from yilian.fhir.outcome import Outcome

pytestmark = pytest.mark.anyio


async def test_create_assigns_id_and_sends_version_headers(client: Client) -> None:
    response = await client.call("POST", "Patient", patient(id="client-chosen"))
    assert response.outcome is Outcome.CREATED
    body = response.body
    assert body is not None and body["id"] != "client-chosen"  # the client id is ignored on create
    assert body["meta"]["versionId"] == "1"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"] == f"{BASE}/Patient/{body['id']}/_history/1"
    assert response.headers["Last-Modified"].endswith(" GMT")


async def test_create_rejects_bodies_that_are_not_the_right_resource(client: Client) -> None:
    await client.fails(400, "POST", "Patient", [1, 2])
    await client.fails(400, "POST", "Patient", {"name": [{"family": "x"}]})
    error = await client.fails(400, "POST", "Patient", {"resourceType": "Nonsense"})
    assert "Nonsense" in str(error)
    await client.fails(400, "POST", "Patient", {"resourceType": "Observation", "status": "final"})


async def test_create_invalid_resource_is_422_with_location(client: Client) -> None:
    error = await client.fails(422, "POST", "Patient", patient(birthDate="not-a-date"))
    assert any("birthDate" in e for issue in error.issues for e in issue.expression)


async def test_unknown_type_in_path_is_404(client: Client) -> None:
    error = await client.fails(404, "GET", "Spaceship/1")
    assert "Spaceship" in str(error)
    await client.fails(404, "POST", "Spaceship", {"resourceType": "Spaceship"})


async def test_read_vread_and_missing(client: Client) -> None:
    created = await client.create(patient())
    pid = created["id"]
    read = await client.call("GET", f"Patient/{pid}")
    assert read.body == created and read.headers["ETag"] == 'W/"1"'
    vread = await client.call("GET", f"Patient/{pid}/_history/1")
    assert vread.body == created
    await client.fails(404, "GET", "Patient/nope")
    await client.fails(404, "GET", f"Patient/{pid}/_history/7")
    await client.fails(400, "GET", "Patient/bad$id")


async def test_read_with_if_none_match_is_304(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    response = await client.call("GET", f"Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert response.outcome is Outcome.NOT_MODIFIED and response.body is None


async def test_read_applies_summary_and_elements(client: Client) -> None:
    pid = (await client.create(patient(gender="female")))["id"]
    body = (await client.call("GET", f"Patient/{pid}?_elements=gender")).body
    assert body is not None and body["gender"] == "female" and "name" not in body


async def test_update_versions_and_update_as_create(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    response = await client.call("PUT", f"Patient/{pid}", patient("Wang", id=pid))
    assert response.outcome is Outcome.OK
    assert response.body is not None and response.body["meta"]["versionId"] == "2"
    assert response.headers["Location"].endswith(f"/Patient/{pid}/_history/2")
    created = await client.call("PUT", "Patient/chosen-1", patient(id="chosen-1"))
    assert created.outcome is Outcome.CREATED and created.headers["ETag"] == 'W/"1"'
    assert (await client.call("GET", "Patient/chosen-1")).body["id"] == "chosen-1"  # type: ignore[index]


async def test_update_body_id_must_match_url(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    await client.fails(400, "PUT", f"Patient/{pid}", patient())
    await client.fails(400, "PUT", f"Patient/{pid}", patient(id="other"))


async def test_versioned_update_with_if_match(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    ok = await client.call(
        "PUT", f"Patient/{pid}", patient(id=pid, gender="other"), headers={"If-Match": 'W/"1"'}
    )
    assert ok.headers["ETag"] == 'W/"2"'
    await client.fails(412, "PUT", f"Patient/{pid}", patient(id=pid), headers={"If-Match": 'W/"1"'})
    await client.fails(400, "PUT", f"Patient/{pid}", patient(id=pid), headers={"If-Match": "version two"})
    assert (await client.call("GET", f"Patient/{pid}")).headers["ETag"] == 'W/"2"'


async def test_prefer_return(client: Client) -> None:
    minimal = await client.call("POST", "Patient", patient(), headers={"Prefer": "return=minimal"})
    assert minimal.body is None and minimal.headers["Location"]
    outcome = await client.call("POST", "Patient", patient(), headers={"Prefer": "return=OperationOutcome"})
    assert outcome.body is not None and outcome.body["resourceType"] == "OperationOutcome"
    full = await client.call("POST", "Patient", patient(), headers={"Prefer": "return=representation"})
    assert full.body is not None and full.body["resourceType"] == "Patient"
    pid = full.body["id"]
    updated = await client.call(
        "PUT", f"Patient/{pid}", patient(id=pid, gender="other"), headers={"Prefer": "return=minimal"}
    )
    assert updated.body is None and updated.headers["ETag"] == 'W/"2"'


async def test_conditional_create(client: Client) -> None:
    ident = {"identifier": [{"system": "urn:mrn", "value": "42"}]}
    headers = {"If-None-Exist": "identifier=urn:mrn|42"}
    first = await client.call("POST", "Patient", patient(**ident), headers=headers)
    assert first.outcome is Outcome.CREATED
    again = await client.call("POST", "Patient", patient(**ident), headers=headers)
    assert again.outcome is Outcome.OK and again.body is not None
    assert again.body["id"] == first.body["id"]  # type: ignore[index]
    await client.create(patient(**ident))  # a second match makes the condition ambiguous
    await client.fails(412, "POST", "Patient", patient(**ident), headers=headers)
    await client.fails(400, "POST", "Patient", patient(), headers={"If-None-Exist": "nosuchparam=1"})


async def test_conditional_update(client: Client) -> None:
    ident = {"identifier": [{"system": "urn:mrn", "value": "7"}]}
    created = await client.call("PUT", "Patient?identifier=urn:mrn|7", patient(**ident))
    assert created.outcome is Outcome.CREATED
    pid = created.body["id"]  # type: ignore[index]
    updated = await client.call("PUT", "Patient?identifier=urn:mrn|7", patient("Zhao", **ident))
    assert updated.outcome is Outcome.OK and updated.body["id"] == pid  # type: ignore[index]
    assert updated.headers["ETag"] == 'W/"2"'
    await client.create(patient(**ident))
    await client.fails(412, "PUT", "Patient?identifier=urn:mrn|7", patient(**ident))
    await client.fails(400, "PUT", "Patient", patient())  # no criteria


async def test_conditional_update_honours_if_match(client: Client) -> None:
    ident = {"identifier": [{"system": "urn:mrn", "value": "8"}]}
    url = "Patient?identifier=urn:mrn|8"
    await client.fails(412, "PUT", url, patient(**ident), headers={"If-Match": 'W/"1"'})  # no match yet
    await client.call("PUT", url, patient(**ident))
    await client.fails(412, "PUT", url, patient("Qian", **ident), headers={"If-Match": 'W/"2"'})
    ok = await client.call("PUT", url, patient("Qian", **ident), headers={"If-Match": 'W/"1"'})
    assert ok.outcome is Outcome.OK and ok.headers["ETag"] == 'W/"2"'


async def test_patch(client: Client) -> None:
    pid = (await client.create(patient(gender="male")))["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    response = await client.call("PATCH", f"Patient/{pid}", ops)
    assert response.body is not None and response.body["gender"] == "female"
    assert response.headers["ETag"] == 'W/"2"'
    await client.fails(412, "PATCH", f"Patient/{pid}", ops, headers={"If-Match": 'W/"1"'})
    other = [{"op": "replace", "path": "/gender", "value": "other"}]
    ok = await client.call("PATCH", f"Patient/{pid}", other, headers={"If-Match": 'W/"2"'})
    assert ok.headers["ETag"] == 'W/"3"'
    await client.fails(400, "PATCH", f"Patient/{pid}", {"op": "replace"})  # not an array
    await client.fails(400, "PATCH", f"Patient/{pid}", [{"op": "replace", "path": "/id", "value": "x"}])
    await client.fails(400, "PATCH", f"Patient/{pid}", [{"op": "remove", "path": "/nothing/here"}])
    await client.fails(422, "PATCH", f"Patient/{pid}", [{"op": "test", "path": "/gender", "value": "male"}])
    await client.fails(422, "PATCH", f"Patient/{pid}", [{"op": "add", "path": "/birthDate", "value": "x"}])
    await client.fails(404, "PATCH", "Patient/absent", ops)
    assert (await client.call("GET", f"Patient/{pid}")).headers["ETag"] == 'W/"3"'


async def test_conditional_patch(client: Client) -> None:
    await client.create(patient(identifier=[{"system": "urn:mrn", "value": "p1"}]))
    ops = [{"op": "add", "path": "/gender", "value": "other"}]
    response = await client.call("PATCH", "Patient?identifier=urn:mrn|p1", ops)
    assert response.body is not None and response.body["gender"] == "other"
    await client.fails(404, "PATCH", "Patient?identifier=urn:mrn|none", ops)


async def test_delete_then_read_is_gone(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    deleted = await client.call("DELETE", f"Patient/{pid}")
    assert deleted.outcome is Outcome.OK
    assert deleted.body is not None and deleted.body["resourceType"] == "OperationOutcome"
    assert deleted.headers["ETag"] == 'W/"2"'
    await client.fails(410, "GET", f"Patient/{pid}")
    again = await client.call("DELETE", f"Patient/{pid}")  # idempotent
    assert again.outcome is Outcome.OK
    assert (await client.call("GET", f"Patient/{pid}/_history/1")).body is not None
    await client.fails(410, "GET", f"Patient/{pid}/_history/2")


async def test_conditional_delete(client: Client) -> None:
    keep = (await client.create(patient("Keep")))["id"]
    gone = (await client.create(patient("Gone", identifier=[{"system": "urn:mrn", "value": "d"}])))["id"]
    response = await client.call("DELETE", "Patient?identifier=urn:mrn|d")
    assert response.outcome is Outcome.OK
    await client.fails(410, "GET", f"Patient/{gone}")
    assert (await client.call("GET", f"Patient/{keep}")).outcome is Outcome.OK
    none = await client.call("DELETE", "Patient?identifier=urn:mrn|d")
    assert none.body is not None and "nothing" in none.body["issue"][0]["diagnostics"]
    await client.create(patient(identifier=[{"system": "urn:mrn", "value": "twin"}]))
    await client.create(patient(identifier=[{"system": "urn:mrn", "value": "twin"}]))
    await client.fails(412, "DELETE", "Patient?identifier=urn:mrn|twin")
    await client.fails(400, "DELETE", "Patient")


async def test_method_not_allowed_and_unknown_paths(client: Client) -> None:
    await client.fails(405, "DELETE", "metadata")
    await client.fails(404, "GET", "Patient/1/_history/1/extra")
    await client.fails(405, "POST", "Patient/1")


async def test_observation_reference_is_kept(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    obs = await client.create(observation(f"Patient/{pid}"))
    assert obs["subject"]["reference"] == f"Patient/{pid}"
