"""`yilian export OUTDIR --db URL` on both backends: the files hold exactly what is stored."""

from __future__ import annotations

from pathlib import Path

import anyio
import orjson
from tests.bulk.support import encounter, observation, patient
from typer.testing import CliRunner

from yilian.cli.main import app
from yilian.store.base import DEFAULT_PARTITION, Scope
from yilian.store.factory import open_repository


def _seed(url: str) -> None:
    async def run() -> None:
        repo = open_repository(url)
        await repo.open()
        try:
            async with repo.transaction() as s:
                for i in range(30):
                    await s.create(patient(f"p{i}", f"F{i}"), DEFAULT_PARTITION, id=f"p{i}")
                for i in range(120):
                    await s.create(observation(f"o{i}", f"p{i % 30}", "1"), DEFAULT_PARTITION, id=f"o{i}")
                await s.create(encounter("e1", "p1"), DEFAULT_PARTITION, id="e1")
                await s.delete("Observation", "o7", Scope.everything())
        finally:
            await repo.close()

    anyio.run(run)


def _ids(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for file in folder.glob("*.ndjson"):
        for line in file.read_bytes().splitlines():
            resource = orjson.loads(line)
            found.setdefault(resource["resourceType"], set()).add(resource["id"])
    return found


def test_cli_db_export(store_url: str, tmp_path: Path) -> None:
    _seed(store_url)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", str(out), "--db", store_url])
    assert result.exit_code == 0, result.output
    assert "resources/s" in result.output
    got = _ids(out)
    assert got["Patient"] == {f"p{i}" for i in range(30)}
    assert got["Observation"] == {f"o{i}" for i in range(120)} - {"o7"}
    assert got["Encounter"] == {"e1"}
    assert [p.name for p in out.iterdir() if p.is_dir()] == []  # the work folder is gone

    only = tmp_path / "only"
    result = CliRunner().invoke(app, ["export", str(only), "--db", store_url, "--type", "Encounter"])
    assert result.exit_code == 0, result.output
    assert _ids(only) == {"Encounter": {"e1"}}

    bad = CliRunner().invoke(app, ["export", str(tmp_path / "bad"), "--db", store_url, "--type", "Nope"])
    assert bad.exit_code == 1 and "Nope" in bad.output
