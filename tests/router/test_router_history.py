"""History Bundles of an instance, a type and the system (http://hl7.org/fhir/R4/http.html#history)."""

from __future__ import annotations

import pytest
from tests.router.router_helpers import BASE, Client, link, patient, relative

pytestmark = pytest.mark.anyio


async def test_instance_history_lists_every_version_newest_first(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    await client.call("PUT", f"Patient/{pid}", patient("Wang", id=pid))
    await client.call("DELETE", f"Patient/{pid}")
    bundle = (await client.call("GET", f"Patient/{pid}/_history")).body
    assert bundle is not None and bundle["type"] == "history"
    entries = bundle["entry"]
    assert [e["request"]["method"] for e in entries] == ["DELETE", "PUT", "POST"]
    assert [e["response"]["etag"] for e in entries] == ['W/"3"', 'W/"2"', 'W/"1"']
    assert "resource" not in entries[0] and entries[1]["resource"]["name"][0]["family"] == "Wang"
    assert entries[2]["request"]["url"] == "Patient" and entries[1]["request"]["url"] == f"Patient/{pid}"
    assert entries[2]["response"]["status"].startswith("201")
    assert all(e["fullUrl"] == f"{BASE}/Patient/{pid}" for e in entries)
    assert all(e["response"]["lastModified"] for e in entries)


async def test_history_of_missing_resource_is_404(client: Client) -> None:
    await client.fails(404, "GET", "Patient/none/_history")


async def test_type_and_system_history_with_count_and_since(client: Client) -> None:
    first = await client.create(patient("One"))
    second = await client.create(patient("Two"))
    await client.create({"resourceType": "Organization", "name": "Org"})
    type_history = (await client.call("GET", "Patient/_history")).body
    assert type_history is not None and len(type_history["entry"]) == 2
    system = (await client.call("GET", "_history?_count=2")).body
    assert system is not None and len(system["entry"]) == 2
    following = link(system, "next")
    assert following is not None
    rest = (await client.call("GET", relative(following))).body
    assert rest is not None and len(rest["entry"]) == 1
    since = second["meta"]["lastUpdated"]
    recent = (await client.call("GET", f"Patient/_history?_since={since.replace('+', '%2B')}")).body
    assert recent is not None
    got = {e["resource"]["id"] for e in recent.get("entry", [])}
    assert second["id"] in got and first["id"] not in got


async def test_history_rejects_bad_parameters(client: Client) -> None:
    await client.fails(400, "GET", "_history?_since=yesterday")
    await client.fails(400, "GET", "_history?_count=lots")
