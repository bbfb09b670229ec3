"""The API docs page in a real browser: Swagger UI renders from the package's own copy, with
no request leaving the server (hospital intranets have no internet) and no JavaScript error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.browser.conftest import PageWatch

pytestmark = pytest.mark.browser


HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def test_docs_render_the_operations_offline(
    page: Any, watch: PageWatch, live_server: str, screenshot: Callable[[str], object]
) -> None:
    document = httpx.get(f"{live_server}/openapi.json", timeout=30).json()
    expected = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    page.goto(f"{live_server}/docs")
    page.locator(".opblock").first.wait_for(state="visible")
    shown = {
        (
            block.locator(".opblock-summary-method").inner_text(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.locator(".opblock-summary").all()
    }
    assert expected and shown == expected
    screenshot("api-docs")
    # The page, its script and style sheet and the OpenAPI document, all from the test server.
    assert any(url.endswith("/swagger-ui-bundle.js") for url in watch.requests), watch.requests
    assert any(url.endswith("/openapi.json") for url in watch.requests), watch.requests
    assert all(watch.allows(url) for url in watch.requests), watch.requests


def test_docs_have_no_javascript_errors(page: Any, watch: PageWatch, live_server: str) -> None:
    page.goto(f"{live_server}/docs")
    page.locator(".opblock").first.wait_for(state="visible")
    page.wait_for_load_state("networkidle")
    assert watch.js_errors == []


def test_the_guard_blocks_and_records_a_foreign_host(page: Any, watch: PageWatch, live_server: str) -> None:
    """The guard itself: a page that asks a CDN gets nothing, and the attempt is recorded (the
    test empties the record so that this deliberate attempt does not fail it at teardown)."""
    page.goto(f"{live_server}/docs")
    outcome = page.evaluate(
        """() => fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist/swagger-ui.css')
                   .then(() => 'fetched', () => 'blocked')"""
    )
    assert outcome == "blocked"
    assert watch.foreign == ["https://cdn.jsdelivr.net/npm/swagger-ui-dist/swagger-ui.css"]
    watch.foreign.clear()


def test_the_watch_records_javascript_errors(page: Any, watch: PageWatch, live_server: str) -> None:
    """The error record itself: a console error and an uncaught exception both land in it."""
    page.goto(f"{live_server}/docs")
    with page.expect_console_message(lambda msg: msg.type == "error"):
        page.evaluate("() => console.error('deliberate')")
    with page.expect_event("pageerror"):
        page.evaluate("() => { setTimeout(() => { throw new Error('boom'); }); }")
    assert len(watch.js_errors) == 2, watch.js_errors
    assert "deliberate" in watch.js_errors[0] and "boom" in watch.js_errors[1], watch.js_errors
