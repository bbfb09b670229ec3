"""The access matrix: every role × consent state × interaction, checked against an oracle.

The oracle below states, independently of `yilian.privacy`, which of the world's
patient-level records each caller may see in each consent state (see policy_support.py for
the world): its own institution's records of the types its role reads, plus the consenting
patient's compartment where a Consent names the caller's institution and purpose (less the
labels the Consent excludes), plus everything under a break-the-glass window.  Every
interaction is then asked through the router and must return exactly the oracle's answer:
403 where the role may not ask at all, 404 for a record outside what it may see, and
otherwise precisely the visible subset of what the alliance holds, with matching totals,
includes, revincludes, chains, `_has`, history, vread, paging, `$everything` and `$export`.  Both backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from tests.bulk.support import exported_ids
from tests.privacy.policy_support import (
    DOCTOR_A,
    PATIENT_1,
    SYSTEM,
    World,
    consent,
    opened_world,
    user,
    with_purpose,
)

from yilian.auth.principal import Principal
from yilian.bulk.jobs import JobManager
from yilian.fhir.outcome import OutcomeError
from yilian.router import FhirRouter
from yilian.router.settings import RouterSettings
from yilian.router.status import status_code
from yilian.store.base import Scope

pytestmark = pytest.mark.anyio

# -- the world, as data ------------------------------------------------------------------------

TYPE = {
    "pa": "Patient",
    "oa1": "Observation",
    "oa2": "Observation",
    "p1": "Patient",
    "p2": "Patient",
    "ob1": "Observation",
    "ob2": "Observation",
    "ob3": "Observation",
    "eb1": "Encounter",
    "cb1": "Claim",
    "c1": "Consent",
}
CLINIC_A = frozenset({"pa", "oa1", "oa2"})
SUBJECT = {
    "oa1": "pa",
    "oa2": "p1",
    "ob1": "p1",
    "ob2": "p1",
    "ob3": "p2",
    "eb1": "p1",
    "cb1": "p1",
    "c1": "p1",
}
CODE = {"oa1": "4", "oa2": "5", "ob1": "1", "ob2": "2", "ob3": "3"}
FAMILY = {"pa": "Own", "p1": "One", "p2": "Two"}
PSY = frozenset({"ob2"})
P1_COMPARTMENT = frozenset({"p1"} | {r for r, s in SUBJECT.items() if s == "p1"})

CLINICAL = frozenset({"Patient", "Observation", "Encounter", "Consent"})
EVERY = CLINICAL | {"Claim"}
ROLE_TYPES = {  # the patient-level types each role reads (the role table, restated)
    "doctor": CLINICAL,
    "nurse": CLINICAL,
    "records": EVERY,
    "insurance": frozenset({"Patient", "Encounter", "Claim"}),
    "researcher": EVERY,
    "regulator": EVERY,
    "admin": EVERY,
    "patient": EVERY,
    "system": EVERY,
}
DEFAULT_PURPOSE = {"doctor": "TREAT", "nurse": "TREAT", "records": "TREAT", "insurance": "HPAYMT"}
DEIDENTIFIED = frozenset({"researcher", "regulator"})  # no patient-level data without a Consent
CAN_BREAK_GLASS = frozenset({"doctor", "nurse"})

PRINCIPALS: dict[str, Principal] = {
    "doctor": DOCTOR_A,
    "nurse": user("nurse"),
    "records": user("records"),
    "insurance": user("insurance"),
    "researcher": user("researcher"),
    "regulator": user("regulator"),
    "admin": user("admin"),
    "patient": PATIENT_1,
    "system": SYSTEM,
}
STATES = ("none", "treatment", "payment", "research", "revoked", "expired", "break-glass")


@dataclass(frozen=True)
class Expected:
    """What one caller may do in one state: `denied` types answer 403, `visible` ids are seen."""

    denied: frozenset[str]
    visible: frozenset[str]


def oracle(role: str, state: str, existing: frozenset[str]) -> Expected:
    types = ROLE_TYPES[role]
    denied = EVERY - types
    if role == "system":
        return Expected(frozenset(), existing)
    if role == "patient":
        return Expected(frozenset(), existing & P1_COMPARTMENT)
    if state == "break-glass":
        if role not in CAN_BREAK_GLASS:
            return Expected(EVERY, frozenset())
        return Expected(denied, frozenset(r for r in existing if TYPE[r] in types))
    granted: frozenset[str] = frozenset()
    consent_purpose = {"treatment": "TREAT", "payment": "HPAYMT", "research": "HRESCH"}.get(state)
    if consent_purpose == "HRESCH" and role == "researcher":
        granted = P1_COMPARTMENT  # a research consent naming no recipient, excluding nothing
    elif consent_purpose and DEFAULT_PURPOSE.get(role) == consent_purpose:
        granted = P1_COMPARTMENT - PSY  # names clinic-a, excludes PSY
    own = frozenset() if role in DEIDENTIFIED else CLINIC_A
    visible = frozenset(r for r in (own | granted) & existing if TYPE[r] in types)
    if role in DEIDENTIFIED and not granted:
        denied = EVERY
    return Expected(denied, visible)


# -- the run -------------------------------------------------------------------------------------


@pytest.fixture
async def world(store_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with opened_world(store_url) as w:
        jobs = JobManager(w.repository, tmp_path / "bulk")
        w.router = FhirRouter(w.repository, RouterSettings(jobs=jobs), policy=w.policy, audit=w.sink)
        try:
            yield w
        finally:
            await jobs.close()


async def enter(w: World, state: str) -> frozenset[str]:
    """Put the world in `state`; returns the ids that exist in it."""
    existing = frozenset(TYPE)
    org_a = w.org["clinic-a"]
    if state in ("none", "break-glass"):
        async with w.repository.transaction() as s:
            await s.delete("Consent", "c1", Scope.everything())
        existing -= {"c1"}
    elif state == "payment":
        await w.write_consent({**consent("p1", "HPAYMT", actor_org=org_a), "id": "c1"})
    elif state == "research":
        await w.write_consent({**consent("p1", "HRESCH", deny=()), "id": "c1"})
    elif state == "revoked":
        await w.write_consent({**consent("p1", actor_org=org_a, status="inactive"), "id": "c1"})
    elif state == "expired":
        w.clock.now += timedelta(days=31)
    return existing


def caller(role: str, state: str) -> Principal:
    principal = PRINCIPALS[role]
    if state == "break-glass" and role not in ("patient", "system"):
        return with_purpose(principal, "emergency", "unconscious on arrival")
    return principal


class Checker:
    def __init__(self, w: World, who: Principal, label: str) -> None:
        self.w, self.who, self.label = w, who, label
        self.failures: list[str] = []

    def check(self, what: str, got: object, want: object) -> None:
        if got != want:
            self.failures.append(f"{self.label} {what}: got {got!r}, want {want!r}")

    async def search(
        self, path: str, query: list[tuple[str, str]], want: tuple[set[str], set[str]] | None
    ) -> None:
        status, _ = await self.w.status(self.who, "GET", path, query)
        if want is None:
            self.check(f"GET {path}?{query} status", status, 403)
            return
        if status != 200:
            self.check(f"GET {path}?{query} status", status, 200)
            return
        matches, included, total = await self.w.ids(self.who, path, query)
        self.check(f"GET {path}?{query}", (matches, included, total), (*want, len(want[0])))

    async def status(self, path: str, want: int) -> None:
        self.check(f"GET {path}", (await self.w.status(self.who, "GET", path))[0], want)


async def run_matrix(w: World, role: str, state: str, existing: frozenset[str]) -> list[str]:
    exp = oracle(role, state, existing)
    c = Checker(w, caller(role, state), f"[{role} / {state}]")
    seen = exp.visible

    def of(rtype: str) -> set[str]:
        return {r for r in seen if TYPE[r] == rtype}

    def may(rtype: str) -> bool:
        return rtype not in exp.denied

    obs, patients = of("Observation"), of("Patient")
    # search, _include, _revinclude, chaining, _has
    await c.search("Observation", [], (obs, set()) if may("Observation") else None)
    await c.search("Patient", [], (patients, set()) if may("Patient") else None)
    await c.search("Encounter", [], (of("Encounter"), set()) if may("Encounter") else None)
    await c.search("Claim", [], (of("Claim"), set()) if may("Claim") else None)
    await c.search(
        "Observation",
        [("_include", "Observation:subject")],
        (obs, {SUBJECT[o] for o in obs} & patients) if may("Observation") else None,
    )
    revincluded = {o for o in obs if SUBJECT[o] in patients} if may("Observation") else set()
    await c.search(
        "Patient",
        [("_revinclude", "Observation:subject")],
        (patients, revincluded) if may("Patient") else None,
    )
    for family in ("One", "Two", "Own"):
        chained = {o for o in obs if SUBJECT[o] in patients and FAMILY[SUBJECT[o]] == family}
        await c.search(
            "Observation", [("subject.family", family)], (chained, set()) if may("Observation") else None
        )
    for code in ("1", "2", "3", "4"):
        has = {p for p in patients if any(SUBJECT[o] == p and CODE[o] == code for o in obs)}
        await c.search(
            "Patient", [("_has:Observation:subject:code", code)], (has, set()) if may("Patient") else None
        )
    # history at type level, and paging one entry at a time
    if may("Observation"):
        history = (await c.w.call(c.who, "GET", "Observation/_history")).body or {}
        c.check("Observation/_history", {e["resource"]["id"] for e in history.get("entry", [])}, obs)
        c.check("Observation/_history total", history.get("total"), len(obs))
        c.check("paging walk", await walk(c, "Observation"), sorted(obs))
    else:
        await c.status("Observation/_history", 403)
    # read and vread of every record, history of every instance
    for rid, rtype in TYPE.items():
        if rid not in existing:
            continue
        want = 403 if not may(rtype) else 200 if rid in seen else 404
        if role in DEIDENTIFIED and rtype == "Patient" and rid not in seen:
            want = 403  # a request naming a patient is decided for that patient: no Consent, no data
        await c.status(f"{rtype}/{rid}", want)
        await c.status(f"{rtype}/{rid}/_history/1", want)
        await c.status(f"{rtype}/{rid}/_history", want)
    # $everything
    for pid in ("p1", "p2", "pa"):
        if not may("Patient"):
            await c.status(f"Patient/{pid}/$everything", 403)
            continue
        if pid not in seen:
            await c.status(f"Patient/{pid}/$everything", 403 if role in DEIDENTIFIED else 404)
            continue
        body = (await c.w.call(c.who, "GET", f"Patient/{pid}/$everything")).body or {}
        compartment = {pid} | {r for r, s in SUBJECT.items() if s == pid}
        c.check(
            f"Patient/{pid}/$everything", {e["resource"]["id"] for e in body["entry"]}, compartment & seen
        )
    # $export of every type the role may read
    readable = sorted(EVERY - exp.denied)
    if not readable:
        await c.status("$export", 403)
    else:
        want_export = {t: of(t) for t in readable if of(t)}
        c.check("$export", await export(c, readable), want_export)
    return c.failures


async def export(c: Checker, types: list[str]) -> dict[str, set[str]] | int:
    """The ids a system-level `$export` of `types` writes, per type (or the refusal status)."""
    request = c.w.request(c.who, "GET", "$export", [("_type", ",".join(types))])
    try:
        return await exported_ids(c.w.router, request)
    except OutcomeError as refused:
        return status_code(refused.kind)


async def walk(c: Checker, rtype: str) -> list[str]:
    """Every id a one-per-page walk of the next links returns, in order."""
    query: list[tuple[str, str]] = [("_count", "1"), ("_sort", "_id")]
    found: list[str] = []
    for _ in range(20):
        body = (await c.w.call(c.who, "GET", rtype, query)).body or {}
        found += [e["resource"]["id"] for e in body.get("entry", [])]
        link = next((x["url"] for x in body.get("link", []) if x["relation"] == "next"), None)
        if link is None:
            break
        query = [tuple(kv.split("=", 1)) for kv in link.split("?", 1)[1].split("&")]  # type: ignore[misc]
    return sorted(found)


@pytest.mark.parametrize("state", STATES)
async def test_access_matrix(world: World, state: str) -> None:
    existing = await enter(world, state)
    failures: list[str] = []
    for role in PRINCIPALS:
        failures += await run_matrix(world, role, state, existing)
    assert not failures, "\n".join(failures)


def test_the_oracle_is_not_trivial() -> None:
    """Each state must separate roles, so the matrix cannot pass with one answer for all."""
    for state in STATES:
        answers = {oracle(role, state, frozenset(TYPE)) for role in PRINCIPALS}
        assert len(answers) >= 3, state
    assert oracle("doctor", "treatment", frozenset(TYPE)).visible == CLINIC_A | {"p1", "ob1", "eb1", "c1"}
    assert replace(oracle("doctor", "none", frozenset(TYPE))).visible == CLINIC_A
