"""yilian.ingest on both backends: NDJSON, Bundle and folder loads, bad lines with their line
numbers while the good ones load, re-runs without duplicates or versions, changed lines as one
new version, and rows identical to what a create through the router writes."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from yilian.fhir.outcome import IssueType
from yilian.ingest import Loader, LoaderOptions, Problem, expand_paths
from yilian.privacy.encryption import RESIDENT_ID_SYSTEM, IdentifierCodec
from yilian.privacy.keyring import Keyring
from yilian.router import FhirRequest, FhirRouter, RouterSettings
from yilian.store.base import DEFAULT_PARTITION, HistoryRequest, Partition, Repository, Scope
from yilian.store.factory import open_repository
from yilian.store.sql.indexing import INDEX_TABLES
from yilian.store.sql.repository import SqlRepository

pytestmark = pytest.mark.anyio


def patient(pid: str, family: str = "Li", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family, "given": ["Wei"]}], **extra}


def observation(oid: str, pid: str, value: float = 5.4) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {
            "value": value,
            "unit": "mmol/L",
            "system": "http://unitsofmeasure.org",
            "code": "mmol/L",
        },
    }


def ndjson(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return path


async def load(repo: Repository, *paths: Path, partition: str = DEFAULT_PARTITION, **options: Any) -> Loader:
    loader = Loader(repo, partition, Scope.everything(), LoaderOptions(**options))
    for path in expand_paths(paths):
        await loader.load_file(path)
    return loader


async def history_count(repo: Repository, rtype: str, rid: str) -> int:
    async with repo.transaction(read_only=True) as s:
        page = await s.history(HistoryRequest(rtype, rid, count=100), Scope.everything())
    return len(page.entries)


async def test_ndjson_loads_and_a_rerun_changes_nothing(repo: Repository, tmp_path: Path) -> None:
    path = ndjson(tmp_path / "mixed.ndjson", [patient("p1"), patient("p2"), observation("o1", "p1")])
    first = await load(repo, path)
    assert (first.report.created, first.report.problems) == (3, 0)
    async with repo.transaction(read_only=True) as s:
        stored = await s.read("Patient", "p1", Scope.everything())
    assert stored.version == 1 and stored.json()["name"][0]["family"] == "Li"
    again = await load(repo, path)
    assert (again.report.created, again.report.updated, again.report.unchanged) == (0, 0, 3)
    assert await history_count(repo, "Patient", "p1") == 1


async def test_a_changed_line_makes_one_new_version(repo: Repository, tmp_path: Path) -> None:
    await load(repo, ndjson(tmp_path / "Patient.ndjson", [patient("p1"), patient("p2")]))
    changed = await load(repo, ndjson(tmp_path / "Patient.ndjson", [patient("p1", "Wang"), patient("p2")]))
    assert (changed.report.updated, changed.report.unchanged) == (1, 1)
    async with repo.transaction(read_only=True) as s:
        current = await s.read("Patient", "p1", Scope.everything())
    assert (current.version, current.json()["name"][0]["family"]) == (2, "Wang")
    assert await history_count(repo, "Patient", "p1") == 2
    assert await history_count(repo, "Patient", "p2") == 1


async def test_version_metadata_alone_is_not_a_change(repo: Repository, tmp_path: Path) -> None:
    await load(repo, ndjson(tmp_path / "a.ndjson", [patient("p1")]))
    exported = patient("p1", meta={"versionId": "7", "lastUpdated": "2020-01-01T00:00:00Z"})
    again = await load(repo, ndjson(tmp_path / "b.ndjson", [exported]))
    assert again.report.unchanged == 1 and await history_count(repo, "Patient", "p1") == 1


async def test_bad_lines_are_reported_with_line_numbers_while_good_ones_load(
    repo: Repository, tmp_path: Path
) -> None:
    lines: list[Any] = [
        patient("p1"),
        b"{not json",
        b"[1, 2]",
        observation("o1", "p1"),  # wrong type for Patient.ndjson
        {"resourceType": "Patient", "id": "p3", "birthDate": "yesterday"},  # invalid
        {"resourceType": "NoSuchType", "id": "x"},
        b"",
        patient("p2"),
    ]
    path = ndjson(tmp_path / "Patient.000.ndjson", lines)
    written: list[Problem] = []
    loader = Loader(repo, DEFAULT_PARTITION, Scope.everything(), problems=written.append)
    await loader.load_file(path)
    assert loader.report.created == 2
    assert [p.line for p in written] == [2, 3, 4, 5, 6]
    assert "not JSON" in written[0].message and "JSON object" in written[1].message
    assert "Observation in input for Patient" in written[2].message
    assert "birthDate" in " ".join(e for i in written[3].issues for e in i.expression)
    outcome = written[0].outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"].startswith(f"{path} line 2:")


async def test_a_truncated_last_line_is_reported_and_the_rest_loads(repo: Repository, tmp_path: Path) -> None:
    path = tmp_path / "cut.ndjson"
    path.write_bytes(orjson.dumps(patient("p1")) + b"\n" + orjson.dumps(patient("p2"))[:-9])
    loader = await load(repo, path)
    assert loader.report.created == 1
    [problem] = loader.report.first_problems
    assert problem.line == 2 and problem.issues[0].code == IssueType.INCOMPLETE
    assert "truncated" in problem.message


async def test_a_huge_line_is_refused_without_parsing(repo: Repository, tmp_path: Path) -> None:
    big = patient("big", text={"status": "generated", "div": "<div>" + "x" * 5000 + "</div>"})
    path = ndjson(tmp_path / "Patient.ndjson", [patient("p1"), big, patient("p2")])
    loader = await load(repo, path, max_line_bytes=1000)
    assert loader.report.created == 2
    [problem] = loader.report.first_problems
    assert problem.line == 2 and problem.issues[0].code == IssueType.TOO_LONG


async def test_bundles_gzip_and_folders(repo: Repository, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "deep").mkdir(parents=True)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:1b0e0c3a-0000-4000-8000-000000000001", "resource": patient("")},
            {
                "fullUrl": "urn:uuid:1b0e0c3a-0000-4000-8000-000000000002",
                "resource": {
                    **observation("", "x"),
                    "subject": {"reference": "urn:uuid:1b0e0c3a-0000-4000-8000-000000000001"},
                },
            },
        ],
    }
    for entry in bundle["entry"]:
        del entry["resource"]["id"]
    (folder / "deep" / "b.json").write_bytes(orjson.dumps(bundle))
    with gzip.open(folder / "Observation.ndjson.gz", "wb") as out:
        out.write(orjson.dumps(observation("o9", "p9")) + b"\n")
    (folder / "notes.txt").write_text("ignored")
    loader = await load(repo, folder)
    assert (loader.report.created, loader.report.problems) == (3, 0)
    async with repo.transaction(read_only=True) as s:
        obs = await s.read("Observation", "1b0e0c3a-0000-4000-8000-000000000002", Scope.everything())
    assert obs.json()["subject"]["reference"] == "Patient/1b0e0c3a-0000-4000-8000-000000000001"
    assert (await load(repo, folder)).report.unchanged == 3


async def test_resources_without_id_get_a_stable_one(repo: Repository, tmp_path: Path) -> None:
    path = ndjson(tmp_path / "Patient.ndjson", [{"resourceType": "Patient", "gender": "female"}])
    assert (await load(repo, path)).report.created == 1
    assert (await load(repo, path)).report.unchanged == 1


async def test_the_same_id_twice_in_one_file_is_two_versions(repo: Repository, tmp_path: Path) -> None:
    path = ndjson(tmp_path / "Patient.ndjson", [patient("p1"), patient("p1", "Zhao"), patient("p2")])
    loader = await load(repo, path, batch_size=10)
    assert (loader.report.created, loader.report.updated) == (2, 1)
    assert await history_count(repo, "Patient", "p1") == 2


async def test_an_id_held_by_another_institution_is_refused(repo: Repository, tmp_path: Path) -> None:
    await repo.add_partition(Partition("clinic-a", "Clinic A"))
    await repo.add_partition(Partition("clinic-b", "Clinic B"))
    path = ndjson(tmp_path / "Patient.ndjson", [patient("p1")])
    await load(repo, path, partition="clinic-a")
    other = Loader(repo, "clinic-b", Scope.partition("clinic-b"))
    await other.load_file(ndjson(tmp_path / "Patient.ndjson", [patient("p1", "Chen"), patient("p2")]))
    assert (other.report.created, other.report.counts("Patient").refused) == (1, 1)
    assert "another institution" in other.report.first_problems[0].message
    async with repo.transaction(read_only=True) as s:
        kept = await s.read("Patient", "p1", Scope.everything())
    assert (kept.partition, kept.version) == ("clinic-a", 1)


async def test_batches_across_many_resources(repo: Repository, tmp_path: Path) -> None:
    lines = [patient(f"p{i}") for i in range(230)] + [observation(f"o{i}", f"p{i}") for i in range(230)]
    path = ndjson(tmp_path / "many.ndjson", lines)
    loader = await load(repo, path, batch_size=100)
    assert loader.report.created == 460
    lines[5] = patient("p5", "Sun")
    again = await load(repo, ndjson(path, lines), batch_size=100)
    assert (again.report.updated, again.report.unchanged) == (1, 459)


# -- rows identical to a create through the router ---------------------------------------------


async def _rows(repo: Repository, rtype: str, rid: str) -> dict[str, list[tuple[Any, ...]]]:
    """Index, compartment and label rows of a resource, with its own rid and id factored out."""
    assert isinstance(repo, SqlRepository)
    from yilian.store.sql.fragment import Sql

    async with repo._connection(True) as conn:
        row = await conn.fetchone(
            Sql("SELECT rid FROM resource WHERE res_type = ? AND res_id = ?", (rtype, rid))
        )
        assert row is not None
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in (*INDEX_TABLES, "compartment", "security_label"):
            found = await conn.fetchall(Sql(f"SELECT * FROM {table} WHERE rid = ?", (row[0],)))
            out[table] = sorted((tuple("<self>" if v == rid else v for v in r[1:]) for r in found), key=repr)
    return out


@pytest.fixture
async def encrypted_repo(store_url: str) -> AsyncIterator[Repository]:
    codec = IdentifierCodec(Keyring((("k1", b"\x01" * 32),), b"\x03" * 32))
    repository = open_repository(store_url, codec=codec)
    await repository.open()
    try:
        yield repository
    finally:
        await repository.close()


async def test_rows_match_a_create_through_the_router(encrypted_repo: Repository, tmp_path: Path) -> None:
    repo = encrypted_repo
    body = patient(
        "",
        identifier=[{"system": RESIDENT_ID_SYSTEM, "value": "330127198803154417"}],
        telecom=[{"system": "phone", "value": "13912345678"}],
        meta={"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]},
    )
    del body["id"]
    router = FhirRouter(repo, RouterSettings())
    created = await router.handle(FhirRequest("POST", ("Patient",), body=body))
    assert created.body is not None
    via_router = created.body["id"]
    obs = observation("", via_router)
    del obs["id"]
    made = await router.handle(FhirRequest("POST", ("Observation",), body=obs))
    assert made.body is not None
    path = ndjson(tmp_path / "in.ndjson", [{**body, "id": "imported"}, {**obs, "id": "obs-imported"}])
    await load(repo, path)
    mine, theirs = await _rows(repo, "Patient", "imported"), await _rows(repo, "Patient", via_router)
    assert mine == theirs and mine["compartment"] and mine["security_label"]
    assert any(v for r in mine["idx_token"] for v in r if isinstance(v, str) and v.startswith("h"))  # hashed
    async with repo._connection(True) as conn:  # type: ignore[attr-defined]
        from yilian.store.sql.fragment import Sql

        content = await conn.fetchone(Sql("SELECT content FROM resource WHERE res_id = 'imported'"))
    assert content is not None
    raw = content[0].encode() if isinstance(content[0], str) else bytes(content[0])
    assert b"330127198803154417" not in raw and b"enc:v1:k1:" in raw  # encrypted at rest
    obs_mine = await _rows(repo, "Observation", "obs-imported")
    obs_theirs = await _rows(repo, "Observation", made.body["id"])
    assert obs_mine["compartment"] == [(1, via_router)] and obs_theirs["compartment"] == [(1, via_router)]
    # searchable: by family name and the resident ID (hashed) through the router
    found = await router.handle(
        FhirRequest("GET", ("Patient",), query=[("identifier", f"{RESIDENT_ID_SYSTEM}|330127198803154417")])
    )
    assert found.body is not None
    assert sorted(e["resource"]["id"] for e in found.body["entry"]) == sorted(["imported", via_router])
    assert (await load(repo, path)).report.unchanged == 2  # decoded before comparing
