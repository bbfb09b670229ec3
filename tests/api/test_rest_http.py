"""FHIR REST through real HTTP: headers, bases, visibility, search, history, metadata, docs."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
from tests.api.helpers import FHIR_JSON, assert_outcome

from yilian.synth import sample_alliance

PATIENT = {
    "resourceType": "Patient",
    "name": [{"text": "王秀英", "family": "王", "given": ["秀英"]}],
    "gender": "female",
    "birthDate": "1956-03-08",
}


def _create(client: httpx.Client, base: str, resource: dict[str, Any]) -> httpx.Response:
    response = client.post(
        f"{base}/{resource['resourceType']}", content=orjson.dumps(resource), headers=FHIR_JSON
    )
    assert response.status_code == 201, response.text
    return response


def test_create_read_update_history_delete_with_headers(fhir: str, client: httpx.Client) -> None:
    base = f"{fhir}/county-hospital"
    created = _create(client, base, PATIENT)
    body = created.json()
    pid = body["id"]
    assert created.headers["content-type"].startswith("application/fhir+json")
    assert created.headers["location"] == f"{base}/Patient/{pid}/_history/1"
    assert created.headers["etag"] == 'W/"1"'
    parsedate_to_datetime(created.headers["last-modified"])  # an HTTP date
    assert body["name"] == PATIENT["name"] and body["meta"]["versionId"] == "1"

    read = client.get(f"{base}/Patient/{pid}")
    assert read.status_code == 200
    assert read.headers["etag"] == 'W/"1"'
    assert read.json() == body

    head = client.head(f"{base}/Patient/{pid}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == 'W/"1"'

    changed = {**body, "gender": "male"}
    updated = client.put(
        f"{base}/Patient/{pid}", content=orjson.dumps(changed), headers={**FHIR_JSON, "If-Match": 'W/"1"'}
    )
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == 'W/"2"'
    stale = client.put(
        f"{base}/Patient/{pid}", content=orjson.dumps(changed), headers={**FHIR_JSON, "If-Match": 'W/"1"'}
    )
    assert_outcome(stale, 412)

    patched = client.patch(
        f"{base}/Patient/{pid}",
        content=orjson.dumps([{"op": "replace", "path": "/birthDate", "value": "1956-03-09"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["birthDate"] == "1956-03-09"

    history = client.get(f"{base}/Patient/{pid}/_history").json()
    assert history["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["3", "2", "1"]
    vread = client.get(f"{base}/Patient/{pid}/_history/1")
    assert vread.status_code == 200 and vread.json()["gender"] == "female"

    deleted = client.delete(f"{base}/Patient/{pid}")
    assert deleted.status_code in (200, 204)
    assert_outcome(client.get(f"{base}/Patient/{pid}"), 410)


def test_prefer_return_minimal_has_no_body(fhir: str, client: httpx.Client) -> None:
    response = client.post(
        f"{fhir}/Patient", content=orjson.dumps(PATIENT), headers={**FHIR_JSON, "Prefer": "return=minimal"}
    )
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["location"].startswith(f"{fhir}/Patient/")


def test_institution_base_and_alliance_base_visibility(fhir: str, client: httpx.Client) -> None:
    county = _create(client, f"{fhir}/county-hospital", PATIENT).json()
    township = _create(client, f"{fhir}/dongshan-thc", {**PATIENT, "gender": "male"}).json()
    alliance = _create(client, fhir, {**PATIENT, "birthDate": "2001-01-01"}).json()

    def ids(base: str) -> set[str]:
        bundle = client.get(f"{base}/Patient", params={"_total": "accurate"}).json()
        assert bundle["type"] == "searchset"
        found = {e["resource"]["id"] for e in bundle.get("entry", [])}
        assert bundle["total"] == len(found)
        return found

    assert ids(f"{fhir}/county-hospital") == {county["id"]}
    assert ids(f"{fhir}/dongshan-thc") == {township["id"]}
    assert ids(fhir) == {county["id"], township["id"], alliance["id"]}
    assert client.get(f"{fhir}/Patient/{county['id']}").status_code == 200
    assert_outcome(client.get(f"{fhir}/dongshan-thc/Patient/{county['id']}"), 404)
    # Search links point back at the base the client used.
    bundle = client.get(f"{fhir}/dongshan-thc/Patient").json()
    assert bundle["link"][0]["url"].startswith(f"{fhir}/dongshan-thc/Patient")


def test_search_by_get_and_by_form_post(fhir: str, client: httpx.Client) -> None:
    _create(client, fhir, PATIENT)
    _create(client, fhir, {**PATIENT, "name": [{"family": "李", "given": ["明"]}]})
    by_get = client.get(f"{fhir}/Patient", params={"family": "王"}).json()
    assert [e["resource"]["name"][0]["family"] for e in by_get["entry"]] == ["王"]
    by_post = client.post(
        f"{fhir}/Patient/_search",
        content=b"family=%E6%9D%8E",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert by_post.status_code == 200, by_post.text
    assert [e["resource"]["name"][0]["family"] for e in by_post.json()["entry"]] == ["李"]


def test_pretty_and_format(fhir: str, client: httpx.Client) -> None:
    compact = client.get(f"{fhir}/metadata")
    pretty = client.get(f"{fhir}/metadata", params={"_pretty": "true", "_format": "json"})
    assert pretty.status_code == 200
    assert pretty.json() == compact.json()
    assert b"\n  " in pretty.content and b"\n" not in compact.content
    browser = client.get(f"{fhir}/metadata", headers={"Accept": "text/html,application/xml;q=0.9,*/*;q=0.8"})
    assert browser.status_code == 200


def test_metadata_on_both_bases(fhir: str, client: httpx.Client) -> None:
    for base in (fhir, f"{fhir}/county-hospital"):
        statement = client.get(f"{base}/metadata").json()
        assert statement["resourceType"] == "CapabilityStatement"
        assert statement["fhirVersion"] == "4.0.1"
        assert "json" in " ".join(statement["format"])


def test_transaction_of_the_sample_alliance(fhir: str, client: httpx.Client) -> None:
    alliance = sample_alliance()
    bundle = alliance.bundles["county-hospital"]
    response = client.post(f"{fhir}/county-hospital", content=orjson.dumps(bundle), headers=FHIR_JSON)
    assert response.status_code == 200, response.text[:2000]
    reply = response.json()
    assert reply["type"] == "transaction-response"
    assert all(e["response"]["status"].startswith("201") for e in reply["entry"])
    patients = client.get(
        f"{fhir}/county-hospital/Patient", params={"_total": "accurate", "_count": "100"}
    ).json()
    assert patients["total"] == len(alliance.resources("county-hospital", "Patient"))
    organization = client.get(
        f"{fhir}/Organization", params={"identifier": "urn:yilian:institution|county-hospital"}
    ).json()["entry"][0]["resource"]
    # The conditional reference to the institution was resolved to its Organization.
    assert {e["resource"]["managingOrganization"]["reference"] for e in patients["entry"]} == {
        f"Organization/{organization['id']}"
    }
    assert client.get(f"{fhir}/dongshan-thc/Patient", params={"_total": "accurate"}).json()["total"] == 0


def test_system_history_and_count(fhir: str, client: httpx.Client) -> None:
    for _ in range(3):
        _create(client, f"{fhir}/county-hospital", PATIENT)
    page = client.get(f"{fhir}/county-hospital/_history", params={"_count": "2"}).json()
    assert page["type"] == "history"
    assert len(page["entry"]) == 2
    assert any(link["relation"] == "next" for link in page["link"])


def test_healthz_docs_and_root(fhir: str, client: httpx.Client) -> None:
    root = fhir.removesuffix("/fhir")
    assert client.get(f"{root}/healthz").json() == {"status": "ok"}
    redirect = client.get(f"{root}/")
    assert redirect.status_code in (302, 307) and redirect.headers["location"] == "/docs"
    docs = client.get(f"{root}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = client.get(f"{root}/openapi.json").json()
    assert "/fhir/{path}" in spec["paths"]
    assert {"get", "post", "put", "patch", "delete"} <= set(spec["paths"]["/fhir/{path}"])


def test_host_header_shapes_the_base(fhir: str, client: httpx.Client) -> None:
    response = client.post(
        f"{fhir}/county-hospital/Patient",
        content=orjson.dumps(PATIENT),
        headers={**FHIR_JSON, "Host": "fhir.example.cn:8443"},
    )
    assert response.status_code == 201
    assert response.headers["location"].startswith(
        "http://fhir.example.cn:8443/fhir/county-hospital/Patient/"
    )
