"""Every CLI error is one message that says what is wrong, never a traceback: a URL no backend
takes, a PostgreSQL server that is not there, a database that does not exist, a SQLite path
that cannot be a file.  Each command that opens a database is tried."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from yilian.cli.main import app

runner = CliRunner()

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/yilian"


def _commands(url: str, tmp_path: Path) -> list[list[str]]:
    ndjson = tmp_path / "Patient.ndjson"
    ndjson.write_text('{"resourceType": "Patient", "id": "p1"}\n')
    return [
        ["serve", "--dev-issuer", "--db", url],
        ["institution", "list", "--db", url],
        ["institution", "add", "clinic", "--name", "Clinic", "--db", url],
        ["export", str(tmp_path / "out"), "--db", url],
        ["import", str(ndjson), "--db", url],
        ["audit", "verify", "--db", url, "--key", "k"],
    ]


def _flat(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize("index", range(6))
def test_a_url_no_backend_takes(tmp_path: Path, index: int) -> None:
    args = _commands("mysql://somewhere/db", tmp_path)[index]
    result = runner.invoke(app, args, env={"YILIAN_DATA_DIR": str(tmp_path), "COLUMNS": "400"})
    assert result.exit_code == 2, (args, result.output)
    assert isinstance(result.exception, SystemExit), (args, result.exception)
    assert "unsupported database URL 'mysql://somewhere/db'" in _flat(result.output), result.output


@pytest.mark.parametrize("index", range(6))
def test_a_postgresql_server_that_is_not_there(tmp_path: Path, index: int) -> None:
    args = _commands(UNREACHABLE, tmp_path)[index]
    result = runner.invoke(app, args, env={"YILIAN_DATA_DIR": str(tmp_path), "COLUMNS": "400"})
    assert result.exit_code == 1, (args, result.output)
    assert isinstance(result.exception, SystemExit), (args, result.exception)
    text = _flat(result.output)
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/yilian" in text and "Connection refused" in text, text


def test_a_database_that_does_not_exist_says_how_to_make_it(pg_databases: object, tmp_path: Path) -> None:
    if pg_databases is None:
        pytest.skip("PostgreSQL unreachable")
    url = "postgresql://postgres@127.0.0.1:5432/yilian_no_such_database"
    result = runner.invoke(
        app, ["institution", "list", "--db", url], env={"YILIAN_DATA_DIR": str(tmp_path), "COLUMNS": "400"}
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    text = _flat(result.output)
    assert 'database "yilian_no_such_database" does not exist' in text
    assert "createdb -h 127.0.0.1 yilian_no_such_database" in text


def test_a_sqlite_path_that_cannot_be_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    result = runner.invoke(
        app, ["institution", "list", "--db", f"sqlite:///{folder}"], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    # The error console wraps long lines at its width (a path may break anywhere).
    assert f"cannotopentheSQLitefile{folder}" in "".join(result.output.split())
