"""`yilian serve --auth`, the start-up announcements, and `yilian serve` trusting the
development issuer in a real subprocess."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.api.helpers import assert_outcome
from tests.cli.test_commands import _serving
from tests.serving import auth_headers
from typer.testing import CliRunner

from yilian.cli import main
from yilian.cli.token import parse_ttl
from yilian.config import Settings

runner = CliRunner()
ENV = {"COLUMNS": "200", "YILIAN_AUTH_DEV_ISSUER": "false", "YILIAN_ISSUERS": ""}


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    started: list[Settings] = []
    monkeypatch.setattr(main, "run_server", started.append)
    return started


def test_auth_off_warns_loudly(tmp_path: Path, no_serving: list[Settings]) -> None:
    result = runner.invoke(
        main.app, ["serve", "--db", f"sqlite:///{tmp_path / 'a.db'}", "--auth", "off"], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert "AUTHENTICATION IS OFF" in result.output and "never expose" in result.output
    assert no_serving[0].auth == "off"


def test_auth_on_without_an_issuer_refuses_to_start(tmp_path: Path, no_serving: list[Settings]) -> None:
    result = runner.invoke(
        main.app, ["serve", "--db", f"sqlite:///{tmp_path / 'a.db'}", "--auth", "on"], env=ENV
    )
    assert result.exit_code == 2
    assert "no token issuer is trusted" in result.output
    assert not no_serving


def test_auth_on_with_issuers_announces_them(tmp_path: Path, no_serving: list[Settings]) -> None:
    config = tmp_path / "yilian.toml"
    config.write_text(
        '[[yilian.issuers]]\nissuer = "https://sso.example.cn"\njwks_url = "https://sso.example.cn/certs"\n'
    )
    args = ["serve", "--db", f"sqlite:///{tmp_path / 'a.db'}", "--auth", "on", "--config", str(config)]
    result = runner.invoke(main.app, [*args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "https://sso.example.cn" in result.output
    assert no_serving[0].issuers[0].jwks_url == "https://sso.example.cn/certs"


def test_bad_auth_settings(tmp_path: Path, no_serving: list[Settings]) -> None:
    for env, message in (
        ({"YILIAN_AUTH": "maybe"}, "auth must be"),
        ({"YILIAN_ISSUERS": "not json"}, "JSON list"),
        ({"YILIAN_ISSUERS": '[{"issuer": "x"}]'}, "exactly one of jwks_url or jwks_file"),
        ({"YILIAN_AUTH_DEV_ISSUER": "perhaps"}, "true or false"),
    ):
        result = runner.invoke(
            main.app, ["serve", "--db", f"sqlite:///{tmp_path / 'a.db'}"], env={**ENV, **env}
        )
        assert result.exit_code == 2, (env, result.output)
        assert message in result.output


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("7d", 604800)]
)
def test_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0", "1y", "-1h", "h", "1.5h"])
def test_bad_ttl(text: str) -> None:
    with pytest.raises(ValueError, match="--ttl"):
        parse_ttl(text)


def test_serve_subprocess_with_the_development_issuer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    with _serving(["--db", url, "--auth", "on"]) as root:
        assert_outcome(httpx.get(f"{root}/fhir/Patient"), 401)
        assert httpx.get(f"{root}/fhir/Patient", headers=auth_headers()).status_code == 200
        assert httpx.get(f"{root}/fhir/metadata").status_code == 200
        assert httpx.get(f"{root}/.well-known/jwks.json").status_code == 200
