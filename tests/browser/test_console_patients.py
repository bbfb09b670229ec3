"""The console's patient flows in a real browser, over the demo's alliance: a county-hospital
doctor finds a patient by name and by resident ID and opens the record with a lab value and
its trend; a township doctor can neither find nor open it, until breaking the glass with a
reason; the audit page then shows both doctors' accesses, the emergency one flagged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.browser.conftest import PageWatch, demo_server

from yilian.cli.demo import DEMO_INSTITUTIONS, DEMO_PERSONS, DEMO_SEED
from yilian.synth.alliance import Alliance
from yilian.synth.model import Registration
from yilian.synth.resident_id import is_valid_resident_id

pytestmark = pytest.mark.browser

COUNTY, TOWNSHIP = "county-hospital", "baishui-thc"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_server(tmp_path_factory, audit_signing_key="browser-test-audit-key") as root:
        yield root


@pytest.fixture(scope="module")
def patient() -> Registration:
    """A county-hospital patient of the demo with lab results and a valid resident ID, whose
    name no other county patient shares (so the name search has one answer to click)."""
    histories = list(Alliance(DEMO_PERSONS, DEMO_INSTITUTIONS, DEMO_SEED).histories())
    county = [r for h in histories for r in h.registrations if r.institution == COUNTY]
    names = [r.name for r in county]
    for history in histories:
        for reg in history.registrations:
            labs = any(e.labs for e in history.encounters if e.registration_id == reg.registration_id)
            if (
                reg.institution == COUNTY
                and labs
                and reg.resident_id
                and is_valid_resident_id(reg.resident_id)
                and names.count(reg.name) == 1
                and all(r.institution != TOWNSHIP for r in history.registrations)
            ):
                return reg
    raise AssertionError("the demo alliance has no such patient")


def _log_in(page: Any, root: str, user: str) -> None:
    page.goto(f"{root}/console/login")
    page.locator(f"input[name=user][value='{user}']").check()
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"{root}/console/")


def _search(page: Any, root: str, q: str) -> None:
    page.goto(f"{root}/console/patients")
    page.locator("#patient-q").fill(q)
    page.locator("#patient-q").press("Enter")
    page.wait_for_load_state()


def test_find_open_refuse_break_the_glass_and_audit(
    page: Any, watch: PageWatch, live_server: str, patient: Registration, screenshot: Callable[[str], object]
) -> None:
    root = live_server
    _log_in(page, root, f"doctor@{COUNTY}")
    _search(page, root, patient.name)
    hit = page.locator("table.patients tbody tr").filter(has_text=patient.mrn)
    assert hit.count() == 1 and "青溪县人民医院" in hit.inner_text()
    screenshot("console-patient-search")
    assert patient.resident_id
    _search(page, root, patient.resident_id)
    assert page.locator("table.patients tbody tr").filter(has_text=patient.mrn).count() == 1
    page.locator("table.patients tbody tr").filter(has_text=patient.mrn).get_by_role("link").click()
    page.wait_for_load_state()
    record_url = page.url
    first_lab = page.locator("table.labs tbody tr").first
    assert first_lab.is_visible() and first_lab.locator("td.num").inner_text().strip()
    page.locator("#lab-chart canvas").first.wait_for(state="attached")  # the trend is drawn
    screenshot("console-patient-record")
    assert not watch.js_errors, watch.js_errors
    page.get_by_role("button", name="退出登录").click()

    _log_in(page, root, f"doctor@{TOWNSHIP}")
    _search(page, root, patient.resident_id)
    assert page.locator("[data-empty=patients]").is_visible()  # not found without consent
    page.goto(record_url)
    assert page.locator("[data-refusal]").is_visible()
    page.locator("#btg-reason").fill("患者昏迷送入急诊，需查既往检验结果")
    page.get_by_role("button", name="紧急授权并打开病历").click()
    page.wait_for_load_state()
    assert page.locator("table.labs tbody tr").first.is_visible()  # the record opened
    page.get_by_role("button", name="退出登录").click()

    page.goto(f"{root}/console/login")
    page.locator("input[name=user][value='system']").check()
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"{root}/console/")
    patient_id = record_url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    # "who has seen my record": each doctor's accesses, the township one's flagged
    for doctor, flagged in ((f"dr-2@{COUNTY}", False), (f"dr-1@{TOWNSHIP}", True)):
        page.goto(f"{root}/console/audit?patient={patient_id}&agent={doctor}")
        rows = page.locator("table.audit tbody tr")
        assert rows.count() >= 1 and all(
            doctor in t for t in page.locator("table.audit td.who").all_inner_texts()
        )
        assert (page.locator("table.audit [data-btg]").count() >= 1) is flagged
    page.goto(f"{root}/console/audit?patient={patient_id}")
    screenshot("console-audit")
