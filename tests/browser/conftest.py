"""Browser tests: Playwright driving Debian's `chromium` against a real yilian server.

Playwright cannot download its own browsers here (hospital intranets and this CI have no
internet), so it launches the system's Chromium by path: YILIAN_CHROMIUM if set, else
`chromium` on PATH.  Where it is absent the browser tests are skipped with the package to
install, unless YILIAN_REQUIRE_BROWSER=1 (as in .ci/run), where they fail instead.

Every page gets a network guard: each request the page makes is recorded, any request to a
host other than the test server is aborted, and the test fails at teardown if there was one
(no CDN: the console and the API docs must work on an intranet).  The page's JavaScript
errors (console errors and uncaught exceptions) are recorded too, for tests to assert on.

`screenshot(name)` writes docs/screenshots/{name}.png for the README, only when
YILIAN_SCREENSHOTS=1, so ordinary runs never rewrite tracked files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
from tests.api.helpers import INSTITUTIONS
from tests.serving import run_blocking, running_server

from yilian.cli.demo import load_sample
from yilian.store.factory import open_repository

REQUIRE_BROWSER = os.environ.get("YILIAN_REQUIRE_BROWSER") == "1"
SCREENSHOTS = os.environ.get("YILIAN_SCREENSHOTS") == "1"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TABLET_VIEWPORT = {"width": 1024, "height": 768}
"""A landscape 10-inch tablet, the smallest screen the console is designed for."""
LOCAL_SCHEMES = ("data:", "blob:", "about:")
"""URLs a page may load that never touch the network."""


def chromium_path() -> str | None:
    """The Chromium executable to drive, or None when there is none."""
    configured = os.environ.get("YILIAN_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _no_browser(reason: str) -> NoReturn:
    message = f"{reason}; install Debian's package with `apt-get install -y chromium`"
    if REQUIRE_BROWSER:
        pytest.fail(f"browser tests are required (YILIAN_REQUIRE_BROWSER=1) but {message}")
    pytest.skip(f"{message} (YILIAN_REQUIRE_BROWSER=1 makes this fail)")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The Chromium to launch, or the skip (the failure, when required) that says it is absent."""
    executable = chromium_path()
    if executable is None:
        where = os.environ.get("YILIAN_CHROMIUM") or "`chromium` on PATH"
        _no_browser(f"Chromium not found ({where})")
    return executable


@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[Any]:
    """A headless Chromium for the tests of one module, launched by path.

    Not per session: while Playwright's sync API is open it keeps an asyncio loop marked
    running in this thread, which would break every async test that the same xdist worker
    runs after the browser modules.  Inside a browser module, run async set-up code with
    tests.serving.run_blocking, which gives it a thread of its own.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - Playwright is a dev dependency
        _no_browser("the Playwright Python package is not installed (pip install -e '.[dev]')")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses to sandbox as root
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=args)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The root URL (`http://127.0.0.1:PORT`) of a real server on a fresh SQLite store with the
    two test institutions registered, shared by the tests of one module (the pages under test
    only read).  Authentication is on, trusting the development issuer (tests/serving.py)."""
    db = tmp_path_factory.mktemp("browser") / "yilian.sqlite"
    with running_server(f"sqlite:///{db}", institutions=INSTITUTIONS) as fhir_base:
        yield fhir_base.removesuffix("/fhir")


@dataclass
class PageWatch:
    """What a page did: every request URL, the ones to a foreign host, its JavaScript errors."""

    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    js_errors: list[str] = field(default_factory=list)

    def allows(self, url: str) -> bool:
        if url.startswith(LOCAL_SCHEMES):
            return True
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin


@pytest.fixture
def watch(live_server: str) -> PageWatch:
    """The record of the current test's page (see `page`)."""
    parts = urlsplit(live_server)
    return PageWatch(origin=f"{parts.scheme}://{parts.netloc}")


@pytest.fixture
def page(browser: Any, watch: PageWatch) -> Iterator[Any]:
    """A fresh browser context (no cookies, tablet viewport, Chinese locale, Beijing time) and
    page per test, under the network guard."""
    context = browser.new_context(viewport=TABLET_VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")

    def guard(route: Any) -> None:
        url = route.request.url
        if watch.allows(url):
            route.continue_()
        else:
            watch.foreign.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    context.on("request", lambda request: watch.requests.append(request.url))
    page = context.new_page()
    page.on("console", lambda msg: msg.type == "error" and watch.js_errors.append(f"console: {msg.text}"))
    page.on("pageerror", lambda error: watch.js_errors.append(f"uncaught: {error}"))
    try:
        yield page
    finally:
        context.close()
    assert not watch.foreign, f"the page reached hosts other than the test server: {watch.foreign}"


@pytest.fixture
def screenshot(page: Any) -> Callable[[str], Path | None]:
    """`screenshot(name)`: the current page as docs/screenshots/{name}.png when
    YILIAN_SCREENSHOTS=1; otherwise nothing is written and None is returned."""

    def take(name: str) -> Path | None:
        if not SCREENSHOTS:
            return None
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOT_DIR / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)
        return target

    return take


@contextmanager
def demo_server(tmp_path_factory: pytest.TempPathFactory, **settings: Any) -> Iterator[str]:
    """The root URL of a server over the demo's alliance (six members, 120 residents, loaded
    as `yilian demo` loads it), for the console's browser tests to override `live_server`."""
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'demo.sqlite'}"

    async def load() -> None:
        repository = open_repository(url)
        await repository.open()
        try:
            await load_sample(repository, "http://127.0.0.1/fhir")
        finally:
            await repository.close()

    run_blocking(load)
    with running_server(url, **settings) as fhir_base:
        yield fhir_base.removesuffix("/fhir")
