"""The fast import path on both backends: batches prepared in worker processes and appended
with COPY (PostgreSQL) or executemany (SQLite) write the same rows as a create through the
router, keep values with COPY's special characters intact, report bad lines by number, and a
re-run changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.ingest.test_loader import _rows, history_count, ndjson, observation, patient

from yilian.ingest import Loader, LoaderOptions, Problem
from yilian.router import FhirRequest, FhirRouter, RouterSettings
from yilian.store.base import DEFAULT_PARTITION, Repository, Scope

pytestmark = pytest.mark.anyio


async def _load(repo: Repository, path: Path, **options: Any) -> tuple[Loader, list[Problem]]:
    problems: list[Problem] = []
    async with Loader(
        repo,
        DEFAULT_PARTITION,
        Scope.everything(),
        LoaderOptions(**{"batch_size": 10, "workers": 2, **options}),
        problems=problems.append,
    ) as loader:
        await loader.load_file(path)
    return loader, problems


async def test_worker_processes_write_the_rows_a_create_writes(repo: Repository, tmp_path: Path) -> None:
    router = FhirRouter(repo, RouterSettings())
    body = patient("", meta={"security": [{"system": "http://x.org/s", "code": "PSY"}]})
    del body["id"]
    created = await router.handle(FhirRequest("POST", ("Patient",), body=body))
    assert created.body is not None
    via_router = created.body["id"]
    lines: list[Any] = [patient(f"p{i}") for i in range(25)]
    lines += [{**body, "id": "imported"}, {**observation("o-imported", via_router), "id": "o-imported"}]
    lines += [b"{broken", {"resourceType": "Patient", "id": "bad", "birthDate": "yesterday"}]
    lines += [observation(f"o{i}", f"p{i}") for i in range(25)]
    path = ndjson(tmp_path / "in.ndjson", lines)
    loader, problems = await _load(repo, path)
    assert loader.report.created == 52 and [p.line for p in problems] == [28, 29]
    mine, theirs = await _rows(repo, "Patient", "imported"), await _rows(repo, "Patient", via_router)
    assert mine == theirs and mine["security_label"] and mine["compartment"]
    assert (await _rows(repo, "Observation", "o-imported"))["compartment"] == [(1, via_router)]
    again, _ = await _load(repo, path)
    assert (again.report.created, again.report.unchanged) == (0, 52)
    assert await history_count(repo, "Patient", "p3") == 1


async def test_copy_special_characters_survive(repo: Repository, tmp_path: Path) -> None:
    tricky = "Tab\there, new\nline, back\\slash \\N and \r"
    router = FhirRouter(repo, RouterSettings())
    body = patient("", family=tricky)
    del body["id"]
    created = await router.handle(FhirRequest("POST", ("Patient",), body=body))
    assert created.body is not None
    lines = [patient(f"s{i}", family=tricky if i == 7 else "Li") for i in range(15)]
    path = ndjson(tmp_path / "Patient.ndjson", lines)
    loader, problems = await _load(repo, path)
    assert loader.report.created == 15 and not problems
    async with repo.transaction(read_only=True) as s:
        stored = await s.read("Patient", "s7", Scope.everything())
    assert stored.json()["name"][0]["family"] == tricky
    assert orjson.loads(stored.content)["id"] == "s7"
    assert await _rows(repo, "Patient", "s7") == await _rows(repo, "Patient", created.body["id"])


async def test_a_changed_file_updates_through_the_prepared_path(repo: Repository, tmp_path: Path) -> None:
    lines = [patient(f"c{i}") for i in range(30)]
    path = ndjson(tmp_path / "Patient.ndjson", lines)
    await _load(repo, path)
    lines[4] = patient("c4", "Wang")
    changed, _ = await _load(repo, ndjson(path, lines))
    assert (changed.report.updated, changed.report.unchanged) == (1, 29)
    async with repo.transaction(read_only=True) as s:
        current = await s.read("Patient", "c4", Scope.everything())
    assert (current.version, current.json()["name"][0]["family"]) == (2, "Wang")
