"""Consents that name no end are valid FHIR and common: they are stored and grant until
revoked; an alliance that wants them to lapse sets `consent_lapse_days`, counted from the
Consent's `dateTime` (else its period's start, else when it was recorded).  Both backends."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from tests.privacy.policy_support import DOCTOR_A, NOW, World, consent, user

from yilian.config import SettingsError, load_settings

pytestmark = pytest.mark.anyio

# consent-example-smartonfhir from the FHIR specification's examples (published CC0), as a
# build of R4 ships it, narrative left out; its status `in-progress` is not an R4
# consent-state code (the release has `proposed` for a consent not yet in force), so it is
# `proposed` here.
R4_SMART_ON_FHIR: dict[str, Any] = {
    "resourceType": "Consent",
    "id": "consent-example-smartonfhir",
    "status": "proposed",
    "scope": {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
        ]
    },
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"reference": "Patient/xcda"},
    "dateTime": "2016-06-23T17:02:33+10:00",
    "performer": [{"reference": "RelatedPerson/peter"}],
    "organization": [{"reference": "Organization/f001"}],
    "policyRule": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
    },
    "provision": {
        "period": {"start": "2016-06-23T17:02:33+10:00", "end": "2016-06-23T17:32:33+10:00"},
        "provision": [
            {
                "type": "permit",
                "action": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                                "code": "access",
                            }
                        ]
                    }
                ],
                "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "MedicationRequest"}],
            }
        ],
    },
}

RECORDS_B = user("records", "clinic-b")


def _open_ended(w: World, **extra: Any) -> dict[str, Any]:
    body = consent("p1", actor_org=w.org["clinic-a"])
    del body["provision"]["period"]["end"]
    return {**body, "id": "c1", **extra}


async def test_the_r4_example_and_its_open_ended_forms_are_stored(world: World) -> None:
    w = world
    example = {k: v for k, v in R4_SMART_ON_FHIR.items() if k != "id"}
    assert (await w.status(RECORDS_B, "POST", "Consent", body=example))[0] == 201
    no_end = copy.deepcopy(example)
    del no_end["provision"]["period"]["end"]
    assert (await w.status(RECORDS_B, "POST", "Consent", body=no_end))[0] == 201
    no_period = copy.deepcopy(example)
    del no_period["provision"]["period"]
    assert (await w.status(RECORDS_B, "POST", "Consent", body=no_period))[0] == 201
    no_provision = {k: v for k, v in example.items() if k != "provision"}
    assert (await w.status(RECORDS_B, "POST", "Consent", body=no_provision))[0] == 201
    malformed = copy.deepcopy(no_end)
    malformed["provision"]["period"] = {"start": "2016-99-99"}
    status, message = await w.status(RECORDS_B, "POST", "Consent", body=malformed)
    assert status == 400 and "Consent.provision.period" in message


async def test_an_open_ended_consent_grants_until_revoked(world: World) -> None:
    w = world
    await w.write_consent(_open_ended(w, dateTime=(NOW - timedelta(days=3650)).date().isoformat()))
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    w.clock.now = NOW + timedelta(days=3650)
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    await w.write_consent({**_open_ended(w), "status": "inactive"})
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2"}, set(), 2)


async def test_with_a_lapse_setting_an_open_ended_consent_lapses(world: World) -> None:
    w = world
    w.policy.consent_lapse_days = 30
    given = NOW - timedelta(days=10)
    await w.write_consent(_open_ended(w, dateTime=given.isoformat()))
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    w.clock.now = given + timedelta(days=30, minutes=1)
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2"}, set(), 2)
    # Without a dateTime the period's start counts (a day before NOW in `consent`).
    body = _open_ended(w)
    body.pop("dateTime", None)
    await w.write_consent(body)
    w.clock.now = NOW + timedelta(days=28)
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    w.clock.now = NOW + timedelta(days=30)
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2"}, set(), 2)


async def test_a_consent_that_names_its_end_keeps_it_under_the_lapse_setting(world: World) -> None:
    w = world
    w.policy.consent_lapse_days = 1
    body = consent("p1", actor_org=w.org["clinic-a"], end=NOW + timedelta(days=90))
    await w.write_consent({**body, "id": "c1", "dateTime": (NOW - timedelta(days=5)).isoformat()})
    w.clock.now = NOW + timedelta(days=60)
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    w.clock.now = NOW + timedelta(days=91)
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2"}, set(), 2)


def test_the_lapse_setting_is_off_by_default_and_not_negative() -> None:
    assert load_settings(env={}).consent_lapse_days == 0
    assert load_settings(env={"YILIAN_CONSENT_LAPSE_DAYS": "365"}).consent_lapse_days == 365
    with pytest.raises(SettingsError, match="consent_lapse_days"):
        load_settings(env={"YILIAN_CONSENT_LAPSE_DAYS": "-1"})
