"""A first `yilian demo` on a fresh machine: its state goes to a data folder that does not
exist yet, and nothing lands in the working folder (often a source checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from yilian.cli.main import app


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
