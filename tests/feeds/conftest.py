"""A router over a fresh repository on each backend, with one registered institution."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from yilian.alliance import register_institution
from yilian.router import FhirRequest, FhirRouter, RouterSettings
from yilian.store.factory import open_repository

INSTITUTION = "county-hospital"


@pytest.fixture
async def router(store_url: str) -> AsyncIterator[FhirRouter]:
    repository = open_repository(store_url)
    await repository.open()
    await register_institution(repository, INSTITUTION, "青溪县人民医院")
    try:
        yield FhirRouter(repository, RouterSettings(default_count=100, max_count=1000))
    finally:
        await repository.close()


async def search(router: FhirRouter, path: str, **query: str) -> list[dict[str, Any]]:
    """The resources a search in the institution finds (one page)."""
    response = await router.handle(
        FhirRequest(
            method="GET", path=tuple(path.split("/")), partition=INSTITUTION, query=list(query.items())
        )
    )
    assert response.body is not None
    return [
        e["resource"] for e in response.body.get("entry", []) if e.get("search", {}).get("mode") == "match"
    ]


async def versions(router: FhirRouter, resource_type: str) -> int:
    """How many versions of `resource_type` the institution's history holds."""
    response = await router.handle(
        FhirRequest(
            method="GET", path=(resource_type, "_history"), partition=INSTITUTION, query=[("_count", "1000")]
        )
    )
    assert response.body is not None
    return len(response.body.get("entry", []))
