"""HL7 v2 tests: samples, message builders and a router over a real store on each backend.

`Alliance` runs mapped Bundles through the real `FhirRouter` (the transaction code the
intake will use) on a fresh SQLite file or PostgreSQL database with one registered
institution, and reads back what was stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from yilian.alliance.institutions import register_institution
from yilian.ingest.hl7 import MappingOptions, decode, parse, split, to_bundle
from yilian.router import FhirRequest, FhirResponse, FhirRouter, RouterSettings
from yilian.store.base import Repository

INSTITUTION = "county-hospital"
FACILITY = "QXXRMYY"
BASE = f"http://test.local/fhir/{INSTITUTION}"
OPTIONS = MappingOptions(authorities={FACILITY: INSTITUTION})


@pytest.fixture
def hl7_samples(shared_data: Path) -> Path:
    """The shared HL7 v2 sample folder (skipped where the shared data is absent)."""
    return shared_data / "hl7v2-samples"


def message(*segments: str) -> str:
    """A message of `segments` with CR ends."""
    return "".join(s + "\r" for s in segments)


def msh(kind: str = "ADT^A01^ADT_A01", control: str = "MSG1", version: str = "2.4", charset: str = "") -> str:
    fields = [
        "MSH",
        "^~\\&",
        "HIS",
        FACILITY,
        "YILIAN",
        "YILIAN",
        "20240305083000",
        "",
        kind,
        control,
        "P",
        version,
    ]
    if charset:
        fields += ["", "", "", "", "", charset]
    return "|".join(fields)


PID = (
    "PID|1||12345^^^QXXRMYY^MR~330127198803154417^^^CHN^NNCHN||张^三^^^^^L||19880315|M|||"
    "幸福路8号^^杭州市^浙江省^^CHN^H^^淳安县||13912345678^PRN^CP"
)
PV1 = "PV1|1|I|NEI^^^QXXRMYY||||D001^李医生|||NEI|||||||||V2024001^^^QXXRMYY^VN" + "|" * 25 + "20240305083000"


class Alliance:
    """A router over a store with INSTITUTION registered."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.router = FhirRouter(repository, RouterSettings())

    async def send(self, text: str, options: MappingOptions = OPTIONS) -> FhirResponse:
        """Decode, parse and map `text`, then run its Bundle as a transaction."""
        mapped = to_bundle(parse(split(decode(text.encode())).messages[0]), INSTITUTION, options)
        return await self.post(mapped.bundle)

    async def post(self, bundle: dict[str, Any]) -> FhirResponse:
        return await self.router.handle(
            FhirRequest("POST", (), partition=INSTITUTION, body=bundle, base_url=BASE)
        )

    async def search(self, rtype: str, *query: tuple[str, str]) -> list[dict[str, Any]]:
        response = await self.router.handle(
            FhirRequest(
                "GET", (rtype,), partition=INSTITUTION, query=[*query, ("_count", "200")], base_url=BASE
            )
        )
        assert response.body is not None
        return [
            e["resource"]
            for e in response.body.get("entry", [])
            if e.get("search", {}).get("mode") != "outcome"
        ]

    async def everything(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every stored resource but the institution's Organization, by (type, id)."""
        out = {}
        for rtype in (
            "Patient",
            "Encounter",
            "Condition",
            "ServiceRequest",
            "DiagnosticReport",
            "Observation",
            "Appointment",
            "DocumentReference",
        ):
            for resource in await self.search(rtype):
                out[(rtype, resource["id"])] = resource
        return out


@pytest.fixture
async def alliance(repo: Repository) -> AsyncIterator[Alliance]:
    await register_institution(repo, INSTITUTION, "县人民医院")
    yield Alliance(repo)
