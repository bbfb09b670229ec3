"""`yilian keys generate` and `yilian keys rotate` on both backends, and how `serve`/`demo`
take their keys from settings."""

from __future__ import annotations

import base64
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from yilian.cli.keys import build_codec, describe_encryption, with_demo_keys
from yilian.cli.main import app
from yilian.config import load_settings
from yilian.privacy.encryption import RESIDENT_ID_SYSTEM, IdentifierCodec
from yilian.privacy.keyring import load_keyring
from yilian.store.base import DEFAULT_PARTITION, Scope
from yilian.store.codec import PLAIN, KeyConfigurationError, ResourceCodec
from yilian.store.factory import open_repository
from yilian.store.feed_log import FeedMessage

runner = CliRunner()
RESIDENT_ID = "330127199001011234"
MOBILE = "13700001111"


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def config_for(tmp_path: Path, key_file: Path) -> Path:
    config = tmp_path / "yilian.toml"
    config.write_text(f'encryption_key_file = "{key_file}"\n', encoding="utf-8")
    return config


def codec_of(config: Path) -> ResourceCodec:
    return build_codec(load_settings(config_file=config, env={}))


def write_patient(url: str, codec: ResourceCodec) -> None:
    async def work() -> None:
        repo = open_repository(url, codec=codec)
        await repo.open()
        try:
            async with repo.transaction() as s:
                await s.create(
                    {
                        "resourceType": "Patient",
                        "identifier": [{"system": RESIDENT_ID_SYSTEM, "value": RESIDENT_ID}],
                        "telecom": [{"system": "phone", "value": MOBILE}],
                    },
                    DEFAULT_PARTITION,
                    id="p1",
                )
        finally:
            await repo.close()

    anyio.run(work)


def read_patient(url: str, codec: ResourceCodec, query: str) -> tuple[str, list[str]]:
    """The stored Patient's resident ID, and the ids a search for `query` finds."""

    async def work() -> tuple[str, list[str]]:
        from yilian.fhir.search.parse import parse_criteria

        repo = open_repository(url, codec=codec)
        await repo.open()
        try:
            async with repo.transaction(read_only=True) as s:
                resource = (await s.read("Patient", "p1", Scope.everything())).json()
                ids = await s.resolve_ids("Patient", parse_criteria("Patient", query), Scope.everything())
            return resource["identifier"][0]["value"], ids
        finally:
            await repo.close()

    return anyio.run(work)


def test_generate_prints_a_random_256_bit_key() -> None:
    code, out = invoke("keys", "generate")
    code2, out2 = invoke("keys", "generate")
    assert code == code2 == 0
    assert len(base64.b64decode(out)) == 32 and out != out2


def test_generate_writes_and_extends_a_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.toml"
    assert invoke("keys", "generate", "--file", str(key_file))[0] == 0
    first = load_keyring("", "", str(key_file))
    code, out = invoke("keys", "generate", "--file", str(key_file), "--id", "k2")
    assert code == 0 and "primary key k2" in out
    second = load_keyring("", "", str(key_file))
    assert first is not None and second is not None
    assert second.ids == ("k2", "k1") and second.key("k1") == first.key("k1")
    assert second.hmac_key == first.hmac_key  # the search hash key is kept
    assert key_file.stat().st_mode & 0o077 == 0


