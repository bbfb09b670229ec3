"""`yilian import` in-process (--db) on both backends, and a load that fails halfway (the
database closed under it) and is finished by a re-run without duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from yilian.cli.main import app
from yilian.ingest import Loader, LoaderOptions, LoadFailed, LoadReport
from yilian.store.base import DEFAULT_PARTITION, Repository, Scope
from yilian.store.factory import open_repository


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female"}


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(x + b"\n" for x in lines))
    return path


def test_cli_import_summary_and_rerun(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "Patient.ndjson", [orjson.dumps(patient("p1")), b"nope", orjson.dumps(patient("p2"))])
    errors = tmp_path / "errors.ndjson"
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(folder), "--db", store_url, "--errors", str(errors)])
    assert result.exit_code == 1, result.output  # a line was refused
    assert "2 resources loaded (2 created, 0 updated, 0 unchanged), 1 refused" in result.output
    assert "Patient.ndjson line 2" in result.output
    assert orjson.loads(errors.read_bytes().splitlines()[0])["resourceType"] == "OperationOutcome"
    again = runner.invoke(app, ["import", str(folder), "--db", store_url, "--accept-refused"])
    assert again.exit_code == 0, again.output
    assert "2 resources loaded (0 created, 0 updated, 2 unchanged)" in again.output
    missing = runner.invoke(app, ["import", str(folder), "--db", store_url, "--institution", "nowhere"])
    assert missing.exit_code == 1 and "not registered" in missing.output
    assert runner.invoke(app, ["import", str(tmp_path / "absent"), "--db", store_url]).exit_code == 2


@pytest.mark.anyio
async def test_a_failure_halfway_keeps_earlier_batches_and_a_rerun_finishes(
    store_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "Patient.ndjson", [orjson.dumps(patient(f"p{i}")) for i in range(25)])
    repo: Repository = open_repository(store_url)
    await repo.open()

    async def close_after_first_batch(report: LoadReport) -> None:
        if report.records == 10:
            await repo.close()  # the database goes away between batches

    loader = Loader(
        repo,
        DEFAULT_PARTITION,
        Scope.everything(),
        LoaderOptions(batch_size=10),
        progress=close_after_first_batch,
    )
    with pytest.raises(LoadFailed) as failed:
        await loader.load_file(path)
    assert f"{path} line 11 to {path} line 20" in str(failed.value)
    assert "running the import again finishes the rest" in str(failed.value)
    repo = open_repository(store_url)
    await repo.open()
    try:
        rerun = Loader(repo, DEFAULT_PARTITION, Scope.everything(), LoaderOptions(batch_size=10))
        await rerun.load_file(path)
        assert (rerun.report.unchanged, rerun.report.created) == (10, 15)
    finally:
        await repo.close()
