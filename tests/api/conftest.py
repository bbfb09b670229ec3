"""A real uvicorn server per test, on each backend, reached over a socket with httpx.

`fhir` is the alliance base (`http://127.0.0.1:PORT/fhir`) of a server whose store has two
registered institutions; `serve` starts another server with different settings (a small body
limit, strict handling) on the same store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from tests.api.helpers import INSTITUTIONS
from tests.serving import auth_headers, running_server


@pytest.fixture
def serve(store_url: str) -> Callable[..., AbstractContextManager[str]]:
    """Start a server on this test's store with setting overrides; yields its alliance base."""

    def start(
        *, institutions: tuple[tuple[str, str], ...] = (), **settings: Any
    ) -> AbstractContextManager[str]:
        return running_server(store_url, institutions=institutions, **settings)

    return start


@pytest.fixture
def fhir(serve: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    with serve(institutions=INSTITUTIONS) as base:
        yield base


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """An httpx client that sends the system client's bearer token."""
    with httpx.Client(timeout=60, headers=auth_headers()) as c:
        yield c
