"""Importing front sheets through the router, on SQLite and PostgreSQL: the resources as
specified, re-imports that change nothing, and bad rows reported while good rows load."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from tests.feeds.conftest import INSTITUTION, search, versions
from tests.ingest.frontsheet.sheets import VALID_ID, WRONG_CHECK_ID, chinese, good_row, header_of, write_csv

from yilian.alliance.identifiers import RESIDENT_ID_SYSTEM, mrn_system, visit_system
from yilian.feeds.frontsheet import FileRefused, import_frontsheet
from yilian.ingest.frontsheet.resources import (
    ADMISSION_CONDITION_URL,
    ANAESTHESIA_URL,
    COST_SYSTEM,
    ICD9CM3_SYSTEM,
    ICD10_SYSTEM,
)
from yilian.router import FhirRequest, FhirRouter

pytestmark = pytest.mark.anyio

TYPES = ("Patient", "Encounter", "Condition", "Procedure", "Claim")


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


async def test_a_good_file_loads_as_specified(router: FhirRouter, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv", [good_row("M1", visit_number="ZY001"), good_row("M2", name="李娜")]
    )
    report = await import_frontsheet(router, path, INSTITUTION)
    assert (report.rows_read, report.loaded, report.unchanged, report.failed) == (2, 2, 0, 0)
    assert _report(tmp_path / "sheet.errors.csv") == []

    (patient,) = await search(router, "Patient", identifier=f"{mrn_system(INSTITUTION)}|M1")
    assert patient["name"][0] == {"use": "official", "text": "欧阳明华", "family": "欧阳", "given": ["明华"]}
    assert patient["gender"] == "male" and patient["birthDate"] == "1949-12-31"
    resident = next(i for i in patient["identifier"] if i["system"] == RESIDENT_ID_SYSTEM)
    assert resident["value"] == VALID_ID and resident["type"]["coding"][0]["code"] == "NNCHN"

    (encounter,) = await search(router, "Encounter", identifier=f"{visit_system(INSTITUTION)}|ZY001")
    assert encounter["subject"]["reference"] == f"Patient/{patient['id']}"
    assert encounter["class"]["code"] == "IMP" and encounter["status"] == "finished"
    assert encounter["period"] == {"start": "2024-03-01T09:30:00+08:00", "end": "2024-03-06T10:00:00+08:00"}
    assert encounter["length"]["value"] == 5 and encounter["length"]["code"] == "d"
    hospitalization = encounter["hospitalization"]
    assert hospitalization["admitSource"]["coding"][0] == {
        "system": "urn:yilian:cs:admission-way",
        "code": "2",
        "display": "门诊",
    }
    assert hospitalization["dischargeDisposition"]["coding"][0]["display"] == "医嘱离院"
    assert [d["rank"] for d in encounter["diagnosis"]] == [1, 2]

    conditions = await search(router, "Condition", encounter=f"Encounter/{encounter['id']}")
    by_id = {c["id"]: c for c in conditions}
    ordered = [by_id[d["condition"]["reference"].split("/")[1]] for d in encounter["diagnosis"]]
    assert [c["code"]["coding"][0]["code"] for c in ordered] == ["K35.800", "I10.x00"]
    assert ordered[0]["code"]["coding"][0]["system"] == ICD10_SYSTEM
    assert ordered[1]["code"]["coding"][0]["display"] == "高血压"
    assert ordered[0]["extension"][0]["url"] == ADMISSION_CONDITION_URL
    assert ordered[0]["extension"][0]["valueCoding"]["display"] == "有"

    (procedure,) = await search(router, "Procedure", encounter=f"Encounter/{encounter['id']}")
    assert procedure["code"]["coding"][0]["system"] == ICD9CM3_SYSTEM
    assert procedure["code"]["coding"][0]["code"] == "47.0900"
    assert procedure["performedDateTime"] == "2024-03-01T15:00:00+08:00"
    assert procedure["performer"][0]["actor"]["display"] == "张伟"
    assert procedure["extension"][0]["url"] == ANAESTHESIA_URL

    (claim,) = await search(router, "Claim", patient=f"Patient/{patient['id']}")
    assert claim["use"] == "claim" and claim["status"] == "active"
    assert claim["total"] == {"value": 5000.5, "currency": "CNY"}
    items = {i["productOrService"]["coding"][0]["code"]: i for i in claim["item"]}
    assert set(items) == {"western_medicine", "nursing", "surgical_treatment"}
    assert items["nursing"]["productOrService"]["coding"][0] == {
        "system": COST_SYSTEM,
        "code": "nursing",
        "display": "护理费",
    }
    assert items["nursing"]["net"]["value"] == 1000

    # Without 住院号 the visit is {mrn}/{admission_count}.
    assert await search(router, "Encounter", identifier=f"{visit_system(INSTITUTION)}|M2/1")


async def test_the_same_file_again_changes_nothing(router: FhirRouter, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sheet.csv", [good_row("M1"), good_row("M2")])
    await import_frontsheet(router, path, INSTITUTION)
    before = {t: await versions(router, t) for t in TYPES}
    again = await import_frontsheet(router, path, INSTITUTION)
    assert (again.loaded, again.unchanged, again.failed) == (0, 2, 0)
    assert {t: await versions(router, t) for t in TYPES} == before
    assert before == {"Patient": 2, "Encounter": 2, "Condition": 4, "Procedure": 2, "Claim": 2}

    # A corrected sheet updates in place: same resources, a new version only where it changed.
    fixed = write_csv(
        tmp_path / "fixed.csv", [good_row("M1", other_diagnosis_name_1="原发性高血压"), good_row("M2")]
    )
    third = await import_frontsheet(router, fixed, INSTITUTION)
    assert (third.loaded, third.unchanged) == (1, 1)
    conditions = await search(router, "Condition", code=f"{ICD10_SYSTEM}|I10.x00")
    assert sorted(c["code"]["coding"][0]["display"] for c in conditions) == ["原发性高血压", "高血压"]
    assert {t: await versions(router, t) for t in TYPES} == {**before, "Condition": 5}


async def test_a_second_stay_leaves_the_patient_alone(router: FhirRouter, tmp_path: Path) -> None:
    stays = [
        good_row("M1"),
        good_row(
            "M1",
            admission_count="2",
            admitted="2024-05-01 08:00",
            discharged="2024-05-03 08:00",
            length_of_stay="2",
        ),
    ]
    report = await import_frontsheet(router, write_csv(tmp_path / "two.csv", stays), INSTITUTION)
    assert (report.loaded, report.failed) == (2, 0)
    assert await versions(router, "Patient") == 1
    (patient,) = await search(router, "Patient")
    encounters = await search(router, "Encounter", subject=f"Patient/{patient['id']}")
    assert sorted(e["identifier"][0]["value"] for e in encounters) == ["M1/1", "M1/2"]


async def test_bad_rows_are_reported_while_good_rows_load(router: FhirRouter, tmp_path: Path) -> None:
    rows = [
        good_row("GOOD1"),
        good_row("BAD-DATE", admitted="2024-02-30 08:00"),
        good_row("BAD-ID", resident_id=WRONG_CHECK_ID),
        good_row("BAD-CODE", discharge_way="6", main_diagnosis_code="阑尾炎"),
        good_row("BAD-LOS", length_of_stay="9"),
        good_row("BAD-TOTAL", total_cost="1.00"),
        good_row("GOOD1"),  # the same visit again
        good_row("GOOD2"),
    ]
    path = write_csv(tmp_path / "mixed.csv", rows)
    report = await import_frontsheet(router, path, INSTITUTION, report_path=tmp_path / "out" / "r.csv")
    assert (report.rows_read, report.loaded, report.failed) == (8, 2, 6)
    lines = _report(tmp_path / "out" / "r.csv")
    found = {(line["row"], line["column"]) for line in lines}
    assert found == {
        ("3", "入院时间 (admitted)"),
        ("4", "身份证号 (resident_id)"),
        ("5", "离院方式 (discharge_way)"),
        ("5", "主要诊断编码 (main_diagnosis_code)"),
        ("6", "实际住院天数 (length_of_stay)"),
        ("7", "住院总费用 (total_cost)"),
        ("8", "病案号 (mrn)"),
    }
    duplicate = next(line for line in lines if line["row"] == "8")
    assert "row 2" in duplicate["problem"] and duplicate["value"] == "GOOD1/1"
    assert next(line for line in lines if line["row"] == "4")["value"] == WRONG_CHECK_ID
    loaded = await search(router, "Patient")
    assert sorted(
        i["value"] for p in loaded for i in p["identifier"] if i["system"] == mrn_system(INSTITUTION)
    ) == [
        "GOOD1",
        "GOOD2",
    ]
    assert await versions(router, "Encounter") == 2  # nothing of a bad row was written


async def test_a_row_the_server_refuses_is_a_report_row(router: FhirRouter, tmp_path: Path) -> None:
    # Two Patients already carry the medical record number: the conditional PUT cannot choose (412).
    for _ in range(2):
        await router.handle(
            FhirRequest(
                method="POST",
                path=("Patient",),
                partition=INSTITUTION,
                body={
                    "resourceType": "Patient",
                    "identifier": [{"system": mrn_system(INSTITUTION), "value": "TWICE"}],
                },
            )
        )
    path = write_csv(tmp_path / "sheet.csv", [good_row("TWICE"), good_row("FINE")])
    report = await import_frontsheet(router, path, INSTITUTION)
    assert (report.loaded, report.failed) == (1, 1)
    (line,) = _report(tmp_path / "sheet.errors.csv")
    assert line["row"] == "2" and "more than one" in line["problem"]
    assert await versions(router, "Encounter") == 1  # the refused row wrote nothing


async def test_missing_columns_and_unknown_institutions_refuse_the_file(
    router: FhirRouter, tmp_path: Path
) -> None:
    row = good_row()
    del row["discharged"]
    path = write_csv(tmp_path / "short.csv", [row])
    with pytest.raises(FileRefused, match="出院时间"):
        await import_frontsheet(router, path, INSTITUTION)
    assert [line["column"] for line in _report(tmp_path / "short.errors.csv")] == ["出院时间 (discharged)"]

    good = write_csv(tmp_path / "good.csv", [good_row()])
    with pytest.raises(FileRefused, match="not registered"):
        await import_frontsheet(router, good, "nowhere")
    assert await versions(router, "Patient") == 0


async def test_mixed_headers_and_columns_it_does_not_know(router: FhirRouter, tmp_path: Path) -> None:
    row = good_row()
    keys = header_of([row])
    names = [k if i % 2 else chinese(k) for i, k in enumerate(keys)] + ["医疗付费方式"]
    path = tmp_path / "mixed.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerow([row[k] for k in keys] + ["1"])
    report = await import_frontsheet(router, path, INSTITUTION)
    assert (report.loaded, report.failed) == (1, 0)
