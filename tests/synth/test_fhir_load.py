"""The generator's FHIR loads into a real store on both backends: the NDJSON through
`yilian import`, the transaction Bundles through the router (twice: the second load changes
nothing), and the truth files agree with what was loaded."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import anyio
import orjson
import pytest
from tests.contract.conftest import search
from typer.testing import CliRunner

from yilian.alliance.identifiers import mrn_system
from yilian.cli.main import app
from yilian.router import FhirRequest, FhirRouter, RouterSettings
from yilian.router.status import status_code
from yilian.store.base import Partition, Repository, Scope
from yilian.store.factory import open_repository
from yilian.synth.directory import directory
from yilian.synth.fhir_out import RESOURCE_TYPES
from yilian.synth.output import write

PATIENTS, INSTITUTIONS, SEED = 40, 3, 21


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synth")
    write(folder, PATIENTS, INSTITUTIONS, SEED, ["fhir"])
    return folder


def _registrations(out: Path) -> list[dict[str, str]]:
    with (out / "truth" / "registrations.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def _counts(repo: Repository, code: str) -> dict[str, int]:
    counts = {}
    for rtype in RESOURCE_TYPES:
        result = await search(repo, rtype, [("_summary", "count")], Scope.partition(code))
        counts[rtype] = result.total or 0
    return counts


def test_ndjson_loads_with_yilian_import_and_matches_the_truth(store_url: str, out: Path) -> None:
    runner = CliRunner()
    members = directory(INSTITUTIONS, SEED).institutions
    for inst in members:
        added = runner.invoke(app, ["institution", "add", inst.code, "--name", inst.name, "--db", store_url])
        assert added.exit_code == 0, added.output
        loaded = runner.invoke(
            app, ["import", str(out / "fhir" / inst.code), "--db", store_url, "--institution", inst.code]
        )
        assert loaded.exit_code == 0, loaded.output
        assert "unchanged), 0 refused;" in loaded.output
    anyio.run(_check_against_truth, store_url, out)


async def _check_against_truth(store_url: str, out: Path) -> None:
    members = directory(INSTITUTIONS, SEED).institutions
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    repo = open_repository(store_url)
    await repo.open()
    try:
        totals: Counter[str] = Counter()
        for inst in members:
            totals.update(await _counts(repo, inst.code))
        assert {t: totals[t] for t in RESOURCE_TYPES} == manifest["resources"]
        for row in _registrations(out):
            found = await search(
                repo, "Patient", [("identifier", f"{mrn_system(row['institution'])}|{row['mrn']}")],
                Scope.partition(row["institution"]),
            )  # fmt: skip
            assert len(found.matches) == 1, row
    finally:
        await repo.close()


@pytest.mark.anyio
async def test_bundles_load_through_the_router_idempotently(store_url: str, out: Path) -> None:
    repo = open_repository(store_url)
    await repo.open()
    try:
        members = directory(INSTITUTIONS, SEED).institutions
        for inst in members:
            await repo.add_partition(Partition(inst.code, inst.name))
        router = FhirRouter(repo, RouterSettings())
        rounds = []
        for _ in range(2):
            for inst in members:
                for line in (out / "fhir" / "bundles" / f"{inst.code}.ndjson").read_bytes().splitlines():
                    bundle = orjson.loads(line)
                    assert bundle["type"] == "transaction"
                    response = await router.handle(
                        FhirRequest(
                            method="POST",
                            path=(),
                            partition=inst.code,
                            headers={"content-type": "application/fhir+json"},
                            body=bundle,
                            base_url=f"http://test.local/fhir/{inst.code}",
                        )
                    )
                    assert status_code(response.outcome) < 300, response.body
            rounds.append({inst.code: await _counts(repo, inst.code) for inst in members})
        assert rounds[0] == rounds[1]
        registrations = Counter(row["institution"] for row in _registrations(out))
        for inst in members:
            assert rounds[0][inst.code]["Patient"] == registrations[inst.code]
            assert rounds[0][inst.code]["Organization"] >= 1
    finally:
        await repo.close()
