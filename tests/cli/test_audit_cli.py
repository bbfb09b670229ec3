"""`yilian audit verify`: exit 0 and a summary on an intact log, 1 and the first bad seq on a
tampered one, on both backends."""

from __future__ import annotations

import anyio
from tests.privacy.audit_support import KEY, fill, sql
from typer.testing import CliRunner

from yilian.cli.main import app
from yilian.store.factory import open_repository

runner = CliRunner()


def _filled(url: str, n: int) -> None:
    async def go() -> None:
        repository = open_repository(url)
        await repository.open()
        try:
            await fill(repository, n)
        finally:
            await repository.close()

    anyio.run(go)


def verify(url: str, *extra: str) -> tuple[int, str]:
    env = {"COLUMNS": "200", "YILIAN_AUDIT_SIGNING_KEY": KEY.decode()}
    result = runner.invoke(app, ["audit", "verify", "--db", url, *extra], env=env)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_verify_an_intact_log_and_then_a_tampered_one(store_url: str) -> None:
    _filled(store_url, 6)
    code, output = verify(store_url)
    assert code == 0, output
    assert "intact: 6 entries" in output and "2 checkpoints" in output and "signatures checked" in output
    sql(store_url, "DELETE FROM audit_log WHERE seq = 3")
    code, output = verify(store_url)
    assert code == 1
    assert "seq 3" in output and "removed" in output


def test_a_wrong_key_from_the_command_line_fails_on_the_first_checkpoint(store_url: str) -> None:
    _filled(store_url, 5)
    code, output = verify(store_url, "--key", "not-the-key")
    assert code == 1 and "seq 4" in output and "forged" in output


def test_an_empty_log_is_intact_and_a_bad_url_exits_2(store_url: str) -> None:
    code, output = verify(store_url)
    assert code == 0 and "0 entries" in output
    assert verify("mysql://nope")[0] == 2
