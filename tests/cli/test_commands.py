"""The `yilian` command: institution add/list/remove on both backends, demo, serve."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from tests.serving import DEV_KEY_PATH, auth_headers
from typer.testing import CliRunner

from yilian.cli.demo import DEMO_INSTITUTIONS, DEMO_PERSONS, DEMO_SEED
from yilian.cli.main import app
from yilian.store.base import Scope
from yilian.store.factory import open_repository
from yilian.synth.alliance import Alliance
from yilian.synth.fhir_bundle import alliance_bundles

runner = CliRunner()
# Servers started here trust the test suite's development issuer (tests/serving.py).
DEV_ISSUER_ENV = {
    "YILIAN_AUTH_DEV_ISSUER": "true",
    "YILIAN_DEV_ISSUER_KEY_PATH": DEV_KEY_PATH,
    "YILIAN_AUDIT_SIGNING_KEY_FILE": str(Path(DEV_KEY_PATH).with_name("serve.audit-key")),  # not in the cwd
}
_STATE = tempfile.mkdtemp(prefix="yilian-cli-test-")  # the demo writes its feed files under data_dir
atexit.register(shutil.rmtree, _STATE, ignore_errors=True)
WIDE = {"COLUMNS": "200", "YILIAN_DEV_ISSUER_KEY_PATH": DEV_KEY_PATH, "YILIAN_DATA_DIR": _STATE}
YILIAN = str(Path(sys.executable).parent / "yilian")


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=WIDE)
    return result.exit_code, result.output


def _organizations(url: str) -> list[dict[str, object]]:
    """The current Organizations in the store, read through the repository contract."""

    async def read() -> list[dict[str, object]]:
        from yilian.fhir.search.model import SearchRequest

        repo = open_repository(url)
        await repo.open()
        try:
            async with repo.transaction(read_only=True) as session:
                result = await session.search(SearchRequest(("Organization",)), Scope.everything())
                return [r.json() for r in result.matches]
        finally:
            await repo.close()

    return anyio.run(read)


def test_institution_add_list_remove(store_url: str) -> None:
    code, out = invoke("institution", "list", "--db", store_url)
    assert code == 0 and "no institutions registered" in out

    code, out = invoke("institution", "add", "county-hospital", "--name", "青溪县人民医院", "--db", store_url)
    assert code == 0, out
    assert "registered county-hospital" in out
    orgs = _organizations(store_url)
    assert len(orgs) == 1
    assert orgs[0]["identifier"] == [{"system": "urn:yilian:institution", "value": "county-hospital"}]
    assert orgs[0]["name"] == "青溪县人民医院"
    assert f"Organization/{orgs[0]['id']}" in out

    code, out = invoke("institution", "add", "dongshan-thc", "--name", "东山镇卫生院", "--db", store_url)
    assert code == 0, out
    code, out = invoke("institution", "list", "--db", store_url)
    assert code == 0
    assert "county-hospital" in out and "青溪县人民医院" in out and "dongshan-thc" in out
    assert out.index("county-hospital") < out.index("dongshan-thc")

    code, out = invoke("institution", "add", "county-hospital", "--name", "again", "--db", store_url)
    assert code == 1 and "already registered" in out

    code, out = invoke("institution", "remove", "county-hospital", "--db", store_url)
    assert code == 0, out
    code, out = invoke("institution", "list", "--db", store_url)
    assert "county-hospital" not in out and "dongshan-thc" in out
    assert [o["identifier"] for o in _organizations(store_url)] == [
        [{"system": "urn:yilian:institution", "value": "dongshan-thc"}]
    ]

    code, out = invoke("institution", "remove", "county-hospital", "--db", store_url)
    assert code == 1 and "not registered" in out


@pytest.mark.parametrize("bad", ["Bad_Code", "default", "metadata", "-lead", "a" * 64, "县医院"])
def test_institution_codes_are_validated(tmp_path: Path, bad: str) -> None:
    url = f"sqlite:///{tmp_path / 'y.db'}"
    code, out = invoke("institution", "add", "--name", "x", "--db", url, "--", bad)
    assert code == 1
    assert "institution code" in out
    assert invoke("institution", "list", "--db", url)[1].strip() == "no institutions registered"


def test_bad_database_url_is_a_clear_error() -> None:
    code, out = invoke("institution", "list", "--db", "mysql://somewhere/db")
    assert code == 2 and "unsupported database URL" in out


def test_demo_loads_once_and_refuses_removal_of_a_busy_institution(store_url: str) -> None:
    code, out = invoke("demo", "--no-serve", "--db", store_url, "--port", "8099")
    assert code == 0, out
    for expected in (
        "http://127.0.0.1:8099/fhir/",
        "http://127.0.0.1:8099/fhir/county-hospital/",
        "http://127.0.0.1:8099/fhir/dongshan-thc/",
        "http://127.0.0.1:8099/fhir/baishui-thc/",
        "http://127.0.0.1:8099/docs",
        "http://127.0.0.1:8099/console/login",
        "curl ",
    ):
        assert expected in out, out
    county = sum(len(b["entry"]) for code, b in alliance_bundles(DEMO_PERSONS, DEMO_INSTITUTIONS, DEMO_SEED)
                 if code == "county-hospital")  # fmt: skip
    assert str(county + 1) in out  # county-hospital: its bundle entries and the research Consent
    assert "yilian hl7 send" in out and "yilian import frontsheet" in out
    family = out.split("family=")[1].split("'")[0]
    code, out = invoke("demo", "--no-serve", "--db", store_url)
    assert code == 0 and out.count("already there") == DEMO_INSTITUTIONS
    # The sample query the demo prints finds patients once the server runs.
    with _serving(["--db", store_url]) as root:
        found = httpx.get(
            f"{root}/fhir/county-hospital/Patient", params={"family": family}, headers=auth_headers()
        ).json()
        assert found["entry"] and all(e["resource"]["name"][0]["family"] == family for e in found["entry"])
        everyone = httpx.get(
            f"{root}/fhir/Patient", params={"_summary": "count"}, headers=auth_headers()
        ).json()
        assert everyone["total"] == _demo_registrations()
    code, out = invoke("institution", "remove", "county-hospital", "--db", store_url)
    assert code == 1 and "county-hospital" in out


def _demo_registrations() -> int:
    """How many Patient records the demo's alliance holds (one per registration)."""
    return sum(len(h.registrations) for h in Alliance(DEMO_PERSONS, DEMO_INSTITUTIONS, DEMO_SEED).histories())


