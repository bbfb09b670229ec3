"""Institution bases see and write their own partition; the alliance base sees all; unknown
institutions are 404."""

from __future__ import annotations

import pytest
from tests.router.router_helpers import BASE, Client, ids, patient

from yilian.router import FhirRouter, RouterSettings
from yilian.store.base import Partition

pytestmark = pytest.mark.anyio


async def test_unregistered_institution_is_404(client: Client) -> None:
    error = await client.fails(404, "GET", "Patient", partition="nowhere")
    assert "nowhere" in str(error)
    await client.fails(404, "GET", "metadata", partition="nowhere")


async def test_newly_registered_institution_is_seen(client: Client) -> None:
    await client.fails(404, "GET", "Patient", partition="late-comer")
    await client.router.repository.add_partition(Partition("late-comer", "Late"))
    assert (await client.search("Patient", partition="late-comer"))["type"] == "searchset"


async def test_removed_institution_stops_answering_once_the_cache_expires(client: Client) -> None:
    repository = client.router.repository
    expiring = Client(FhirRouter(repository, RouterSettings(partition_cache_seconds=0)))
    await repository.add_partition(Partition("leaving", "Leaving"))
    assert (await expiring.search("Patient", partition="leaving"))["type"] == "searchset"  # now cached
    await repository.remove_partition("leaving")  # as `yilian institution remove` would, elsewhere
    await expiring.fails(404, "GET", "Patient", partition="leaving")


async def test_reads_are_scoped_to_the_institution(client: Client) -> None:
    a = (await client.create(patient("A"), partition="clinic-a"))["id"]
    b = (await client.create(patient("B"), partition="clinic-b"))["id"]
    alliance = (await client.create(patient("Alliance")))["id"]
    assert set(ids(await client.search("Patient", partition="clinic-a"))) == {f"Patient/{a}"}
    assert set(ids(await client.search("Patient", partition="clinic-b"))) == {f"Patient/{b}"}
    everywhere = set(ids(await client.search("Patient")))
    assert everywhere == {f"Patient/{a}", f"Patient/{b}", f"Patient/{alliance}"}
    await client.fails(404, "GET", f"Patient/{b}", partition="clinic-a")
    assert (await client.call("GET", f"Patient/{b}")).body is not None
    await client.fails(404, "GET", f"Patient/{alliance}", partition="clinic-a")


async def test_writes_stay_in_their_partition(client: Client) -> None:
    b = (await client.create(patient("B"), partition="clinic-b"))["id"]
    # clinic-a cannot update or delete clinic-b's patient
    await client.fails(404, "PUT", f"Patient/{b}", patient(id=b), partition="clinic-a")
    await client.call("DELETE", f"Patient/{b}", partition="clinic-a")
    assert (await client.call("GET", f"Patient/{b}", partition="clinic-b")).body is not None
    # the alliance base may update it, and it stays in clinic-b
    await client.call("PUT", f"Patient/{b}", patient("B2", id=b))
    assert ids(await client.search("Patient?family=B2", partition="clinic-b")) == [f"Patient/{b}"]


async def test_links_and_locations_use_the_institution_base(client: Client) -> None:
    response = await client.call("POST", "Patient", patient(), partition="clinic-a")
    assert response.headers["Location"].startswith(f"{BASE}/clinic-a/Patient/")
    bundle = await client.search("Patient", partition="clinic-a")
    assert bundle["entry"][0]["fullUrl"].startswith(f"{BASE}/clinic-a/Patient/")
    assert bundle["link"][0]["url"].startswith(f"{BASE}/clinic-a/Patient?")
