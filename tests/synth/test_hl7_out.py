"""synth.hl7_out: the writer's messages parse, map, and come back as the FHIR the alliance
generator's own FHIR writer makes (its conventions, written out here by hand while
`synth.fhir_out` is being written)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from tests.ingest.hl7.conftest import Alliance

from yilian.alliance.identifiers import (
    RESIDENT_ID_SYSTEM,
    filler_system,
    mrn_system,
    result_system,
    visit_system,
)
from yilian.alliance.institutions import register_institution
from yilian.ingest.hl7 import MappingOptions, decode, parse, split, to_bundle
from yilian.router import FhirRequest
from yilian.store.base import Repository
from yilian.synth import model
from yilian.synth.hl7_out import messages

CST = timezone(timedelta(hours=8))
TOWNSHIP = model.Institution(
    "qx-town-a",
    "青溪镇卫生院",
    "township-centre",
    "QXZWSY",
    "12330127MB0000001X",
    "330127",
    "青溪镇",
    "qx-county",
)
DIRECTORY = model.Directory(
    institutions=(TOWNSHIP,),
    departments=(model.Department("qx-town-a", "NK", "内科"), model.Department("qx-town-a", "JZ", "急诊科")),
    practitioners=(
        model.Practitioner("D0012", "qx-town-a", "NK", "王|医生", "wang", "110330100001", "doctor"),
    ),
)
ADDRESS = model.Address("浙江省", "杭州市", "淳安县", "青溪镇", "东村", "幸福路8号")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=CST)


REGISTRATION = model.Registration(
    "R1",
    "P1",
    "qx-town-a",
    "MZ000123",
    "欧阳",
    "娜娜",
    "ouyang",
    "nana",
    "female",
    date(1990, 2, 28),
    "330127199002284427",
    "13912345678",
    ADDRESS,
    "杭州市淳安县青溪镇东村幸福路8号",
)
RESULTS = (
    model.LabResult("r1", "2093-3", "总胆固醇", 5.6, "mmol/L", 3.0, 5.2, "H", at(5, 9, 30)),
    model.LabResult("r2", "8251-1", "外观^描述", "淡黄|清", "", None, None, "N", at(5, 9, 31)),
    model.LabResult("r3", "2345-7", "葡萄糖", 7.0, "mmol/L", None, 6.1, "H", at(5, 9, 32)),
)
LAB = model.LabOrder("O100", "F200", "24331-1", "血脂", at(5, 8, 45), at(5, 10), "D0012", RESULTS)
VISIT = model.Encounter(
    "V1",
    "R1",
    "qx-town-a",
    "outpatient",
    at(5, 8, 30),
    at(5, 11),
    "NK",
    "D0012",
    (model.Diagnosis("I10.x00", "高血压", 1),),
    labs=(LAB,),
)
STAY = model.Encounter(
    "V2",
    "R1",
    "qx-town-a",
    "inpatient",
    at(10, 14),
    at(15, 9, 30),
    "NK",
    "D0012",
    (model.Diagnosis("J18.900", "肺炎", 1), model.Diagnosis("I10.x00", "高血压", 2)),
)
HISTORY = model.History(
    model.Person(
        "P1",
        "欧阳",
        "娜娜",
        "ouyang",
        "nana",
        "female",
        date(1990, 2, 28),
        "330127199002284427",
        "13912345678",
        ADDRESS,
    ),
    (REGISTRATION,),
    (VISIT, STAY),
)
OPTIONS = MappingOptions(authorities={"QXZWSY": "qx-town-a"})


def expected_fhir() -> dict[str, Any]:
    """What synth.fhir_out writes for HISTORY, in the shapes its conventions name."""
    return {
        "patient": {
            "identifier": {(mrn_system("qx-town-a"), "MZ000123"), (RESIDENT_ID_SYSTEM, "330127199002284427")},
            "name": "欧阳娜娜",
            "gender": "female",
            "birthDate": "1990-02-28",
            "mobile": "13912345678",
            "address": REGISTRATION.address_text,
        },
        "encounters": {
            "V1": ("AMB", "2024-03-05T08:30:00+08:00", "2024-03-05T11:00:00+08:00", "finished"),
            "V2": ("IMP", "2024-03-10T14:00:00+08:00", "2024-03-15T09:30:00+08:00", "finished"),
        },
        "observations": {
            f"F200-{n}": (r.code, r.value, r.unit or None, r.low, r.high, r.flag, r.observed)
            for n, r in enumerate(RESULTS, 1)
        },
    }


def test_messages_are_deterministic_v24_and_escape_text() -> None:
    out = list(messages(HISTORY, DIRECTORY))
    assert out == list(messages(HISTORY, DIRECTORY))
    kinds = [parse(m).header.message_type for m in out]
    assert kinds == ["ADT^A28", "ADT^A04", "ORU^R01", "ADT^A01", "ADT^A03"]
    ids = [parse(m).header.control_id for m in out]
    assert len(set(ids)) == len(ids) and all(len(i) <= 20 for i in ids)
    for text in out:
        header = parse(text).header
        assert (header.version, header.charset, header.sending_facility) == ("2.4", "UNICODE UTF-8", "QXZWSY")
        assert "\n" not in text and text.endswith("\r")
        assert decode(text.encode("utf-8")) == text
    oru = parse(out[2])
    obx = oru.segments("OBX")[1]
    assert "外观\\S\\描述" in obx.raw(3) and obx.get(3, 2) == "外观^描述" and obx.get(5) == "淡黄|清"
    pv1 = oru.segment("PV1")
    assert pv1 is not None and pv1.get(7, 2) == "王|医生"


def test_every_message_maps() -> None:
    for text in messages(HISTORY, DIRECTORY):
        mapped = to_bundle(parse(split(text).messages[0]), "qx-town-a", OPTIONS)
        assert mapped.bundle["entry"] and not mapped.warnings, mapped.warnings


@pytest.mark.anyio
async def test_round_trip_equals_the_generators_fhir(repo: Repository) -> None:
    await register_institution(repo, "qx-town-a", TOWNSHIP.name)
    alliance = Alliance(repo)
    for text in messages(HISTORY, DIRECTORY):
        mapped = to_bundle(parse(text), "qx-town-a", OPTIONS)
        await alliance.router.handle(FhirRequest("POST", (), partition="qx-town-a", body=mapped.bundle))
    expected = expected_fhir()
    [patient] = await _search(alliance, "Patient")
    want = expected["patient"]
    assert {(i["system"], i["value"]) for i in patient["identifier"]} == want["identifier"]
    assert patient["name"][0]["text"].encode() == want["name"].encode()  # byte-exact
    assert (patient["gender"], patient["birthDate"]) == (want["gender"], want["birthDate"])
    assert [t["value"] for t in patient["telecom"] if t.get("use") == "mobile"] == [want["mobile"]]
    assert patient["address"][0]["text"] == want["address"]
    encounters = {e["identifier"][0]["value"]: e for e in await _search(alliance, "Encounter")}
    assert {e["identifier"][0]["system"] for e in encounters.values()} == {visit_system("qx-town-a")}
    assert {
        v: (e["class"]["code"], e["period"]["start"], e["period"]["end"], e["status"])
        for v, e in encounters.items()
    } == expected["encounters"]
    [report] = await _search(alliance, "DiagnosticReport")
    assert report["identifier"][0] == {"system": filler_system("qx-town-a"), "value": "F200"}
    observations = {o["identifier"][0]["value"]: o for o in await _search(alliance, "Observation")}
    assert {o["identifier"][0]["system"] for o in observations.values()} == {result_system("qx-town-a")}
    assert observations.keys() == expected["observations"].keys()
    for key, (code, value, unit, low, high, flag, observed) in expected["observations"].items():
        o = observations[key]
        assert o["code"]["coding"][0] == {
            "system": "http://loinc.org",
            "code": code,
            "display": o["code"]["text"],
        }
        if isinstance(value, float):
            assert o["valueQuantity"] == {
                "value": value,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            }
        else:
            assert o["valueString"] == value
        ranges = o.get("referenceRange", [{}])[0]
        assert (ranges.get("low", {}).get("value"), ranges.get("high", {}).get("value")) == (low, high)
        assert o["interpretation"][0]["coding"][0]["code"] == flag
        assert datetime.fromisoformat(o["effectiveDateTime"]) == observed


async def _search(alliance: Alliance, rtype: str) -> list[dict[str, Any]]:
    response = await alliance.router.handle(FhirRequest("GET", (rtype,), partition="qx-town-a"))
    assert response.body is not None
    return [e["resource"] for e in response.body.get("entry", [])]
