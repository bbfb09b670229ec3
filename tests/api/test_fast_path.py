"""The direct path from the app to the FHIR endpoint keeps the framework's routing: routes
registered before the `/fhir` catch-all still win, a method no route takes is a 405
OperationOutcome, and a read-only transaction still refuses writes on both backends."""

from __future__ import annotations

import httpx
import pytest
from tests.api.helpers import assert_outcome

from yilian.store.factory import open_repository
from yilian.store.sql.fragment import Sql


def test_routes_before_the_catch_all_still_win(fhir: str, client: httpx.Client) -> None:
    found = client.get(f"{fhir}/.well-known/smart-configuration")
    assert found.status_code == 200
    assert "token_endpoint" in found.json() or "capabilities" in found.json()
    assert client.get(f"{fhir}/metadata").json()["resourceType"] == "CapabilityStatement"


def test_reads_and_failures_through_the_direct_path(fhir: str, client: httpx.Client) -> None:
    created = client.post(
        f"{fhir}/Patient", json={"resourceType": "Patient"}, headers={"content-type": "application/fhir+json"}
    )
    assert created.status_code == 201
    rid = created.json()["id"]
    read = client.get(f"{fhir}/Patient/{rid}")
    assert read.status_code == 200
    assert read.headers["etag"] == 'W/"1"'
    assert read.headers["last-modified"].endswith("GMT")
    assert read.headers["content-type"].startswith("application/fhir+json")
    assert_outcome(client.get(f"{fhir}/Patient/nobody"), 404)
    assert_outcome(client.request("OPTIONS", f"{fhir}/Patient"), 405)
    head = client.head(f"{fhir}/Patient/{rid}")
    assert head.status_code == 200 and head.content == b""


@pytest.mark.anyio
async def test_read_only_transactions_refuse_writes(store_url: str) -> None:
    repository = open_repository(store_url)
    await repository.open()
    try:
        with pytest.raises(Exception, match=r"(?i)read.only|readonly|query_only|attempt to write"):
            async with repository._connection(True) as conn:  # type: ignore[attr-defined]
                await conn.execute(Sql("DELETE FROM resource"))
    finally:
        await repository.close()
