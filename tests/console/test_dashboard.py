"""The dashboard shows what the user may see, as the FHIR API counts it for them, records the
view in the audit trail as the user, and loads nothing from outside the server (both backends)."""

from __future__ import annotations

import json
import re

import anyio
import httpx
from tests.api.helpers import INSTITUTIONS
from tests.console.conftest import AUDIT_KEY, ConsoleSite, doctor_token
from tests.serving import auth_headers, running_server

from yilian.store.factory import open_repository

_CELL = re.compile(r'<tr data-institution="([a-z0-9-]+)">.*?</tr>', re.S)
_COUNT = re.compile(r'data-type="(\w+)">(?:<span[^>]*>)?([0-9—]+)')


def dashboard_counts(html: str) -> dict[tuple[str, str], str]:
    """(institution, type) -> the cell's text ("—" when refused)."""
    cells = {}
    for row in _CELL.finditer(html):
        for kind, value in _COUNT.findall(row.group(0)):
            cells[(row.group(1), kind)] = value
    return cells


def api_count(site: ConsoleSite, headers: dict[str, str], institution: str, kind: str) -> str:
    response = httpx.get(f"{site.fhir}/{institution}/{kind}", params={"_summary": "count"}, headers=headers)
    if response.status_code == 403:
        return "—"
    assert response.status_code == 200, response.text
    return str(response.json()["total"])


def test_counts_are_the_ones_the_api_gives_the_same_user(console: ConsoleSite) -> None:
    console.seed("county-hospital", "王")
    console.seed("county-hospital", "李")
    console.seed("dongshan-thc", "赵")
    token = doctor_token("county-hospital")
    as_doctor = {"Authorization": f"Bearer {token}"}
    with console.browser() as doctor, console.browser() as system:
        assert console.login(doctor, token=token).status_code == 303
        console.login(system, user="system")
        mine = dashboard_counts(doctor.get("/console/").text)
        everything = dashboard_counts(system.get("/console/").text)
    assert everything[("county-hospital", "Patient")] == "2"
    assert everything[("dongshan-thc", "Patient")] == "1"
    assert mine[("county-hospital", "Patient")] == "2"
    assert mine[("dongshan-thc", "Patient")] != everything[("dongshan-thc", "Patient")]
    for (institution, kind), shown in mine.items():
        assert shown == api_count(console, as_doctor, institution, kind), (institution, kind)
    for (institution, kind), shown in everything.items():
        assert shown == api_count(console, auth_headers(), institution, kind), (institution, kind)


def test_the_activity_chart_counts_encounters_by_month(console: ConsoleSite) -> None:
    with console.browser() as system:
        console.login(system, user="system")
        empty = system.get("/console/").text
        assert 'id="activity-chart"' not in empty and "暂无您可见的就诊记录" in empty
        console.seed("county-hospital", "王")
        page = system.get("/console/").text
    data = re.search(r'<script type="application/json" id="activity-data">(.*?)</script>', page, re.S)
    assert data is not None
    chart = json.loads(data.group(1))
    assert len(chart["months"]) == 12 and chart["months"][-1] == "2026-03"  # ends with the newest
    assert chart["months"][0] == "2025-04"
    assert chart["counts"] == [0] * 11 + [1]


def test_a_dashboard_view_is_in_the_audit_trail_as_the_user(store_url: str) -> None:
    with running_server(store_url, institutions=INSTITUTIONS, audit_signing_key=AUDIT_KEY) as base:
        site = ConsoleSite(base.removesuffix("/fhir"), base)
        with site.browser() as doctor:
            site.login(doctor, user="doctor@dongshan-thc")
            assert doctor.get("/console/").status_code == 200
    # Read after the server stopped: closing it flushed the queued audit entries.
    entries = anyio.run(_audit_entries, store_url)
    views = [e for e in entries if e.subject == "dr-2@dongshan-thc"]
    assert views, [e.subject for e in entries]
    assert all(e.role == "doctor" and e.institution == "dongshan-thc" for e in views)
    assert {e.partition for e in views} >= {"county-hospital", "dongshan-thc"}


async def _audit_entries(url: str) -> list:  # type: ignore[type-arg]
    repository = open_repository(url)
    await repository.open()
    try:
        return [logged.entry for logged in await repository.audit_entries()]
    finally:
        await repository.close()


def test_pages_reference_no_external_url(console: ConsoleSite) -> None:
    with console.browser() as browser:
        login = browser.get("/console/login").text
        console.seed("county-hospital", "王")
        console.login(browser, user="system")
        pages = [login, browser.get("/console/").text, browser.get("/console/?lang=en").text]
    for html in pages:
        for ref in re.findall(r'(?:src|href|action)="([^"]*)"', html):
            assert ref.startswith(("/", "?", "#")) and not ref.startswith("//"), ref
        assert "http://" not in html and "https://" not in html
    with console.browser() as browser:
        for asset in re.findall(r'(?:src|href)="(/[^"?#]*\.(?:js|css))"', pages[1]):
            assert browser.get(asset).status_code == 200, asset
