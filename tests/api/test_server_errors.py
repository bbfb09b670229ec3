"""A bug inside the server: a 500 OperationOutcome without internals, logged, and serving on.

The fault is injected by a repository that wraps the real one (a real SQLite or PostgreSQL
store) and fails its next transaction on request, the way a driver or programming error would.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from tests.api.helpers import assert_outcome
from tests.serving import auth_headers, server_settings, serving_app

from yilian.api import create_app
from yilian.store.base import Partition, Repository, Session
from yilian.store.factory import open_repository


class FailingOnce(Repository):
    """The real repository, except that the next transaction after `arm()` raises."""

    def __init__(self, inner: Repository) -> None:
        self.inner = inner
        self.armed = False

    def arm(self) -> None:
        self.armed = True

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    def transaction(self, *, read_only: bool = False) -> AbstractAsyncContextManager[Session]:
        if self.armed:
            self.armed = False

            @asynccontextmanager
            async def broken() -> AsyncIterator[Session]:
                raise RuntimeError("secret-connection-string password=hunter2")
                yield  # pragma: no cover

            return broken()
        return self.inner.transaction(read_only=read_only)

    async def add_partition(self, partition: Partition) -> None:
        await self.inner.add_partition(partition)

    async def list_partitions(self) -> list[Partition]:
        return await self.inner.list_partitions()

    async def remove_partition(self, code: str) -> None:
        await self.inner.remove_partition(code)

    async def schema_version(self) -> int:
        return await self.inner.schema_version()


def test_unexpected_error_is_a_500_outcome_and_the_server_keeps_serving(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    repository = FailingOnce(open_repository(store_url))
    app = create_app(server_settings(store_url), repository)
    with (
        serving_app(app) as root,
        httpx.Client(timeout=30, headers=auth_headers()) as client,
        caplog.at_level(logging.ERROR, "yilian.api"),
    ):
        repository.arm()
        response = client.get(f"{root}/fhir/Patient")
        body = assert_outcome(response, 500, contains="incident")
        assert "hunter2" not in response.text and "RuntimeError" not in response.text
        assert body["issue"][0]["code"] == "exception"
        incident = body["issue"][0]["diagnostics"].split("incident ")[1].split(")")[0]
        logged = [r for r in caplog.records if incident in r.getMessage()]
        assert logged and logged[0].exc_info is not None  # the traceback went to the log
        assert client.get(f"{root}/fhir/Patient").status_code == 200
