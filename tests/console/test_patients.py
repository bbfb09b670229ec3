"""Patient search and the patient record, through the router as the logged-in user (both
backends): a county doctor finds and opens a county patient; a township doctor can neither
find nor open them without consent, and can open the record after breaking the glass with a
reason (never without one)."""

from __future__ import annotations

import json
import re

import httpx
from tests.api.helpers import FHIR_JSON
from tests.console.conftest import ConsoleSite, csrf_of
from tests.serving import auth_headers

from yilian.alliance.identifiers import RESIDENT_ID_SYSTEM, mrn_system
from yilian.synth.resident_id import make_resident_id

COUNTY = "county-hospital"
TOWNSHIP = "dongshan-thc"
RESIDENT_ID = make_resident_id("331122", "1958-03-07", 13)
LOINC_GLUCOSE = "2345-7"


def seed_county_patient(site: ConsoleSite) -> str:
    """A county patient with a resident ID, an MRN, an encounter, a diagnosis and two glucose
    results (written as the system client)."""
    with httpx.Client(timeout=60, headers={**auth_headers(), **FHIR_JSON}) as api:
        base = f"{site.fhir}/{COUNTY}"
        patient = {
            "resourceType": "Patient",
            "identifier": [
                {"system": RESIDENT_ID_SYSTEM, "value": RESIDENT_ID},
                {"system": mrn_system(COUNTY), "value": "MRN-0042"},
            ],
            "name": [{"family": "欧阳", "given": ["建国"]}],
            "gender": "male",
            "birthDate": "1958-03-07",
        }
        made = api.post(f"{base}/Patient", json=patient)
        assert made.status_code == 201, made.text
        pid = str(made.json()["id"])
        subject = {"reference": f"Patient/{pid}"}
        records = [
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "serviceType": {"text": "内分泌科"},
                "subject": subject,
                "period": {"start": "2026-03-04T08:30:00+08:00"},
            },
            {
                "resourceType": "Condition",
                "code": {
                    "coding": [{"system": "urn:oid:2.16.156.10011.2.3.3.11", "code": "E11.9"}],
                    "text": "2型糖尿病",
                },
                "subject": subject,
                "recordedDate": "2026-03-04",
            },
        ]
        for when, value, flag in (
            ("2026-03-04T08:40:00+08:00", 7.8, "H"),
            ("2026-04-01T08:40:00+08:00", 6.1, "N"),
        ):
            records.append(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {
                        "coding": [{"system": "http://loinc.org", "code": LOINC_GLUCOSE, "display": "葡萄糖"}]
                    },
                    "subject": subject,
                    "effectiveDateTime": when,
                    "valueQuantity": {"value": value, "unit": "mmol/L"},
                    "referenceRange": [{"low": {"value": 3.9}, "high": {"value": 6.1}}],
                    "interpretation": [{"coding": [{"code": flag}]}],
                }
            )
        for record in records:
            stored = api.post(f"{base}/{record['resourceType']}", json=record)
            assert stored.status_code == 201, stored.text
        return pid


def hit_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-patient="([^"]+)">', html)


def test_a_county_doctor_finds_the_patient_by_name_and_resident_id_and_sees_the_record(
    console: ConsoleSite,
) -> None:
    pid = seed_county_patient(console)
    console.seed(TOWNSHIP, "欧阳")  # a namesake the county doctor may not see
    with console.browser() as doctor:
        console.login(doctor, user=f"doctor@{COUNTY}")
        by_name = doctor.get("/console/patients", params={"q": "欧阳"})
        assert by_name.status_code == 200
        assert hit_ids(by_name.text) == [pid]
        row = re.search(rf'<tr data-patient="{pid}">(.*?)</tr>', by_name.text, re.S)
        assert row is not None
        assert f'data-institution="{COUNTY}"' in row.group(1) and "MRN-0042" in row.group(1)
        assert "1958-03-07" in row.group(1) and "欧阳建国" in row.group(1)
        by_id = doctor.get("/console/patients", params={"q": RESIDENT_ID})
        assert hit_ids(by_id.text) == [pid]

        record = doctor.get(f"/console/patients/{pid}")
    assert record.status_code == 200, record.text[:2000]
    page = record.text
    assert "2型糖尿病" in page and "内分泌科" in page
    timeline = re.search(r'<ol class="timeline".*?</ol>', page, re.S)
    assert timeline is not None and "门诊" in timeline.group(0) and "已结束" in timeline.group(0)
    assert "finished" not in timeline.group(0)  # codes are shown as words of the reader's language
    labs = re.search(r'<table class="labs".*?</table>', page, re.S)
    assert labs is not None and "7.8" in labs.group(0) and "mmol/L" in labs.group(0)
    assert "3.9–6.1" in labs.group(0) and "2026-03-04 08:40" in labs.group(0)
    data = re.search(r'<script type="application/json" id="lab-data">(.*?)</script>', page, re.S)
    assert data is not None
    chart = json.loads(data.group(1))
    assert chart["test"] == LOINC_GLUCOSE and chart["values"] == [7.8, 6.1]  # oldest first


def test_a_township_doctor_needs_break_the_glass_with_a_reason(console: ConsoleSite) -> None:
    pid = seed_county_patient(console)
    with console.browser() as doctor:
        console.login(doctor, user=f"doctor@{TOWNSHIP}")
        search = doctor.get("/console/patients", params={"q": RESIDENT_ID})
        assert hit_ids(search.text) == [] and 'data-empty="patients"' in search.text
        refused = doctor.get(f"/console/patients/{pid}")
        assert refused.status_code in (403, 404)
        assert "data-refusal" in refused.text and "7.8" not in refused.text
        token = csrf_of(refused)

        no_reason = doctor.post(f"/console/patients/{pid}", data={"csrf_token": token, "reason": "  "})
        assert no_reason.status_code == 400 and 'data-error="reason"' in no_reason.text
        assert doctor.get(f"/console/patients/{pid}").status_code in (403, 404)  # still closed

        no_csrf = doctor.post(f"/console/patients/{pid}", data={"reason": "急诊昏迷"})
        assert no_csrf.status_code == 403
        assert doctor.get(f"/console/patients/{pid}").status_code in (403, 404)

        opened = doctor.post(
            f"/console/patients/{pid}", data={"csrf_token": token, "reason": "急诊昏迷，需查看既往血糖"}
        )
        assert opened.status_code == 303, opened.text[:2000]
        record = doctor.get(opened.headers["location"])
    assert record.status_code == 200
    assert "data-break-glass" in record.text and "7.8" in record.text
    assert f'data-institution="{COUNTY}"' in record.text


def test_empty_results_show_the_empty_state_and_paging_follows_the_router(console: ConsoleSite) -> None:
    for _ in range(3):
        console.seed(COUNTY, "司马")
    with console.browser() as doctor:
        console.login(doctor, user=f"doctor@{COUNTY}")
        prompt = doctor.get("/console/patients")
        assert 'data-empty="prompt"' in prompt.text and 'for="patient-q"' in prompt.text
        nothing = doctor.get("/console/patients", params={"q": "诸葛"})
        assert 'data-empty="patients"' in nothing.text and hit_ids(nothing.text) == []
        first = doctor.get("/console/patients", params={"q": "司马", "_count": "2"})
        assert len(hit_ids(first.text)) == 2 and 'rel="prev"' not in first.text
        following = re.search(r'<a rel="next" href="([^"]+)"', first.text)
        assert following is not None
        second = doctor.get(following.group(1).replace("&amp;", "&"))
    assert len(hit_ids(second.text)) == 1 and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert set(hit_ids(first.text)).isdisjoint(hit_ids(second.text))
