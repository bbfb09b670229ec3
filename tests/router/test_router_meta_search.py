"""Search on the meta elements every resource has (`_security`, `_source`, `_profile`, `_tag`)
and search bundles under `_summary=true`, end to end through the router on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from tests.router.router_helpers import Client

pytestmark = pytest.mark.anyio

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def _ids(bundle: dict[str, Any] | None) -> set[str]:
    assert bundle is not None
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"}


async def test_meta_security_source_profile_tag(client: Client) -> None:
    restricted = await client.create(
        {
            "resourceType": "Patient",
            "meta": {
                "security": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
                ],
                "source": "urn:his:county-hospital#msg-17",
                "profile": ["http://yilian.example/StructureDefinition/cn-patient"],
                "tag": [{"system": "urn:yilian:feed", "code": "hl7v2"}],
            },
        }
    )
    plain = await client.create({"resourceType": "Patient", "meta": {"source": "urn:his:clinic"}})
    conf = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    assert _ids((await client.call("GET", f"Patient?_security={conf}|R")).body) == {restricted["id"]}
    assert _ids((await client.call("GET", "Patient?_security:not=R")).body) == {plain["id"]}
    assert _ids((await client.call("GET", "Patient?_source=urn:his:clinic")).body) == {plain["id"]}
    assert _ids((await client.call("GET", "Patient?_source=urn:his:county-hospital%23msg-17")).body) == {
        restricted["id"]
    }
    profile = "http://yilian.example/StructureDefinition/cn-patient"
    assert _ids((await client.call("GET", f"Patient?_profile={profile}")).body) == {restricted["id"]}
    assert _ids((await client.call("GET", "Patient?_tag=urn:yilian:feed|hl7v2")).body) == {restricted["id"]}
    assert _ids((await client.call("GET", "Patient?_tag:missing=true")).body) == {plain["id"]}


async def test_search_summary_true_keeps_summary_elements_only(client: Client) -> None:
    created = await client.create(
        {
            "resourceType": "Patient",
            "name": [{"family": "Zhou"}],
            "gender": "female",
            "maritalStatus": {"text": "married"},  # not a summary element
            "photo": [{"contentType": "image/png", "data": "iVBORw0KGgo="}],  # not a summary element
        }
    )
    bundle = (await client.call("GET", "Patient?_summary=true")).body
    assert bundle is not None
    (entry,) = bundle["entry"]
    resource = entry["resource"]
    assert resource["id"] == created["id"] and resource["gender"] == "female" and resource["name"]
    assert "maritalStatus" not in resource and "photo" not in resource
    assert SUBSETTED in resource["meta"]["tag"]
