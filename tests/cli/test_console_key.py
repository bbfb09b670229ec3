"""Every worker process of one server must sign console cookies with the same key: `serve`
settles it once, before the workers start (a configured key wins; else a key file)."""

from __future__ import annotations

from pathlib import Path

from yilian.cli.serve import with_console_key
from yilian.config import Settings


def test_the_key_file_is_made_once_and_kept_secret(tmp_path: Path) -> None:
    settings = Settings().replace(data_dir=str(tmp_path))
    first, second = with_console_key(settings), with_console_key(settings)
    assert first.console_session_key and first.console_session_key == second.console_session_key
    key_file = tmp_path / "console-session-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert first.console_session_key not in repr(first)


def test_a_configured_key_wins(tmp_path: Path) -> None:
    settings = Settings().replace(data_dir=str(tmp_path), console_session_key="configured-secret")
    assert with_console_key(settings).console_session_key == "configured-secret"
    assert not (tmp_path / "console-session-key").exists()
