"""AlliancePolicy through the router, on both backends: roles x institutions x consent
states x interactions, with the exact result sets and totals (see policy_support.py for
the world these tests read)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from tests.privacy.policy_support import (
    DOCTOR_A,
    DOCTOR_B,
    PATIENT_1,
    SYSTEM,
    World,
    consent,
    obs,
    scopes,
    user,
)

pytestmark = pytest.mark.anyio


# -- consent states × interactions -------------------------------------------------------------


async def test_active_consent_opens_p1_less_psy_everywhere(world: World) -> None:
    w = world
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    assert await w.ids(DOCTOR_A, "Patient") == ({"pa", "p1"}, set(), 2)
    assert (await w.status(DOCTOR_A, "GET", "Observation/ob1"))[0] == 200
    for hidden in ("Observation/ob2", "Observation/ob3", "Patient/p2", "Observation/ob2/_history/1"):
        assert (await w.status(DOCTOR_A, "GET", hidden))[0] == 404, hidden
    assert await w.ids(DOCTOR_A, "Patient", [("_id", "p1,p2"), ("_revinclude", "Observation:subject")]) == (
        {"p1"},
        {"oa2", "ob1"},
        1,
    )
    assert await w.ids(
        DOCTOR_A, "Observation", [("_id", "ob1,ob3"), ("_include", "Observation:subject")]
    ) == (
        {"ob1"},
        {"p1"},
        1,
    )
    assert await w.ids(DOCTOR_A, "Observation", [("subject.family", "One")]) == ({"oa2", "ob1"}, set(), 2)
    assert await w.ids(DOCTOR_A, "Observation", [("subject.family", "Two")]) == (set(), set(), 0)
    assert await w.ids(DOCTOR_A, "Patient", [("_has:Observation:subject:code", "2")]) == (set(), set(), 0)
    assert await w.ids(DOCTOR_A, "Patient", [("_has:Observation:subject:code", "1")]) == ({"p1"}, set(), 1)
    history = (await w.call(DOCTOR_A, "GET", "Observation/_history")).body or {}
    assert history["total"] == 3
    assert {e["resource"]["id"] for e in history["entry"]} == {"oa1", "oa2", "ob1"}
    everything = (await w.call(DOCTOR_A, "GET", "Patient/p1/$everything")).body or {}
    # cb1 is a Claim (not a doctor's type), ob2 is PSY, the Consent c1 is in p1's compartment.
    assert {e["resource"]["id"] for e in everything["entry"]} == {"p1", "oa2", "ob1", "eb1", "c1"}
    assert everything["total"] == 5
    assert (await w.status(DOCTOR_A, "GET", "Patient/p2/$everything"))[0] == 404


async def test_no_consent_for_the_other_institution(world: World) -> None:
    # clinic-b's doctor: c1 names clinic-a only, so pa's records stay hidden, b's own are there.
    assert await world.ids(DOCTOR_B, "Observation") == ({"ob1", "ob2", "ob3"}, set(), 3)
    assert (await world.status(DOCTOR_B, "GET", "Observation/oa1"))[0] == 404
    assert await world.ids(DOCTOR_B, "Patient", [("_revinclude", "Observation:subject")]) == (
        {"p1", "p2"},
        {"ob1", "ob2", "ob3"},
        2,
    )


async def test_revocation_takes_effect_on_the_next_request(world: World) -> None:
    w = world
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    page = (await w.call(DOCTOR_A, "GET", "Observation", [("_count", "1"), ("_sort", "_id")])).body or {}
    next_link = next(link["url"] for link in page["link"] if link["relation"] == "next")
    await w.write_consent({**consent("p1", actor_org=w.org["clinic-a"], status="inactive"), "id": "c1"})
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2"}, set(), 2)
    # a paging cursor from before the revocation replays the query under today's scope
    query = [tuple(kv.split("=", 1)) for kv in next_link.split("?", 1)[1].split("&")]
    replay = (await w.call(DOCTOR_A, "GET", "Observation", query)).body or {}
    assert replay["total"] == 2 and "ob1" not in {e["resource"]["id"] for e in replay.get("entry", [])}
    assert (await w.status(DOCTOR_A, "GET", "Observation/ob1"))[0] == 404
    assert (await w.status(DOCTOR_A, "GET", "Observation/ob1/_history/1"))[0] == 404
    assert (await w.status(DOCTOR_A, "GET", "Observation/ob1/_history"))[0] == 404


async def test_deleted_and_expired_consents_grant_nothing(world: World) -> None:
    w = world
    w.clock.now += timedelta(days=31)  # past c1's end
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2"}, set(), 2)
    w.clock.now -= timedelta(days=31)
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    async with w.repository.transaction() as s:
        from yilian.store.base import Scope

        await s.delete("Consent", "c1", Scope.everything())
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2"}, set(), 2)


async def test_consent_without_exclusions_and_for_a_role(world: World) -> None:
    w = world
    await w.write_consent({**consent("p1", role="nurse", deny=()), "id": "c1"})
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2"}, set(), 2)  # doctors not named
    nurse = user("nurse")
    assert await w.ids(nurse, "Observation") == ({"oa1", "oa2", "ob1", "ob2"}, set(), 4)


async def test_consent_write_rules(world: World) -> None:
    w = world
    body = consent("p1", actor_org=w.org["clinic-b"])
    records_b = user("records", "clinic-b")
    body["provision"]["period"] = {"start": "2026-13-45", "end": "2027"}
    status, message = await w.status(records_b, "POST", "Consent", body=body)
    assert status == 400 and "Consent.provision.period" in message
    body["provision"]["period"] = {"start": "2027-01-01", "end": "2026-01-01"}
    assert (await w.status(records_b, "POST", "Consent", body=body))[0] == 422
    narrowed = consent("p1")
    narrowed["provision"]["securityLabel"] = [{"code": "PSY"}]
    assert (await w.status(records_b, "POST", "Consent", body=narrowed))[0] == 422
    assert (await w.status(records_b, "POST", "Consent", body=consent("p2")))[0] == 201
    # doctors do not record consents
    assert (await w.status(DOCTOR_B, "POST", "Consent", body=consent("p2")))[0] == 403


# -- roles -------------------------------------------------------------------------------------


async def test_role_table(world: World) -> None:
    w = world
    insurance = user("insurance")
    assert (await w.status(insurance, "GET", "Observation"))[0] == 403
    assert await w.ids(insurance, "Claim") == (set(), set(), 0)  # no payment consent
    await w.write_consent({**consent("p1", "HPAYMT", actor_org=w.org["clinic-a"]), "id": "c1"})
    assert await w.ids(insurance, "Claim") == ({"cb1"}, set(), 1)
    assert await w.ids(insurance, "Claim", [("_include", "Claim:patient")]) == ({"cb1"}, {"p1"}, 1)
    # includes stop at the role's types: no Observations for insurance through _revinclude
    assert await w.ids(insurance, "Patient", [("_id", "p1"), ("_revinclude", "Observation:subject")]) == (
        {"p1"},
        set(),
        1,
    )
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2"}, set(), 2)  # c1 is for payment now

    records = user("records")
    assert await w.ids(records, "Observation") == ({"oa1", "oa2"}, set(), 2)
    admin = user("admin")
    assert await w.ids(admin, "Observation") == ({"oa1", "oa2"}, set(), 2)
    assert (await w.status(admin, "POST", "Observation", body=obs("pa", "9")))[0] == 403
    practitioner = {"resourceType": "Practitioner", "name": [{"family": "New"}]}
    assert (await w.status(admin, "POST", "Practitioner", body=practitioner))[0] == 201


async def test_researcher_and_regulator_need_consent(world: World) -> None:
    w = world
    for role, code in (("researcher", "HRESCH"), ("regulator", "PUBHLTH")):
        reader = user(role)
        status, message = await w.status(reader, "GET", "Observation")
        assert status == 403 and "de-identified" in message
        assert (await w.status(reader, "GET", "Patient/pa"))[0] == 403
        assert await w.ids(reader, "Organization") == ({w.org["clinic-a"]}, set(), 1)
        await w.write_consent({**consent("p1", code, deny=()), "id": "c1"})
        # only the consenting patient, in every institution, never the own institution's others
        assert await w.ids(reader, "Observation") == ({"oa2", "ob1", "ob2"}, set(), 3)
        assert await w.ids(reader, "Patient") == ({"p1"}, set(), 1)


async def test_patient_reads_only_their_compartment(world: World) -> None:
    w = world
    assert await w.ids(PATIENT_1, "Observation") == ({"oa2", "ob1", "ob2"}, set(), 3)
    assert await w.ids(PATIENT_1, "Patient") == ({"p1"}, set(), 1)
    assert (await w.status(PATIENT_1, "GET", "Observation/ob3"))[0] == 404
    assert (await w.status(PATIENT_1, "GET", "Patient/p1/$everything"))[0] == 200
    assert (await w.status(PATIENT_1, "POST", "Observation", body=obs("p1", "7")))[0] == 403
    assert await w.ids(PATIENT_1, "Observation", partition="clinic-a") == ({"oa2"}, set(), 1)


async def test_system_reads_and_writes_everything(world: World) -> None:
    w = world
    assert (await w.ids(SYSTEM, "Observation"))[2] == 5
    assert await w.ids(SYSTEM, "Observation", partition="clinic-b") == ({"ob1", "ob2", "ob3"}, set(), 3)
    created = await w.call(SYSTEM, "POST", "Observation", body=obs("p2", "8"), partition="clinic-b")
    assert created.body is not None
    async with w.repository.transaction(read_only=True) as s:
        from yilian.store.base import Scope

        assert (await s.read("Observation", created.body["id"], Scope.everything())).partition == "clinic-b"
    not_system = replace(SYSTEM, scopes=scopes("user/*.cruds"))
    assert (await w.status(not_system, "GET", "Observation"))[0] == 403


# -- institutions ------------------------------------------------------------------------------


async def test_writes_land_in_the_own_institution(world: World) -> None:
    w = world
    status, message = await w.status(
        DOCTOR_A, "POST", "Observation", body=obs("pa", "9"), partition="clinic-b"
    )
    assert status == 403 and "clinic-b" in message
    created = await w.call(DOCTOR_A, "POST", "Observation", body=obs("pa", "9"))
    assert created.body is not None
    assert created.body["id"] in (await w.ids(DOCTOR_A, "Observation", partition="clinic-a"))[0]
    # visible under consent, but never writable: writes never use grants
    update = {**obs("p1", "1"), "id": "ob1"}
    assert (await w.status(DOCTOR_A, "PUT", "Observation/ob1", body=update))[0] == 404
    assert (await w.status(DOCTOR_A, "DELETE", "Observation/ob1"))[0] == 200
    assert (await w.status(SYSTEM, "GET", "Observation/ob1"))[0] == 200  # the delete touched nothing
    # a Bundle is decided entry by entry (more in test_bundle_access.py)
    entry = {"request": {"method": "POST", "url": "Observation"}, "resource": obs("pa", "9")}
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry]}
    response = await w.call(DOCTOR_A, "POST", "", body=bundle, partition="clinic-b")
    assert response.body is not None and response.body["entry"][0]["response"]["status"].startswith("403")


async def test_reading_through_another_institutions_base(world: World) -> None:
    w = world
    assert await w.ids(DOCTOR_A, "Observation", partition="clinic-b") == ({"ob1"}, set(), 1)
    assert await w.ids(DOCTOR_A, "Observation", partition="clinic-a") == ({"oa1", "oa2"}, set(), 2)


# -- SMART scopes --------------------------------------------------------------------------------


async def test_scopes_must_cover_the_interaction(world: World) -> None:
    w = world
    narrow = replace(DOCTOR_A, scopes=scopes("user/Patient.rs"))
    status, message = await w.status(narrow, "GET", "Observation")
    assert status == 403 and "user/Observation.s" in message
    assert await w.ids(narrow, "Patient", [("_id", "pa"), ("_revinclude", "Observation:subject")]) == (
        {"pa"},
        set(),
        1,
    )
    search_only = replace(DOCTOR_A, scopes=scopes("user/Observation.s"))
    status, message = await w.status(search_only, "GET", "Observation/oa1")
    assert status == 403 and "user/Observation.r" in message
    assert (await w.status(search_only, "GET", "Observation/_history"))[0] == 403
    assert (await w.status(narrow, "GET", "_history"))[0] == 403  # system level needs a * scope
    read_only = replace(DOCTOR_A, scopes=scopes("user/*.rs"))
    status, message = await w.status(read_only, "POST", "Observation", body=obs("pa", "9"))
    assert status == 403 and "user/Observation.c" in message


async def test_patient_scopes_hold_staff_to_the_patient_in_context(world: World) -> None:
    w = world
    launched = replace(DOCTOR_A, scopes=scopes("patient/*.rs"), patient="pa")
    assert await w.ids(launched, "Observation") == ({"oa1"}, set(), 1)
    on_p1 = replace(launched, patient="p1")
    assert await w.ids(on_p1, "Observation") == ({"oa2", "ob1"}, set(), 2)  # own + consented
    no_context = replace(launched, patient=None)
    assert (await w.status(no_context, "GET", "Observation"))[0] == 403
    assert (await w.status(launched, "POST", "Observation", body=obs("pa", "9")))[0] == 403
