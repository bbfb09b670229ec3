"""A first `yilian demo` on a fresh machine: its state goes to a data folder that does not
exist yet, and nothing lands in the working folder (often a source checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from yilian.cli.demo import DEMO_INSTITUTIONS, DEMO_PERSONS, DEMO_SEED
from yilian.cli.main import app
from yilian.synth.alliance import Alliance


def test_a_first_demo_keeps_its_state_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, state = tmp_path / "checkout", tmp_path / "fresh" / "state"
    work.mkdir()
    monkeypatch.chdir(work)
    env = {"YILIAN_DATA_DIR": str(state), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--port", "8097"], env=env)
    assert result.exit_code == 0, result.output
    assert {p.name for p in state.iterdir()} >= {
        "demo.db",
        "demo.keys.toml",
        "demo.audit-key",
        "dev-issuer.pem",
    }
    assert f"sqlite:///{state / 'demo.db'}" in result.output
    assert list(work.iterdir()) == []


def test_the_demo_database_exports_with_its_own_keys(tmp_path: Path) -> None:
    """`yilian export --db` of the demo database finds the demo's key file beside it, as
    `yilian serve` does; keys that cannot read it are one error line, not a traceback."""
    state = tmp_path / "state"
    env = {"YILIAN_DATA_DIR": str(state), "COLUMNS": "200"}
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--no-serve"], env=env).exit_code == 0
    url = f"sqlite:///{state / 'demo.db'}"
    result = runner.invoke(app, ["export", str(tmp_path / "out"), "--type", "Patient", "--db", url], env=env)
    assert result.exit_code == 0, result.output
    registrations = sum(
        len(h.registrations) for h in Alliance(DEMO_PERSONS, DEMO_INSTITUTIONS, DEMO_SEED).histories()
    )
    assert len((tmp_path / "out" / "Patient.ndjson").read_text().splitlines()) == registrations
    (state / "demo.keys.toml").rename(tmp_path / "moved.keys.toml")
    result = runner.invoke(app, ["export", str(tmp_path / "again"), "--db", url], env=env)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "encrypted under key" in " ".join(result.output.split())
