"""The interfaces page lists the feed log within the user's scope, shows a message's raw text
and ACK, and replays it through the server's HL7 intake (CSRF-checked), both backends."""

from __future__ import annotations

import re

import httpx
from tests.api.helpers import INSTITUTIONS
from tests.console.conftest import AUDIT_KEY, ConsoleSite, csrf_of
from tests.feeds.feed_server import FACILITIES
from tests.feeds.test_mllp import adt_a01
from tests.serving import auth_headers, running_server

from yilian.api.hl7_route import HL7_MEDIA_TYPE, HL7_ROUTE

_ROW = re.compile(r'<tr data-message="([0-9a-f]+)" data-status="(\w+)">(.*?)</tr>', re.S)


def listed(html: str) -> dict[str, tuple[str, str]]:
    """message id -> (status, the row's cells)."""
    return {m: (status, cells) for m, status, cells in _ROW.findall(html)}


def _post(root: str, message: bytes) -> str:
    sent = httpx.post(
        f"{root}{HL7_ROUTE}",
        content=message,
        headers={**auth_headers(), "Content-Type": HL7_MEDIA_TYPE},
        timeout=30,
    )
    assert sent.status_code < 500, sent.text
    return sent.text


def test_list_read_and_replay_a_rejected_message(store_url: str) -> None:
    with running_server(
        store_url, institutions=INSTITUTIONS, audit_signing_key=AUDIT_KEY, hl7_facilities=FACILITIES
    ) as base:
        site = ConsoleSite(base.removesuffix("/fhir"), base)
        assert "MSA|AR" in _post(site.root, adt_a01("c-1", "901", facility="NEWCLINIC"))
        assert "MSA|AA" in _post(site.root, adt_a01("c-2", "902"))
        with site.browser() as admin, site.browser() as far, site.browser() as near:
            site.login(admin, user="system")
            site.login(far, user="doctor@dongshan-thc")
            site.login(near, user="doctor@county-hospital")
            every = listed(admin.get("/console/interfaces").text)
            assert len(every) == 2
            [rejected] = [m for m, (status, _) in every.items() if status == "rejected"]
            assert "NEWCLINIC" in every[rejected][1] and "c-1" in every[rejected][1]
            assert "hl7_facilities" in every[rejected][1]  # the error says what to do
            only = listed(admin.get("/console/interfaces", params={"status": "rejected"}).text)
            assert list(only) == [rejected]
            later = admin.get("/console/interfaces", params={"since": "2099-01-01T00:00"})
            assert listed(later.text) == {} and "没有符合条件的 HL7 消息" in later.text
            # a doctor of another institution sees none of the county's messages
            assert listed(far.get("/console/interfaces").text) == {}
            mine = listed(near.get("/console/interfaces").text)
            assert len(mine) == 1 and next(iter(mine.values()))[0] == "stored"
            assert far.get(f"/console/interfaces/{next(iter(mine))}").status_code == 404

            page = admin.get(f"/console/interfaces/{rejected}")
            assert page.status_code == 200
            assert "PID|1||901" in page.text and "MSA|AR" in page.text
            assert admin.post(f"/console/interfaces/{rejected}/replay", data={}).status_code == 403
            still = admin.post(f"/console/interfaces/{rejected}/replay", data={"csrf_token": csrf_of(page)})
            assert 'data-replay="AR"' in still.text
    fixed = FACILITIES + ",NEWCLINIC=dongshan-thc"
    with running_server(store_url, audit_signing_key=AUDIT_KEY, hl7_facilities=fixed) as base:
        site = ConsoleSite(base.removesuffix("/fhir"), base)
        with site.browser() as admin:
            site.login(admin, user="system")
            page = admin.get(f"/console/interfaces/{rejected}")
            replayed = admin.post(
                f"/console/interfaces/{rejected}/replay", data={"csrf_token": csrf_of(page)}
            )
            assert replayed.status_code == 200
            assert 'data-replay="AA"' in replayed.text and 'data-status="stored"' in replayed.text
            after = listed(admin.get("/console/interfaces", params={"status": "stored"}).text)
            assert rejected in after and "NEWCLINIC" in after[rejected][1]
        patients = httpx.get(
            f"{site.fhir}/dongshan-thc/Patient",
            params={"identifier": "901"},
            headers=auth_headers(),
            timeout=30,
        ).json()
        assert patients.get("total", len(patients.get("entry", []))) >= 1
