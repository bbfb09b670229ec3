"""Export then import into an empty database gives the same resources, on both backends.

The source is the demo's synthetic alliance (three institutions, every resource type the demo
has) plus an updated and a deleted resource; `yilian export --db` writes it out,
`yilian import --db` loads it into a database that has never seen it, and a second export of
that database must hold the same resources, byte for byte apart from the server-set
`meta.versionId` / `meta.lastUpdated`.  Searches on the copy must answer as on the source (the
import wrote the index rows), and importing the same files again must change nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from typer.testing import CliRunner

from yilian.cli.demo import load_sample
from yilian.cli.main import app
from yilian.fhir.search.parse import parse_search
from yilian.store.base import HistoryRequest, Scope
from yilian.store.factory import open_repository


@pytest.fixture
def empty_copy_url(store_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A second empty database on the same backend as `store_url`."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'copy.sqlite'}"
    databases = request.getfixturevalue("pg_databases")
    template = request.getfixturevalue("pg_template")
    return str(store_url.rsplit("/", 1)[0] + "/" + databases.create(template=template))


def _seed(url: str) -> None:
    async def run() -> None:
        repository = open_repository(url)
        await repository.open()
        try:
            await load_sample(repository, "http://test.local/fhir")
            async with repository.transaction() as s:
                found = await s.search(parse_search(["Observation"], [("_count", "2")]), Scope.everything())
                first, second = found.matches[0].json(), found.matches[1]
                first["status"] = "amended"
                await s.update(first, found.matches[0].partition, scope=Scope.everything())
                await s.delete("Observation", second.id, Scope.everything())
        finally:
            await repository.close()

    anyio.run(run)


def _contents(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every exported resource by (type, id), less the meta elements the server sets."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for file in sorted(folder.glob("*.ndjson")):
        for line in file.read_bytes().splitlines():
            resource = orjson.loads(line)
            meta = resource.get("meta", {})
            meta.pop("versionId", None)
            meta.pop("lastUpdated", None)
            if not meta:
                resource.pop("meta", None)
            key = (resource["resourceType"], resource["id"])
            assert key not in found, f"{key} exported twice"
            found[key] = resource
    return found


def _search_totals(url: str) -> list[int | None]:
    queries = [
        ("Patient", [("gender", "female")]),
        ("Observation", [("code", "http://loinc.org|8480-6")]),
        ("Observation", [("subject.gender", "male")]),
        ("Condition", [("subject:Patient.gender", "female")]),
        ("Encounter", [("date", "ge2020-01-01")]),
        ("MedicationRequest", [("status", "active")]),
    ]

    async def run() -> list[int | None]:
        repository = open_repository(url)
        await repository.open()
        try:
            async with repository.transaction(read_only=True) as s:
                return [
                    (
                        await s.search(parse_search([t], [*q, ("_total", "accurate")]), Scope.everything())
                    ).total
                    for t, q in queries
                ]
        finally:
            await repository.close()

    return anyio.run(run)


def _versions(url: str, keys: list[tuple[str, str]]) -> list[int]:
    async def run() -> list[int]:
        repository = open_repository(url)
        await repository.open()
        try:
            async with repository.transaction(read_only=True) as s:
                return [
                    len((await s.history(HistoryRequest(t, i), Scope.everything())).entries) for t, i in keys
                ]
        finally:
            await repository.close()

    return anyio.run(run)


def test_export_then_import_into_an_empty_database(
    store_url: str, empty_copy_url: str, tmp_path: Path
) -> None:
    _seed(store_url)
    runner = CliRunner()
    first = runner.invoke(app, ["export", str(tmp_path / "first"), "--db", store_url])
    assert first.exit_code == 0, first.output
    original = _contents(tmp_path / "first")
    assert len({t for t, _ in original}) >= 6 and len(original) > 100
    assert any(r.get("status") == "amended" for r in original.values())

    loaded = runner.invoke(app, ["import", str(tmp_path / "first"), "--db", empty_copy_url])
    assert loaded.exit_code == 0, loaded.output
    second = runner.invoke(app, ["export", str(tmp_path / "second"), "--db", empty_copy_url])
    assert second.exit_code == 0, second.output
    assert _contents(tmp_path / "second") == original
    assert _search_totals(empty_copy_url) == _search_totals(store_url)
    assert all(t is not None and t > 0 for t in _search_totals(store_url))

    # the same files again: nothing new, not even a version
    sample = sorted(original)[:25]
    again = runner.invoke(app, ["import", str(tmp_path / "first"), "--db", empty_copy_url])
    assert again.exit_code == 0, again.output
    assert _versions(empty_copy_url, sample) == [1] * len(sample)
    third = runner.invoke(app, ["export", str(tmp_path / "third"), "--db", empty_copy_url])
    assert third.exit_code == 0, third.output
    assert _contents(tmp_path / "third") == original
