"""`yilian hl7 send`, `messages` and `replay` as IT staff use them: a failed message is found,
read whole, and replayed once the facility map is fixed; a file of messages goes over MLLP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.feeds.feed_server import FACILITIES, feed_server, mllp_send
from tests.feeds.test_mllp import adt_a01
from tests.serving import DEV_KEY_PATH
from typer.testing import CliRunner

from yilian.cli.main import app

runner = CliRunner()


def _env(tmp_path: Path, facilities: str = FACILITIES) -> dict[str, str]:
    return {
        "COLUMNS": "250",
        "YILIAN_DATA_DIR": str(tmp_path / "data"),
        "YILIAN_DEV_ISSUER_KEY_PATH": DEV_KEY_PATH,
        "YILIAN_HL7_FACILITIES": facilities,
    }


def test_find_read_and_replay_a_failed_message(store_url: str, tmp_path: Path) -> None:
    with feed_server(store_url) as server:
        [ack] = mllp_send(server.mllp_port, adt_a01("r-1", "901", facility="NEWCLINIC"))
        assert b"MSA|AR" in ack
        mllp_send(server.mllp_port, adt_a01("r-2", "902"))
    listed = runner.invoke(
        app, ["hl7", "messages", "--status", "rejected", "--db", store_url], env=_env(tmp_path)
    )
    assert listed.exit_code == 0, listed.output
    assert "NEWCLINIC" in listed.output and "r-1" in listed.output and "r-2" not in listed.output
    [message_id] = re.findall(r"\b[0-9a-f]{32}\b", listed.output)
    recent = runner.invoke(
        app,
        ["hl7", "messages", "--status", "rejected", "--since", "1h", "--db", store_url],
        env=_env(tmp_path),
    )
    assert message_id in recent.output
    later = runner.invoke(
        app, ["hl7", "messages", "--since", "2099-01-01", "--db", store_url], env=_env(tmp_path)
    )
    assert later.exit_code == 0 and "no messages match" in later.output
    shown = runner.invoke(
        app, ["hl7", "messages", "--show", message_id, "--db", store_url], env=_env(tmp_path)
    )
    assert shown.exit_code == 0 and "PID|1||901" in shown.output and "MSA|AR" in shown.output
    assert "hl7_facilities" in shown.output  # the error says what to do

    still = runner.invoke(app, ["hl7", "replay", message_id, "--db", store_url], env=_env(tmp_path))
    assert still.exit_code == 1 and "AR" in still.output
    fixed_env = _env(tmp_path, FACILITIES + ",NEWCLINIC=dongshan-thc")
    replayed = runner.invoke(app, ["hl7", "replay", "--status", "rejected", "--db", store_url], env=fixed_env)
    assert replayed.exit_code == 0, replayed.output
    assert "1 replayed, 1 stored" in replayed.output
    after = runner.invoke(
        app, ["hl7", "messages", "--status", "stored", "--db", store_url], env=_env(tmp_path)
    )
    assert "NEWCLINIC" in after.output and "dongshan-thc" in after.output


def test_send_a_file_of_messages(store_url: str, tmp_path: Path) -> None:
    messages = b"".join(adt_a01(f"f-{n}", f"95{n}").replace(b"\r", b"\n") for n in range(3))
    path = tmp_path / "feed.hl7"
    path.write_bytes(b"\xef\xbb\xbf" + messages + adt_a01("f-bad", "959", facility="NOWHERE"))
    with feed_server(store_url) as server:
        sent = runner.invoke(
            app, ["hl7", "send", str(path), "--port", str(server.mllp_port)], env=_env(tmp_path)
        )
    assert sent.exit_code == 1, sent.output  # one of four refused
    assert sent.output.count("AA") == 3 and "AR f-bad" in sent.output
    assert "4 sent, 3 accepted, 1 not" in sent.output


@pytest.mark.parametrize("args", [["--status", "lost"], ["--since", "yesterday-ish"]])
def test_bad_options_are_explained(tmp_path: Path, args: list[str]) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = runner.invoke(app, ["hl7", "messages", *args, "--db", db], env=_env(tmp_path))
    assert result.exit_code == 2 and ("--status" in result.output or "--since" in result.output)
