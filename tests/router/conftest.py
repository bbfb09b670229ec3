"""A router over a fresh repository on each backend, with two registered institutions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.router.router_helpers import Client

from yilian.router import FhirRouter, RouterSettings
from yilian.store.base import Partition
from yilian.store.factory import open_repository

INSTITUTIONS = (Partition("clinic-a", "Clinic A"), Partition("clinic-b", "Clinic B"))


@pytest.fixture
async def client(store_url: str) -> AsyncIterator[Client]:
    repository = open_repository(store_url)
    await repository.open()
    known = {p.code for p in await repository.list_partitions()}
    for partition in INSTITUTIONS:
        if partition.code not in known:
            await repository.add_partition(partition)
    try:
        yield Client(FhirRouter(repository, RouterSettings(default_count=20, max_count=100)))
    finally:
        await repository.close()