def test_help_texts() -> None:
    code, out = invoke("demo", "--help")
    assert code == 0 and "--db" in out and "--port" in out
    code, out = invoke("serve", "--help")
    assert code == 0
    for option in ("--db", "--host", "--port", "--workers", "--config"):
        assert option in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "port must be between"),
        (["--workers", "0"], "workers must be at least 1"),
        (["--db", "ftp://x"], "unsupported database URL"),
        (["--config", "/nonexistent/yilian.toml"], "does not exist"),
    ],
)
def test_serve_rejects_bad_arguments(args: list[str], message: str) -> None:
    code, out = invoke("serve", *args)
    assert code == 2
    assert message in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _serving(args: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `yilian serve` in a subprocess until /healthz answers; stop it with SIGINT."""
    port = _free_port()
    proc = subprocess.Popen(
        [YILIAN, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **DEV_ISSUER_ENV, **(env or {})},
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                output = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"yilian serve exited with {proc.returncode}: {output}")
            try:
                if httpx.get(f"{root}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("yilian serve did not come up")
            time.sleep(0.1)
        yield root
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_runs_a_server(tmp_path: Path, workers: str) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    with _serving(["--db", url, "--workers", workers]) as root:
        created = httpx.post(
            f"{root}/fhir/Patient",
            json={"resourceType": "Patient", "name": [{"text": "张伟"}]},
            headers={"Content-Type": "application/fhir+json", **auth_headers()},
        )
        assert created.status_code == 201, created.text
        assert created.headers["location"].startswith(f"{root}/fhir/Patient/")
        found = httpx.get(f"{root}/fhir/Patient", params={"name": "张伟"}, headers=auth_headers()).json()
        assert len(found["entry"]) == 1


def test_serve_reads_the_config_file_and_environment(tmp_path: Path) -> None:
    db = tmp_path / "from-config.db"
    cfg = tmp_path / "yilian.toml"
    cfg.write_text(f'db_url = "sqlite:///{db}"\nmax_body_bytes = 2048\n', encoding="utf-8")
    with _serving([], env={"YILIAN_CONFIG": str(cfg), "YILIAN_DEFAULT_HANDLING": "strict"}) as root:
        strict = httpx.get(f"{root}/fhir/Patient", params={"shoe-size": "42"}, headers=auth_headers())
        assert strict.status_code == 400
        big = httpx.post(
            f"{root}/fhir/Patient",
            content=b'{"resourceType": "Patient", "name": [{"text": "' + b"x" * 4000 + b'"}]}',
            headers={"Content-Type": "application/fhir+json", **auth_headers()},
        )
        assert big.status_code == 413
    assert db.exists()
