"""`yilian audit verify`: exit 0 and a summary on an intact log, 1 and the first bad seq on a
tampered one, 3 when the key given did not sign the chain, on both backends."""

from __future__ import annotations

import anyio
import orjson
from tests.privacy.audit_support import KEY, event_bytes, event_param, fill, sql
from typer.testing import CliRunner

from yilian.cli.audit import TAMPERED, WRONG_KEY
from yilian.cli.main import app
from yilian.privacy.audit_chain import key_id, signature_of
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


def test_a_wrong_key_is_not_called_tampering(store_url: str) -> None:
    _filled(store_url, 5)
    code, output = verify(store_url)
    assert code == 0 and f"signatures checked (key {key_id(KEY)})" in output, output
    code, output = verify(store_url, "--key", "not-the-key")
    assert code == WRONG_KEY == 3, output
    assert f"checkpoint 4 was signed with key {key_id(KEY)}" in output
    assert f"not with the key given ({key_id(b'not-the-key')})" in output
    assert "use the key that signed the chain" in output
    assert "forged" not in output.split("intact")[0] and "BROKEN" not in output


def test_tampering_is_reported_with_the_right_key_and_with_a_wrong_one(store_url: str) -> None:
    _filled(store_url, 5)
    (raw,) = sql(store_url, "SELECT event FROM audit_log WHERE seq = 2")[0]
    event = orjson.loads(event_bytes(raw))
    event["outcome"] = "8"
    sql(
        store_url,
        "UPDATE audit_log SET event = ? WHERE seq = 2",
        [event_param(store_url, orjson.dumps(event))],
    )
    for extra in ((), ("--key", "not-the-key")):
        code, output = verify(store_url, *extra)
        assert code == TAMPERED == 1, output
        assert "BROKEN at seq 2" in output and "entry 2 was altered" in output


def test_a_chain_written_before_key_ids_still_verifies(store_url: str) -> None:
    _filled(store_url, 5)
    for seq, digest in sql(store_url, "SELECT seq, hash FROM audit_checkpoint"):
        bare = signature_of(KEY, seq, digest)
        sql(store_url, "UPDATE audit_checkpoint SET signature = ? WHERE seq = ?", [bare, seq])
    code, output = verify(store_url)
    assert code == 0 and "intact: 5 entries" in output, output
    code, output = verify(store_url, "--key", "not-the-key")
    assert code == TAMPERED and "seq 4" in output and "forged" in output and "unknown" in output


def test_an_empty_log_is_intact_and_a_bad_url_exits_2(store_url: str) -> None:
    code, output = verify(store_url)
    assert code == 0 and "0 entries" in output
    assert verify("mysql://nope")[0] == 2
