"""`yilian --version`, defaults in `--help`, and what `serve` says when no issuer is trusted."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from yilian import __version__
from yilian.cli.main import app
from yilian.config import Settings

runner = CliRunner()
WIDE = {"COLUMNS": "250", "YILIAN_AUTH_DEV_ISSUER": "false", "YILIAN_ISSUERS": ""}


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"yilian {__version__}"


def test_serve_help_shows_the_defaults_settings_give() -> None:
    result = runner.invoke(app, ["serve", "--help"], env=WIDE)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    defaults = Settings()
    for name in ("host", "port", "workers", "log_level", "auth"):
        assert f"(default: {getattr(defaults, name)}; setting {name})" in text, name
    assert "--dev-issuer" in text


def test_serve_without_an_issuer_says_what_to_add(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'a.db'}"], env=WIDE)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "--dev-issuer" in text and "[[yilian.issuers]]" in text and "jwks_url" in text
