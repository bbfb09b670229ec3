"""Break-the-glass: an emergency with a reason opens a time-limited window that is flagged
and reported; without a reason, or for a role that may not, it is refused.  Both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from tests.privacy.policy_support import DOCTOR_A, NOW, World, opened_world, user, with_purpose

from yilian.privacy.break_glass import break_glass_report

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(store_url: str) -> AsyncIterator[World]:
    async with opened_world(store_url, minutes=30) as w:
        yield w


async def test_emergency_needs_a_reason_and_a_role_that_may(world: World) -> None:
    w = world
    status, message = await w.status(with_purpose(DOCTOR_A, "emergency"), "GET", "Patient/p2")
    assert status == 403 and "reason" in message
    status, message = await w.status(with_purpose(user("records"), "emergency", "x"), "GET", "Patient/p2")
    assert status == 403 and "emergency" in message
    assert await break_glass_report(w.repository) == []
    assert w.sink.records[-1].outcome == 403


async def test_window_for_a_named_patient_opens_flags_and_expires(world: World) -> None:
    w = world
    emergency = with_purpose(DOCTOR_A, "emergency", "unconscious, arrived by ambulance")
    assert (await w.status(DOCTOR_A, "GET", "Patient/p2"))[0] == 404
    assert (await w.status(emergency, "GET", "Patient/p2"))[0] == 200
    assert w.sink.records[-1].break_glass is True
    # Inside the window, later requests see p2's records (and still only those of p2 and the
    # consented p1), flagged as break-the-glass.
    w.clock.now += timedelta(minutes=20)
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1", "ob3"}, set(), 4)
    assert w.sink.records[-1].break_glass is True
    everything = (await w.call(DOCTOR_A, "GET", "Patient/p2/$everything")).body or {}
    assert {e["resource"]["id"] for e in everything["entry"]} == {"p2", "ob3"}
    # After it closes, nothing of p2 is left.
    w.clock.now += timedelta(minutes=11)
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    assert w.sink.records[-1].break_glass is False
    assert (await w.status(DOCTOR_A, "GET", "Patient/p2"))[0] == 404
    report = await break_glass_report(w.repository, NOW - timedelta(minutes=1))
    assert [(r.subject, r.patient, r.reason, r.institution) for r in report] == [
        ("doctor-clinic-a", "p2", "unconscious, arrived by ambulance", "clinic-a")
    ]
    assert report[0].end - report[0].start == timedelta(minutes=30)
    assert await break_glass_report(w.repository, NOW + timedelta(minutes=1)) == []
    # Windows are invisible to anyone but the system client: not in any compartment.
    assert await w.ids(DOCTOR_A, "Basic") == (set(), set(), 0)


async def test_window_without_a_patient_covers_every_patient_and_is_reused(world: World) -> None:
    w = world
    nurse = with_purpose(user("nurse"), "emergency", "mass casualty")
    assert await w.ids(nurse, "Observation") == ({"oa1", "oa2", "ob1", "ob2", "ob3"}, set(), 5)
    assert await w.ids(nurse, "Observation") == ({"oa1", "oa2", "ob1", "ob2", "ob3"}, set(), 5)
    assert len(await break_glass_report(w.repository)) == 1  # the open window was reused
    # the window is the nurse's own: the doctor of the same institution sees no more
    assert await w.ids(DOCTOR_A, "Observation") == ({"oa1", "oa2", "ob1"}, set(), 3)
    # role types still hold in an emergency
    assert (await w.status(nurse, "GET", "Claim"))[0] == 403
