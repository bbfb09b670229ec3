"""The front-sheet round trip of the feeds issue: `yilian synth`'s front-sheet CSV files, imported
with `import frontsheet`, give the same inpatient stays, diagnoses (codes, in order) and
procedures as the generator's own FHIR output of the same events, on both backends; a second
import changes nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from yilian.alliance import register_institution
from yilian.feeds.frontsheet import import_frontsheet
from yilian.router import FhirRequest, FhirRouter, RouterSettings
from yilian.store.factory import open_repository
from yilian.synth.alliance import Alliance
from yilian.synth.fhir_out import registration_resources
from yilian.synth.output import write

pytestmark = pytest.mark.anyio

PERSONS, MEMBERS, SEED = 150, 3, 4242


async def _all(router: FhirRouter, institution: str, rtype: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = await router.handle(
            FhirRequest(
                method="GET",
                path=(rtype,),
                partition=institution,
                query=[("_count", "500"), ("_offset", str(offset)), ("_sort", "_id")],
            )
        )
        entries = (response.body or {}).get("entry", [])
        out += [e["resource"] for e in entries]
        if len(entries) < 500:
            return out
        offset += 500


def _value(resource: dict[str, Any], prefix: str) -> str:
    return next(i["value"] for i in resource.get("identifier", []) if i["system"].startswith(prefix))


def _reduce(resources: list[dict[str, Any]], inpatient: set[str]) -> tuple[dict[str, Any], ...]:
    stays = {
        _value(e, "urn:yilian:visit:"): (
            e["class"]["code"],
            e["status"],
            datetime.fromisoformat(e["period"]["start"]),
            datetime.fromisoformat(e["period"]["end"]),
        )
        for e in resources
        if e["resourceType"] == "Encounter" and _value(e, "urn:yilian:visit:") in inpatient
    }
    diagnoses = {
        _value(c, "urn:yilian:diagnosis:"): (c["code"]["coding"][0]["system"], c["code"]["coding"][0]["code"])
        for c in resources
        if c["resourceType"] == "Condition" and _value(c, "urn:yilian:diagnosis:").split("/")[0] in inpatient
    }
    procedures = {
        _value(p, "urn:yilian:procedure:"): (
            p["code"]["coding"][0]["code"],
            p.get("performedDateTime", "")[:10],
        )
        for p in resources
        if p["resourceType"] == "Procedure"
    }
    return stays, diagnoses, procedures


async def test_synth_front_sheets_import_to_the_synth_fhir(store_url: str, tmp_path: Path) -> None:
    write(tmp_path, PERSONS, MEMBERS, SEED, formats=("frontsheet",))
    alliance = Alliance(PERSONS, MEMBERS, SEED)
    directory = alliance.directory
    expected: dict[str, list[dict[str, Any]]] = {i.code: [] for i in directory.institutions}
    inpatient: set[str] = set()
    for history in alliance.histories():
        inpatient |= {e.visit_number for e in history.encounters if e.kind == "inpatient"}
        for registration in history.registrations:
            expected[registration.institution] += registration_resources(history, registration, directory)
    repository = open_repository(store_url)
    await repository.open()
    try:
        for inst in directory.institutions:
            await register_institution(repository, inst.code, inst.name)
        router = FhirRouter(repository, RouterSettings(max_count=1000))
        stays_seen = 0
        for inst in directory.institutions:
            sheet = tmp_path / "frontsheet" / f"{inst.code}.csv"
            report = await import_frontsheet(
                router, sheet, inst.code, report_path=tmp_path / f"{inst.code}.err.csv"
            )
            assert report.failed == 0, report.problems[:3]
            stored = [
                r for t in ("Encounter", "Condition", "Procedure") for r in await _all(router, inst.code, t)
            ]
            want, got = _reduce(expected[inst.code], inpatient), _reduce(stored, inpatient)
            for kind, w, g in zip(("stays", "diagnoses", "procedures"), want, got, strict=True):
                assert g == w, f"{inst.code} {kind}: {len(g)} imported, {len(w)} expected"
            stays_seen += len(want[0])
            again = await import_frontsheet(router, sheet, inst.code, report_path=tmp_path / "again.csv")
            assert again.failed == 0 and again.loaded == 0, again.summary()
        assert stays_seen >= 10, "enough inpatient stays to mean something"
    finally:
        await repository.close()
