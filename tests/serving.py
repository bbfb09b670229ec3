"""Run a real yilian HTTP server in a background thread for tests that talk to it over a socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import anyio
import uvicorn

from yilian.alliance.institutions import register_institution
from yilian.api.app import create_app
from yilian.config import Settings
from yilian.store.factory import open_repository


def _register(url: str, institutions: Sequence[tuple[str, str]]) -> None:
    async def run() -> None:
        repo = open_repository(url)
        await repo.open()
        try:
            for code, name in institutions:
                await register_institution(repo, code, name)
        finally:
            await repo.close()

    anyio.run(run)


@contextmanager
def running_server(
    url: str, *, institutions: Sequence[tuple[str, str]] = (), **settings: Any
) -> Iterator[str]:
    """Yield the alliance FHIR base (`http://127.0.0.1:PORT/fhir`) of a server on `url`."""
    if institutions:
        _register(url, institutions)
    config = replace(Settings(), db_url=url, **settings)
    with serving_app(create_app(config, open_repository(url))) as root:
        yield f"{root}/fhir"


@contextmanager
def serving_app(app: Any) -> Iterator[str]:
    """Run an already built ASGI app under uvicorn in a thread; yield its root URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
