"""Settings: defaults, TOML file, YILIAN_* environment, overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from yilian.config import Settings, SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings(env={})
    assert s.database_url == f"sqlite:///{Path('~/.local/share/yilian').expanduser() / 'yilian.db'}"
    assert s.max_body_bytes == 20 * 1024 * 1024
    assert (s.max_json_depth, s.default_count, s.max_count) == (100, 20, 1000)
    assert s.default_handling == "lenient"


def test_precedence_file_then_environment_then_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "yilian.toml"
    cfg.write_text('db_url = "sqlite:///from-file.db"\nport = 9000\nworkers = 3\n', encoding="utf-8")
    env = {"YILIAN_CONFIG": str(cfg), "YILIAN_PORT": "9100"}
    s = load_settings(env=env, overrides={"workers": 2, "host": None})
    assert s.db_url == "sqlite:///from-file.db"  # file
    assert s.port == 9100  # environment beats file
    assert s.workers == 2  # option beats both
    assert s.host == "127.0.0.1"  # a None override is "not given"


def test_yilian_table_in_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[yilian]\ndefault_handling = "strict"\nmax_json_depth = 50\n', encoding="utf-8")
    s = load_settings(config_file=cfg, env={})
    assert (s.default_handling, s.max_json_depth) == ("strict", 50)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"YILIAN_PORT": "eighty"}, "port from environment variable YILIAN_PORT must be an integer"),
        ({"YILIAN_PORT": "70000"}, "port must be between 0 and 65535"),
        ({"YILIAN_WORKERS": "0"}, "workers must be at least 1"),
        ({"YILIAN_DEFAULT_HANDLING": "sloppy"}, "default_handling must be 'strict' or 'lenient'"),
        ({"YILIAN_DEFAULT_COUNT": "5000"}, "default_count (5000) must not exceed max_count (1000)"),
        ({"YILIAN_LOG_LEVEL": "loud"}, "log_level must be one of"),
    ],
)
def test_invalid_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(env=env)
    assert message in str(err.value)


def test_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config_file=bad, env={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 1", encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load_settings(config_file=unknown, env={})
    wrong_type = tmp_path / "wrong.toml"
    wrong_type.write_text("port = true", encoding="utf-8")
    with pytest.raises(SettingsError, match="must be an integer"):
        load_settings(config_file=wrong_type, env={})


def test_settings_round_trip_through_the_environment() -> None:
    s = Settings(db_url="postgresql://x@h/db", port=1234, workers=4, default_handling="strict")
    assert load_settings(env=s.to_env()) == s
    assert s.replace(port=99).port == 99
    with pytest.raises(SettingsError):
        s.replace(max_count=0)


def test_runtime_state_lives_under_the_data_dir(tmp_path: Path) -> None:
    """Nothing the server keeps lands in the working folder (often a source checkout)."""
    s = load_settings(env={"YILIAN_DATA_DIR": str(tmp_path / "state")})
    state = tmp_path / "state"
    assert s.database_url == f"sqlite:///{state / 'yilian.db'}"
    assert (s.bulk_path, s.dev_issuer_key, s.audit_key_path) == (
        state / "bulk",
        state / "dev-issuer.pem",
        state / "audit-key",
    )
    placed = load_settings(
        env={"YILIAN_DATA_DIR": str(state), "YILIAN_BULK_DIR": str(tmp_path / "jobs")},
        overrides={"db_url": "postgresql://x@h/db", "audit_signing_key_file": str(tmp_path / "k")},
    )
    assert placed.database_url == "postgresql://x@h/db"
    assert (placed.bulk_path, placed.audit_key_path) == (tmp_path / "jobs", tmp_path / "k")
    with pytest.raises(SettingsError, match="data_dir"):
        load_settings(env={"YILIAN_DATA_DIR": ""})
