"""The audit trail is on by default in `yilian serve`: with no key configured, serve makes a key
file (0600) on first start and says where; every request lands in the log, which `yilian audit
verify` then checks with that file (both backends).  `audit = "off"` warns loudly."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests.serving import DEV_KEY_PATH, auth_headers
from typer.testing import CliRunner

from yilian.cli.audit_key import resolve_audit_key
from yilian.cli.main import app
from yilian.config import Settings, SettingsError

YILIAN = str(Path(sys.executable).parent / "yilian")
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _environment(**extra: str) -> dict[str, str]:
    """This process's environment without any audit setting, plus the dev issuer and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YILIAN_")}
    return {
        **env,
        "COLUMNS": "250",
        "YILIAN_AUTH_DEV_ISSUER": "true",
        "YILIAN_DEV_ISSUER_KEY_PATH": DEV_KEY_PATH,
        **extra,
    }


class Served:
    def __init__(self, root: str) -> None:
        self.root = root
        self.output = ""


@contextmanager
def serving(url: str, cwd: Path, **env: str) -> Iterator[Served]:
    """`yilian serve --db url` run in `cwd` until /healthz answers; stopped with SIGINT (which
    flushes and seals the audit trail); `output` holds what it printed once it has stopped."""
    port = _free_port()
    proc = subprocess.Popen(
        [YILIAN, "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=_environment(YILIAN_DATA_DIR=str(cwd), **env),
    )
    served = Served(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                output = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"yilian serve exited with {proc.returncode}: {output}")
            try:
                if httpx.get(f"{served.root}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("yilian serve did not come up")
            time.sleep(0.1)
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        served.output = proc.stdout.read().decode() if proc.stdout else ""


def _some_requests(root: str) -> None:
    headers = {"Content-Type": "application/fhir+json", **auth_headers()}
    created = httpx.post(f"{root}/fhir/Patient", json={"resourceType": "Patient"}, headers=headers)
    assert created.status_code == 201, created.text
    assert httpx.get(f"{root}/fhir/Patient/{created.json()['id']}", headers=headers).status_code == 200
    assert httpx.get(f"{root}/fhir/Patient", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def _verify(url: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    # the default key file is data_dir/audit-key
    result = runner.invoke(app, ["audit", "verify", "--db", url], env=_environment(YILIAN_DATA_DIR=str(cwd)))
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_serve_records_by_default_and_verify_uses_the_generated_key(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(store_url, tmp_path) as served:
        _some_requests(served.root)
    key_file = tmp_path / "audit-key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    flat = " ".join(served.output.split())
    assert str(key_file) in flat and "SECRET" in flat and "generated" in flat
    code, output = _verify(store_url, tmp_path, monkeypatch)
    assert code == 0, output
    assert "intact: 3 entries" in output and "signatures checked" in output
    # the same key on the next start: the log goes on under it
    with serving(store_url, tmp_path) as served:
        _some_requests(served.root)
    assert "generated" not in served.output and str(key_file) in " ".join(served.output.split())
    code, output = _verify(store_url, tmp_path, monkeypatch)
    assert code == 0 and "intact: 6 entries" in output, output


def test_audit_off_records_nothing_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'off.db'}"
    with serving(url, tmp_path, YILIAN_AUDIT="off", YILIAN_AUDIT_SIGNING_KEY="ignored") as served:
        _some_requests(served.root)
    assert "THE AUDIT TRAIL IS OFF" in " ".join(served.output.split())
    assert not (tmp_path / "audit-key").exists()
    code, output = _verify(url, tmp_path, monkeypatch)
    assert code == 0 and "0 entries" in output and "signatures cannot be checked" in output


# -- the key resolution on its own -------------------------------------------------------------


def test_the_key_file_is_made_once_and_an_explicit_key_wins(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "audit.key"
    settings = Settings(audit_signing_key_file=str(key_file))
    first = resolve_audit_key(settings)
    assert first.created and not first.warning
    key = first.settings.audit_signing_key
    assert len(key) == 43 and key_file.read_text().strip() == key  # 32 random bytes, base64url
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = resolve_audit_key(settings)
    assert not again.created and again.settings.audit_signing_key == key
    other = resolve_audit_key(Settings(audit_signing_key_file=str(tmp_path / "b.key")))
    assert other.settings.audit_signing_key != key
    explicit = resolve_audit_key(
        Settings(audit_signing_key="given", audit_signing_key_file=str(tmp_path / "c"))
    )
    assert explicit.settings.audit_signing_key == "given" and not (tmp_path / "c").exists()
    off = resolve_audit_key(Settings(audit="off", audit_signing_key="given"))
    assert off.settings.audit_signing_key == "" and off.warning and "OFF" in off.message
    missing = resolve_audit_key(Settings(audit_signing_key_file=str(tmp_path / "d")), create=False)
    assert missing.settings.audit_signing_key == "" and not (tmp_path / "d").exists()


def test_a_loose_or_empty_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    key_file.write_text("shared-key\n")
    key_file.chmod(0o644)
    loose = resolve_audit_key(Settings(audit_signing_key_file=str(key_file)))
    assert loose.settings.audit_signing_key == "shared-key"
    assert loose.warning and "chmod 600" in loose.message
    key_file.write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):
        resolve_audit_key(Settings(audit_signing_key_file=str(key_file)))
    with pytest.raises(SettingsError, match="audit must be"):
        Settings(audit="maybe")  # type: ignore[arg-type]
