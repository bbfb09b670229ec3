"""The audit page searches the trail through the API's AuditEvent search as the user: a
doctor's read shows up with who, what and when (Beijing time), filters narrow it, a patient
sees who has seen their record, a doctor is refused, and the chain is verified on a button."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import httpx
from tests.console.conftest import ConsoleSite, csrf_of, doctor_token
from tests.serving import dev_issuer

_ROW = re.compile(r'<tr data-seq="(\d+)" data-interaction="([a-z-]+)">(.*?)</tr>', re.S)


def rows(html: str) -> list[tuple[str, str, str]]:
    return _ROW.findall(html)


def _read_as_doctor(site: ConsoleSite, pid: str) -> None:
    headers = {"Authorization": f"Bearer {doctor_token('county-hospital')}"}
    read = httpx.get(f"{site.fhir}/county-hospital/Patient/{pid}", headers=headers, timeout=30)
    assert read.status_code == 200, read.text


def _until_listed(browser: httpx.Client, path: str, needle: str) -> str:
    """The page once the trail's background writer has written the entry (it flushes every
    fraction of a second); the page itself after a bounded number of tries."""
    page = browser.get(path)
    for _ in range(100):
        if needle in page.text:
            break
        time.sleep(0.1)
        page = browser.get(path)
    return page.text


def test_a_doctors_read_is_listed_and_filters_narrow_it(console: ConsoleSite) -> None:
    pid = console.seed("county-hospital", "王")
    other = console.seed("county-hospital", "李")
    _read_as_doctor(console, pid)
    with console.browser() as admin:
        console.login(admin, user="system")
        html = _until_listed(admin, f"/console/audit?patient={pid}", "dr-test@county-hospital")
        reads = [r for r in rows(html) if "dr-test@county-hospital" in r[2]]
        assert reads and reads[0][1] == "read"
        assert f"Patient/{pid}" in reads[0][2] and "成功" in reads[0][2]
        assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", reads[0][2])  # Beijing time
        assert "谁查看过患者" in html
        # the other patient's record was never read by the doctor
        assert "dr-test@county-hospital" not in admin.get(f"/console/audit?patient={other}").text
        by_agent = rows(admin.get("/console/audit", params={"agent": "dr-test@county-hospital"}).text)
        assert by_agent and all("dr-test@county-hospital" in r[2] for r in by_agent)
        by_action = rows(admin.get("/console/audit", params={"action": "create"}).text)
        assert by_action and all(r[1] == "create" for r in by_action)
        future = admin.get("/console/audit", params={"since": "2099-01-01T00:00"})
        assert rows(future.text) == [] and "没有符合条件的审计记录" in future.text
        bad = admin.get("/console/audit", params={"since": "yesterday"})
        assert bad.status_code == 400 and "2026-03-04 08:30" in bad.text


def test_a_patient_sees_who_has_seen_their_record(console: ConsoleSite) -> None:
    pid = console.seed("county-hospital", "王")
    _read_as_doctor(console, pid)
    token = dev_issuer().issue(
        "county-hospital", "patient", "patient/*.rs", patient=pid, ttl=timedelta(hours=1), subject="p-1"
    )
    with console.browser() as patient, console.browser() as doctor:
        assert console.login(patient, token=token).status_code == 303
        html = _until_listed(patient, "/console/audit", "dr-test@county-hospital")
        assert any("dr-test@county-hospital" in r[2] and r[1] == "read" for r in rows(html))
        assert patient.get("/console/audit", params={"patient": "someone-else"}).status_code == 403
        console.login(doctor, user="doctor@county-hospital")
        refused = doctor.get("/console/audit")
        assert refused.status_code == 403 and rows(refused.text) == []


def test_the_chain_is_verified_on_a_button(console: ConsoleSite) -> None:
    console.seed("county-hospital", "王")
    with console.browser() as admin:
        console.login(admin, user="system")
        page = admin.get("/console/audit")
        assert 'data-chain="intact"' not in page.text
        assert admin.post("/console/audit/verify", data={}).status_code == 403  # no CSRF field
        verified = admin.post("/console/audit/verify", data={"csrf_token": csrf_of(page)})
        assert verified.status_code == 200 and 'data-chain="intact"' in verified.text
