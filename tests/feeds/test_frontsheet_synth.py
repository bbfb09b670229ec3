"""The synthetic front-sheet writer's rows import with no errors and give back the stays,
diagnoses (codes, order) and procedures of the events they were written from."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tests.feeds.conftest import INSTITUTION, search

from yilian.alliance.identifiers import RESIDENT_ID_SYSTEM, visit_system
from yilian.feeds.frontsheet import import_frontsheet
from yilian.ingest.frontsheet.values import CHINA_TIME
from yilian.router import FhirRouter
from yilian.synth import frontsheet_out, model

pytestmark = pytest.mark.anyio

DIRECTORY = model.Directory(
    institutions=(
        model.Institution(
            INSTITUTION,
            "青溪县人民医院",
            "county-hospital",
            "QXRMYY",
            "12331021MB0000000X",
            "331021",
            "城关镇",
            None,
        ),
    ),
    departments=(
        model.Department(INSTITUTION, "0301", "普外科"),
        model.Department(INSTITUTION, "0201", "心内科"),
    ),
    practitioners=(
        model.Practitioner("D0001", INSTITUTION, "0301", "张伟", "zhang wei", "110331000001", "doctor"),
        model.Practitioner("D0002", INSTITUTION, "0201", "李静", "li jing", "110331000002", "doctor"),
    ),
)
ADDRESS = model.Address("浙江省", "台州市", "青溪县", "城关镇", "东门村", "23号")
PERSON = model.Person(
    "P1",
    "王",
    "芳",
    "wang",
    "fang",
    "female",
    date(1962, 7, 14),
    "331021196207140024",
    "13900000001",
    ADDRESS,
)
REGISTRATION = model.Registration(
    "R1", "P1", INSTITUTION, "BA000123", "王", "芳", "wang", "fang", "female",
    None, "331021196207140021", None, None, "青溪县城关镇东门村23号",
    variations=("birth_date_missing", "resident_id_typo"),
)  # fmt: skip


def _stay(visit: str, start: datetime, end: datetime, **kw: object) -> model.Encounter:
    return model.Encounter(
        visit_number=visit,
        registration_id="R1",
        institution=INSTITUTION,
        kind="inpatient",
        start=start,
        end=end,
        practitioner="D0001",
        **kw,  # type: ignore[arg-type]
    )


HISTORY = model.History(
    person=PERSON,
    registrations=(REGISTRATION,),
    encounters=(
        model.Encounter(
            "MZ1",
            "R1",
            INSTITUTION,
            "outpatient",
            datetime(2024, 1, 2, 9),
            datetime(2024, 1, 2, 9, 20),
            "0201",
            "D0002",
            (model.Diagnosis("I10.x00", "高血压", 1),),
        ),
        _stay(
            "ZY240001",
            datetime(2024, 3, 1, 8, 15),
            datetime(2024, 3, 8, 10, 0),
            department="0301",
            diagnoses=(  # out of order on purpose: the rank decides
                model.Diagnosis("E11.900", "2型糖尿病", 3, "1"),
                model.Diagnosis("K80.100", "胆囊结石伴胆囊炎", 1, "1"),
                model.Diagnosis("I10.x00", "高血压", 2, "4"),
            ),
            procedures=(
                model.Procedure(
                    "51.2300", "腹腔镜下胆囊切除术", 1, datetime(2024, 3, 2, 14, 0), "D0001", "全身麻醉"
                ),
                model.Procedure("88.0101", "腹部CT检查", 2, datetime(2024, 3, 1, 11, 0), "D0001"),
            ),
            admission_way="2",
            discharge_way="1",
            costs={"surgical_treatment": Decimal("4200.00"), "western_medicine": Decimal("1830.55")},
        ),
        _stay(
            "ZY240077",
            datetime(2024, 9, 10, 22, 40),
            datetime(2024, 9, 11, 9, 0),
            department="0201",
            diagnoses=(model.Diagnosis("I20.000", "不稳定型心绞痛", 1, "1"),),
            admission_way="1",
            discharge_way="2",
            costs={"nursing": Decimal("120.00")},
        ),
    ),
)


async def test_written_rows_import_cleanly_and_match_the_events(router: FhirRouter, tmp_path: Path) -> None:
    path = tmp_path / "frontsheet.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(frontsheet_out.HEADER)
        for row in frontsheet_out.rows(HISTORY, DIRECTORY):
            assert len(row) == len(frontsheet_out.HEADER)
            writer.writerow(row)
    report = await import_frontsheet(router, path, INSTITUTION)
    assert report.problems == []
    assert (report.rows_read, report.loaded) == (2, 2)  # the outpatient visit has no front sheet

    stays = [e for e in HISTORY.encounters if e.kind == "inpatient"]
    for stay in stays:
        (encounter,) = await search(
            router, "Encounter", identifier=f"{visit_system(INSTITUTION)}|{stay.visit_number}"
        )
        assert encounter["period"]["start"] == stay.start.replace(tzinfo=CHINA_TIME).isoformat()
        assert encounter["period"]["end"] == stay.end.replace(tzinfo=CHINA_TIME).isoformat()
        assert encounter["hospitalization"]["admitSource"]["coding"][0]["code"] == stay.admission_way
        assert encounter["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == stay.discharge_way
        assert encounter["serviceType"]["text"] == DIRECTORY.department(INSTITUTION, stay.department).name

        conditions = {
            c["id"]: c for c in await search(router, "Condition", encounter=f"Encounter/{encounter['id']}")
        }
        ranked = sorted(encounter["diagnosis"], key=lambda d: d["rank"])
        got = [
            conditions[d["condition"]["reference"].split("/")[1]]["code"]["coding"][0]["code"] for d in ranked
        ]
        assert got == [d.code for d in sorted(stay.diagnoses, key=lambda d: d.rank)]

        procedures = await search(router, "Procedure", encounter=f"Encounter/{encounter['id']}")
        assert sorted((p["code"]["coding"][0]["code"], p["performedDateTime"]) for p in procedures) == sorted(
            (p.code, p.performed.replace(tzinfo=CHINA_TIME).isoformat()) for p in stay.procedures
        )
        surgeons = {p["performer"][0]["actor"]["display"] for p in procedures}
        assert surgeons <= {DIRECTORY.practitioner(p.operator).name for p in stay.procedures}

        (claim,) = await search(router, "Claim", encounter=f"Encounter/{encounter['id']}")
        assert Decimal(f"{claim['total']['value']:.2f}") == sum(stay.costs.values())

    (patient,) = await search(router, "Patient")
    assert patient["birthDate"] == PERSON.birth_date.isoformat()  # the desk left it out; the sheet has it
    assert patient["name"][0]["text"] == "王芳"
    # The desk's mistyped resident ID fails its check character: left off the sheet, not refused.
    assert all(i["system"] != RESIDENT_ID_SYSTEM for i in patient["identifier"])
