"""Search Bundles: total, links, paging walks, includes, projection, handling
(http://hl7.org/fhir/R4/search.html)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.router.router_helpers import BASE, Client, ids, link, observation, patient, relative

from yilian.router.types import FhirResponse

pytestmark = pytest.mark.anyio


async def _walk(client: Client, url: str) -> tuple[list[str], list[dict[str, Any]]]:
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url is not None:
        bundle = await client.search(next_url)
        pages.append(bundle)
        seen += ids(bundle)
        following = link(bundle, "next")
        next_url = relative(following) if following else None
        assert len(pages) < 50
    return seen, pages


async def test_paging_walk_is_complete_and_stable(client: Client) -> None:
    created = {f"Patient/{(await client.create(patient(f'Fam{i}')))['id']}" for i in range(7)}
    seen, pages = await _walk(client, "Patient?_count=3&_sort=family")
    assert len(pages) == 3 and len(seen) == 7 and set(seen) == created
    assert pages[0]["total"] == 7
    assert link(pages[0], "previous") is None and link(pages[1], "previous") is not None
    assert link(pages[0], "first") == link(pages[2], "first")
    again, _ = await _walk(client, "Patient?_sort=family&_count=3")  # same query, other order
    assert again == seen
    self_link = link(pages[1], "self")
    assert self_link == f"{BASE}/Patient?_sort=family&_count=3&_offset=3"


async def test_offset_past_the_end_is_an_empty_page(client: Client) -> None:
    await client.create(patient())
    bundle = await client.search("Patient?_offset=500")
    assert bundle.get("entry", []) == [] and bundle["total"] == 1
    assert link(bundle, "next") is None


async def test_summary_count_and_elements(client: Client) -> None:
    for family in ("A", "B"):
        await client.create(patient(family, gender="male"))
    counted = await client.search("Patient?_summary=count")
    assert counted["total"] == 2 and "entry" not in counted
    projected = await client.search("Patient?_elements=gender")
    for entry in projected["entry"]:
        assert entry["resource"]["gender"] == "male" and "name" not in entry["resource"]


async def test_lenient_and_strict_handling(client: Client) -> None:
    await client.create(patient())
    lenient = await client.search("Patient?bogus=1")
    outcome = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1 and "bogus" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    assert len(ids(lenient)) == 1
    await client.fails(400, "GET", "Patient?bogus=1", headers={"Prefer": "handling=strict"})


async def test_include_and_revinclude_modes(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    oid = (await client.create(observation(f"Patient/{pid}")))["id"]
    included = await client.search("Observation?_include=Observation:subject")
    assert ids(included) == [f"Observation/{oid}"] and ids(included, "include") == [f"Patient/{pid}"]
    rev = await client.search(f"Patient?_id={pid}&_revinclude=Observation:subject")
    assert ids(rev) == [f"Patient/{pid}"] and ids(rev, "include") == [f"Observation/{oid}"]
    assert rev["entry"][0]["fullUrl"] == f"{BASE}/Patient/{pid}"


async def test_post_search_merges_form_fields(client: Client) -> None:
    await client.create(patient("Zhang"))
    await client.create(patient("Chen"))
    response: FhirResponse = await client.call("POST", "Patient/_search", query=[("family", "Zhang")])
    assert response.body is not None and response.body["total"] == 1
    assert link(response.body, "self") == f"{BASE}/Patient?family=Zhang&_count=20&_offset=0"


async def test_system_search_with_type(client: Client) -> None:
    pid = (await client.create(patient()))["id"]
    oid = (await client.create(observation(f"Patient/{pid}")))["id"]
    both = await client.search("?_type=Patient,Observation")
    assert set(ids(both)) == {f"Patient/{pid}", f"Observation/{oid}"}
    only = await client.search(f"?_type=Observation&_id={oid}")
    assert ids(only) == [f"Observation/{oid}"]
    await client.fails(400, "GET", "?_type=Nonsense")


async def test_deleted_resources_leave_search(client: Client) -> None:
    pid = (await client.create(patient("Del")))["id"]
    await client.call("DELETE", f"Patient/{pid}")
    assert (await client.search("Patient?family=Del"))["total"] == 0


async def test_bad_search_values_are_400(client: Client) -> None:
    await client.fails(400, "GET", "Patient?birthdate=notadate")
    await client.fails(400, "GET", "Patient?_count=-1")