def test_rotate_moves_everything_to_the_new_key(store_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.toml"
    config = config_for(tmp_path, key_file)
    invoke("keys", "generate", "--file", str(key_file), "--id", "k1")
    write_patient(store_url, codec_of(config))
    invoke("keys", "generate", "--file", str(key_file), "--id", "k2")

    code, out = invoke("keys", "rotate", "--db", store_url, "--config", str(config), "--batch-size", "1")
    assert code == 0, out
    assert "1 of 1 re-encrypted" in out and "needs k1 any more" in out
    code, out = invoke("keys", "rotate", "--db", store_url, "--config", str(config))
    assert code == 0 and "0 of 1 re-encrypted" in out  # a second run has nothing to do

    # Drop k1 from the key file: the server starts and reads everything.
    text = key_file.read_text(encoding="utf-8")
    key_file.write_text("\n".join(line for line in text.splitlines() if not line.startswith("k1 ")) + "\n")
    only_k2 = codec_of(config)
    assert isinstance(only_k2, IdentifierCodec) and only_k2.keyring.ids == ("k2",)
    assert read_patient(store_url, only_k2, f"phone={MOBILE}") == (RESIDENT_ID, ["p1"])


def write_feed_message(url: str, codec: ResourceCodec) -> None:
    """One received message whose PID carries the resident ID and a GBK name."""
    raw = f"MSH|^~\\&|HIS|QX|||20261204||ADT^A01|1|P|2.4\rPID|||{RESIDENT_ID}^^^^NNCHN||王^小明\r"
    when = "2026-12-04T00:00:00.000000+00:00"
    message = FeedMessage(
        id="m1", received=when, updated=when, channel="mllp", peer="10.0.0.7",
        sending_application="HIS", sending_facility="QX", control_id="1", message_type="ADT^A01",
        version="2.4", institution=None, status="stored", ack_code="AA", error="",
        raw=raw.encode("gb18030"), ack=b"MSA|AA|1\r",
    )  # fmt: skip

    async def work() -> None:
        repo = open_repository(url, codec=codec)
        await repo.open()
        try:
            await repo.save_feed_message(message)
        finally:
            await repo.close()

    anyio.run(work)


def test_rotate_reseals_the_feed_log_and_messages_show_it_in_plaintext(
    store_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys.toml"
    config = config_for(tmp_path, key_file)
    invoke("keys", "generate", "--file", str(key_file), "--id", "k1")
    write_feed_message(store_url, codec_of(config))
    invoke("keys", "generate", "--file", str(key_file), "--id", "k2")
    code, out = invoke("keys", "rotate", "--db", store_url, "--config", str(config))
    assert code == 0, out
    assert "feed log: 1 of 1 messages re-sealed" in out and "needs k1 any more" in out
    text = key_file.read_text(encoding="utf-8")
    key_file.write_text("\n".join(line for line in text.splitlines() if not line.startswith("k1 ")) + "\n")
    code, out = invoke("hl7", "messages", "--show", "m1", "--db", store_url, "--config", str(config))
    assert code == 0, out
    assert f"PID|||{RESIDENT_ID}^^^^NNCHN||王^小明" in out
    code, out = invoke("hl7", "messages", "--db", store_url, "--config", str(config))
    assert code == 0 and "m1" in out and "1 shown" in out


def test_rotate_hmac_rebuilds_the_search_rows(store_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.toml"
    config = config_for(tmp_path, key_file)
    invoke("keys", "generate", "--file", str(key_file))
    write_patient(store_url, codec_of(config))
    _, new_hmac = invoke("keys", "generate")
    text = key_file.read_text(encoding="utf-8").splitlines()
    key_file.write_text(
        "\n".join(f'hmac_key = "{new_hmac}"' if line.startswith("hmac_key") else line for line in text)
    )
    with pytest.raises(KeyConfigurationError):
        read_patient(store_url, codec_of(config), f"phone={MOBILE}")

    code, out = invoke("keys", "rotate", "--hmac", "--db", store_url, "--config", str(config))
    assert code == 0, out
    assert "search rows rebuilt for 1 resources" in out
    assert read_patient(store_url, codec_of(config), f"identifier={RESIDENT_ID}") == (RESIDENT_ID, ["p1"])


def test_rotate_refuses_without_keys_or_with_a_missing_key(store_url: str, tmp_path: Path) -> None:
    code, out = invoke("keys", "rotate", "--db", store_url, "--config", str(tmp_path / "none.toml"))
    assert code == 2
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    code, out = invoke("keys", "rotate", "--db", store_url, "--config", str(empty))
    assert code == 2 and "no encryption keys are configured" in out

    key_file = tmp_path / "keys.toml"
    config = config_for(tmp_path, key_file)
    invoke("keys", "generate", "--file", str(key_file), "--id", "k1")
    write_patient(store_url, codec_of(config))
    key_file.unlink()
    invoke("keys", "generate", "--file", str(key_file), "--id", "k9")
    code, out = invoke("keys", "rotate", "--db", store_url, "--config", str(config))
    assert code == 1 and "k1" in out


def test_settings_without_keys_mean_no_encryption_and_say_so() -> None:
    settings = load_settings(env={})
    assert build_codec(settings) is PLAIN
    assert "OFF" in describe_encryption(PLAIN)
    keyed = load_settings(
        env={
            "YILIAN_ENCRYPTION_KEYS": f"k2:{b64(b'2' * 32)},k1:{b64(b'1' * 32)}",
            "YILIAN_HMAC_KEY": base64.b64encode(b"h" * 32).decode(),
            "YILIAN_ENCRYPTED_IDENTIFIER_SYSTEMS": "urn:oid:2.16.840.1.113883.4.1",
        }
    )
    codec = build_codec(keyed)
    assert isinstance(codec, IdentifierCodec)
    assert codec.keyring.ids == ("k2", "k1")
    assert codec.identifier_systems == {RESIDENT_ID_SYSTEM, "urn:oid:2.16.840.1.113883.4.1"}
    assert "primary key k2 (also decrypting k1)" in describe_encryption(codec)
    assert "BASE64" not in repr(keyed) and base64.b64encode(b"h" * 32).decode() not in repr(keyed)


def test_the_demo_makes_its_key_file_beside_its_database(tmp_path: Path) -> None:
    settings = with_demo_keys(
        load_settings(env={}, overrides={"db_url": f"sqlite:///{tmp_path / 'demo.db'}"})
    )
    key_file = tmp_path / "demo.keys.toml"
    assert settings.encryption_key_file == str(key_file) and key_file.exists()
    served = with_demo_keys(
        load_settings(env={}, overrides={"db_url": f"sqlite:///{tmp_path / 'demo.db'}"}), create=False
    )
    assert served.encryption_key_file == str(key_file)  # `yilian serve` on the demo file finds it
    other = with_demo_keys(
        load_settings(env={}, overrides={"db_url": f"sqlite:///{tmp_path / 'x.db'}"}), create=False
    )
    assert other.encryption_key_file == "" and not (tmp_path / "x.keys.toml").exists()
    again = with_demo_keys(load_settings(env={}, overrides={"db_url": f"sqlite:///{tmp_path / 'demo.db'}"}))
    assert load_keyring("", "", again.encryption_key_file) == load_keyring("", "", str(key_file))
