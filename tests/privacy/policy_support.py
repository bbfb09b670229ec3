"""The world of the policy tests: two institutions, their patients and records, a Consent,
principals of every role, and a router that asks `AlliancePolicy`.

clinic-b holds p1 (ob1, ob2 labelled PSY, encounter eb1, claim cb1) and p2 (ob3); clinic-a holds
its own pa (oa1) and oa2 about p1.  The Consent `c1` (stored in clinic-b) lets clinic-a read
p1's records for treatment, except PSY, from a day ago to thirty days ahead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from yilian.alliance.institutions import register_institution
from yilian.auth.principal import Principal, SmartScope
from yilian.fhir.outcome import OutcomeError
from yilian.privacy.model import AccessRecord
from yilian.privacy.policy import AlliancePolicy
from yilian.router import FhirRequest, FhirResponse, FhirRouter
from yilian.router.status import status_code
from yilian.store.base import Repository, Scope
from yilian.store.factory import open_repository

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ALL = frozenset("cruds")
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def scopes(*texts: str) -> tuple[SmartScope, ...]:
    out = []
    for text in texts:
        context, _, rest = text.partition("/")
        rtype, _, perms = rest.partition(".")
        out.append(SmartScope(context, rtype, frozenset(perms)))  # type: ignore[arg-type]
    return tuple(out)


def user(role: str, institution: str | None = "clinic-a", **kw: Any) -> Principal:
    kw.setdefault("scopes", scopes("user/*.cruds"))
    return Principal(f"{role}-{institution}", role, institution, **kw)  # type: ignore[arg-type]


SYSTEM = Principal("integration", "system", scopes=scopes("system/*.cruds"))
DOCTOR_A = user("doctor")
DOCTOR_B = user("doctor", "clinic-b")
PATIENT_1 = Principal("pt-1", "patient", scopes=scopes("patient/*.rs"), patient="p1")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sink:
    records: list[AccessRecord] = field(default_factory=list)

    async def record(self, record: AccessRecord) -> None:
        self.records.append(record)


def obs(subject: str, code: str, psy: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{subject}"},
    }
    if psy:
        body["meta"] = {"security": [{"system": ACT, "code": "PSY"}]}
    return body


def consent(
    patient: str,
    purpose: str = "TREAT",
    actor_org: str | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    deny: Sequence[str] = ("PSY",),
    role: str | None = None,
    status: str = "active",
) -> dict[str, Any]:
    provision: dict[str, Any] = {
        "type": "permit",
        "period": {"start": (start or NOW - timedelta(days=1)).isoformat()},
        "purpose": [{"system": REASON, "code": purpose}],
    }
    if end is not False:
        provision["period"]["end"] = (end or NOW + timedelta(days=30)).isoformat()
    actor: dict[str, Any] = {"role": {"coding": [{"code": "PRCP"}]}, "reference": {"display": "any"}}
    if actor_org:
        actor["reference"] = {"reference": f"Organization/{actor_org}"}
    if role:
        actor["role"] = {"coding": [{"system": "urn:yilian:role", "code": role}]}
    if actor_org or role:
        provision["actor"] = [actor]
    if deny:
        provision["provision"] = [
            {"type": "deny", "securityLabel": [{"system": ACT, "code": c} for c in deny]}
        ]
    return {
        "resourceType": "Consent",
        "status": status,
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "provision": provision,
    }


class World:
    """The router under test plus the ids the tests need."""

    def __init__(self, repository: Repository, clock: Clock, minutes: int = 60) -> None:
        self.repository = repository
        self.clock = clock
        self.sink = Sink()
        self.policy = AlliancePolicy(break_glass_minutes=minutes, clock=clock)
        self.router = FhirRouter(repository, policy=self.policy, audit=self.sink)
        self.org: dict[str, str] = {}

    async def load(self) -> None:
        for code in ("clinic-a", "clinic-b"):
            partition = await register_institution(self.repository, code, code.upper())
            assert partition.organization_id is not None
            self.org[code] = partition.organization_id
        async with self.repository.transaction() as s:
            for rid, body, where in [
                ("p1", {"resourceType": "Patient", "name": [{"family": "One"}]}, "clinic-b"),
                ("p2", {"resourceType": "Patient", "name": [{"family": "Two"}]}, "clinic-b"),
                ("ob1", obs("p1", "1"), "clinic-b"),
                ("ob2", obs("p1", "2", psy=True), "clinic-b"),
                ("ob3", obs("p2", "3"), "clinic-b"),
                (
                    "eb1",
                    {
                        "resourceType": "Encounter",
                        "status": "finished",
                        "class": {"code": "AMB"},
                        "subject": {"reference": "Patient/p1"},
                    },
                    "clinic-b",
                ),
                (
                    "cb1",
                    {
                        "resourceType": "Claim",
                        "status": "active",
                        "type": {"coding": [{"code": "institutional"}]},
                        "use": "claim",
                        "patient": {"reference": "Patient/p1"},
                        "created": "2026-02-01",
                        "provider": {"display": "B"},
                        "priority": {"coding": [{"code": "normal"}]},
                        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "x"}}],
                    },
                    "clinic-b",
                ),
                ("pa", {"resourceType": "Patient", "name": [{"family": "Own"}]}, "clinic-a"),
                ("oa1", obs("pa", "4"), "clinic-a"),
                ("oa2", obs("p1", "5"), "clinic-a"),
                ("c1", {**consent("p1", actor_org=self.org["clinic-a"])}, "clinic-b"),
            ]:
                await s.create(body, where, id=rid)

    def request(
        self,
        principal: Principal,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        *,
        partition: str | None = None,
        body: Any = None,
    ) -> FhirRequest:
        base = "http://test.local/fhir" + (f"/{partition}" if partition else "")
        return FhirRequest(
            method, tuple(p for p in path.split("/") if p), partition, list(query), {}, body, base, principal
        )

    async def call(
        self, principal: Principal, method: str, path: str, query: Sequence[tuple[str, str]] = (), **kw: Any
    ) -> FhirResponse:
        return await self.router.handle(self.request(principal, method, path, query, **kw))

    async def status(
        self, principal: Principal, method: str, path: str, query: Sequence[tuple[str, str]] = (), **kw: Any
    ) -> tuple[int, str]:
        try:
            response = await self.call(principal, method, path, query, **kw)
            return status_code(response.outcome), ""
        except OutcomeError as error:
            return status_code(error.kind), str(error)

    async def ids(
        self, principal: Principal, path: str, query: Sequence[tuple[str, str]] = (), **kw: Any
    ) -> tuple[set[str], set[str], int | None]:
        """(match ids, include ids, total) of a search."""
        response = await self.call(principal, "GET", path, [*query, ("_count", "100")], **kw)
        assert response.body is not None
        entries = response.body.get("entry", [])
        matches = {e["resource"]["id"] for e in entries if e.get("search", {}).get("mode") == "match"}
        included = {e["resource"]["id"] for e in entries if e.get("search", {}).get("mode") == "include"}
        return matches, included, response.body.get("total")

    async def write_consent(self, body: dict[str, Any]) -> None:
        async with self.repository.transaction() as s:
            await s.update(body, "clinic-b", scope=Scope.everything())


def with_purpose(principal: Principal, purpose: str, reason: str | None = None) -> Principal:
    return replace(principal, purpose=purpose, break_glass_reason=reason)


@asynccontextmanager
async def opened_world(store_url: str, minutes: int = 60) -> AsyncIterator[World]:
    """The loaded world on a fresh database (`minutes`: the break-the-glass window)."""
    repository = open_repository(store_url)
    await repository.open()
    w = World(repository, Clock(), minutes=minutes)
    await w.load()
    try:
        yield w
    finally:
        await repository.close()
