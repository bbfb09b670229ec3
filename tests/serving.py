"""Run a real yilian HTTP server in a background thread for tests that talk to it over a socket.

Servers run with authentication on and trust the development issuer, whose key lives in a
per-process temporary directory; `AUTH` is the header of the alliance's system client
(`system/*.cruds`), which the fixtures' httpx clients send by default so the REST tests
exercise REST semantics, while tests/auth exercise authentication itself.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import uvicorn

from yilian.alliance.institutions import register_institution
from yilian.api.app import create_app
from yilian.auth.dev_issuer import DevelopmentIssuer
from yilian.config import Settings
from yilian.store.factory import open_repository

_KEY_DIR = Path(tempfile.mkdtemp(prefix="yilian-test-issuer-"))
atexit.register(shutil.rmtree, _KEY_DIR, ignore_errors=True)
DEV_KEY_PATH = str(_KEY_DIR / "dev-issuer.pem")
SYSTEM_SCOPES = "system/*.cruds"
T = TypeVar("T")


@cache
def dev_issuer() -> DevelopmentIssuer:
    """The development issuer every test server trusts."""
    return DevelopmentIssuer(DEV_KEY_PATH)


@cache
def system_token() -> str:
    """A token of the alliance's integration client: every institution, every interaction."""
    return dev_issuer().issue(None, "system", SYSTEM_SCOPES, ttl=timedelta(days=1), subject="test-suite")


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {system_token()}"}


def server_settings(url: str, *, auth: Literal["on", "off"] = "on", **settings: Any) -> Settings:
    """Settings of a test server on `url`: the development issuer trusted, key in a temp dir."""
    base = {"auth_dev_issuer": True, "dev_issuer_key_path": DEV_KEY_PATH}
    return replace(Settings(), db_url=url, auth=auth, **{**base, **settings})


def run_blocking(function: Callable[[], Awaitable[T]]) -> T:
    """Run an async function to completion in a fresh thread and return its result.

    Playwright's sync API keeps an asyncio loop marked running in the test's thread for as
    long as the browser is open, so `anyio.run` there fails; a thread of its own has no loop.
    """
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(("ok", anyio.run(function)))
        except BaseException as exc:  # re-raised in the caller's thread
            outcome.append(("error", exc))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value  # type: ignore[no-any-return]


def _register(url: str, institutions: Sequence[tuple[str, str]]) -> None:
    async def run() -> None:
        repo = open_repository(url)
        await repo.open()
        try:
            for code, name in institutions:
                await register_institution(repo, code, name)
        finally:
            await repo.close()

    run_blocking(run)


@contextmanager
def running_server(
    url: str,
    *,
    institutions: Sequence[tuple[str, str]] = (),
    auth: Literal["on", "off"] = "on",
    **settings: Any,
) -> Iterator[str]:
    """Yield the alliance FHIR base (`http://127.0.0.1:PORT/fhir`) of a server on `url`
    (authentication `auth`, the development issuer trusted)."""
    if institutions:
        _register(url, institutions)
    config = server_settings(url, auth=auth, **settings)
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
