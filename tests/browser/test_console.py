"""The console in a real browser, over the demo's synthetic alliance: a demo doctor logs in and
sees the dashboard with its chart drawn, the language toggle switches the page to English, and
a form post without the CSRF token is refused; nothing is loaded from another host.  With
YILIAN_SCREENSHOTS=1 the pages are saved to docs/screenshots/ for the README."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.browser.conftest import PageWatch, demo_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_server(tmp_path_factory) as root:
        yield root


def _log_in_as_first_demo_user(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/console/")
    assert "/console/login" in page.url  # no session yet: sent to log in
    page.locator("input[name=user]").first.check()
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"{live_server}/console/")


def test_a_demo_doctor_logs_in_and_sees_the_dashboard(
    page: Any, watch: PageWatch, live_server: str, screenshot: Callable[[str], object]
) -> None:
    page.goto(f"{live_server}/console/login")
    _log_in_as_first_demo_user(page, live_server)
    assert page.locator("h1").inner_text() == "医联体总览"
    assert "doctor" in page.locator(".user").inner_text() or "医生" in page.locator(".user").inner_text()
    assert page.get_by_text("青溪县人民医院").first.is_visible()
    page.locator("#activity-chart canvas").first.wait_for(state="attached")  # ECharts drew it
    screenshot("console-dashboard")
    assert not watch.js_errors, watch.js_errors
    assert any("/static/vendor/echarts/echarts.min.js" in url for url in watch.requests)


def test_the_language_toggle_switches_to_english_and_back(page: Any, live_server: str) -> None:
    _log_in_as_first_demo_user(page, live_server)
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Alliance dashboard"
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="中文").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "医联体总览"


def test_a_form_post_without_its_csrf_token_is_refused(page: Any, live_server: str) -> None:
    _log_in_as_first_demo_user(page, live_server)
    status = page.evaluate(
        """async () => (await fetch('/console/logout', {method: 'POST',
              headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: ''})).status"""
    )
    assert status == 403
    page.reload()
    assert page.locator("h1").inner_text() == "医联体总览"  # still logged in: the forged post did nothing
