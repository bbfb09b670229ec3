"""The policy tests' world (policy_support.py) on a fresh database of each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.privacy.policy_support import World, opened_world


@pytest.fixture
async def world(store_url: str) -> AsyncIterator[World]:
    async with opened_world(store_url) as w:
        yield w
