"""Typed settings for a yilian deployment.

One frozen `Settings` value is built at the composition root (the CLI) and passed down; no
module reads the environment on its own.  Values come, lowest precedence first, from the
defaults here, an optional TOML file (`YILIAN_CONFIG` or `--config`), `YILIAN_*` environment
variables, and finally explicit overrides (command-line options).  A value that does not parse
or is out of range raises `SettingsError` naming the setting and where it came from, so a typo
in a deployment fails at start-up instead of at the first request.

The TOML file uses the field names as keys, at the top level or under a `[yilian]` table::

    db_url = "postgresql://yilian@db/yilian"
    port = 8080
    max_body_bytes = 10485760
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

__all__ = ["ENV_PREFIX", "Settings", "SettingsError", "load_settings"]

ENV_PREFIX = "YILIAN_"
"""Environment variables are this prefix plus the upper-cased field name (`YILIAN_DB_URL`)."""

CONFIG_ENV = "YILIAN_CONFIG"
"""Names the TOML file when `--config` is not given."""

Handling = Literal["strict", "lenient"]
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range; the message says which and where."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator may tune.

    `default_handling` is what `Prefer: handling=` means when a client does not send it
    (http://hl7.org/fhir/R4/search.html#errors): `lenient` ignores unknown search parameters,
    `strict` rejects them."""

    db_url: str = "sqlite:///./yilian.db"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 20 * 1024 * 1024
    max_json_depth: int = 100
    default_count: int = 20
    max_count: int = 1000
    default_handling: Handling = "lenient"
    log_level: str = "info"

    def __post_init__(self) -> None:
        _check(self)

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` applied (each validated like any other source)."""
        return load_settings(env={}, overrides={**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings; the CLI hands them to
        uvicorn worker processes, which rebuild Settings from their environment."""
        return {ENV_PREFIX + k.upper(): str(v) for k, v in self.as_dict().items()}


def load_settings(
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from defaults, TOML file, environment and overrides (in that order).

    `env` defaults to `os.environ`; `overrides` entries whose value is None are ignored, so a
    CLI can pass every option it declares and only those the user gave take effect."""
    environ = os.environ if env is None else env
    raw: dict[str, tuple[Any, str]] = {}
    path = config_file if config_file is not None else environ.get(CONFIG_ENV)
    if path:
        for key, value in _read_toml(Path(path)).items():
            raw[key] = (value, f"config file {path}")
    for f in fields(Settings):
        name = ENV_PREFIX + f.name.upper()
        if name in environ:
            raw[f.name] = (environ[name], f"environment variable {name}")
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = (value, f"option {key}")
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, (value, source) in raw.items():
        if key not in known:
            raise SettingsError(f"unknown setting {key!r} in {source}; known: {', '.join(sorted(known))}")
        values[key] = _coerce(known[key], value, source)
    try:
        return Settings(**values)
    except SettingsError:
        raise
    except TypeError as exc:  # pragma: no cover - guarded by the unknown-key check above
        raise SettingsError(str(exc)) from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    section = data.get("yilian")
    if isinstance(section, dict):
        return section
    return data


def _coerce(f: dataclasses.Field[Any], value: Any, source: str) -> Any:
    """Turn a TOML value or environment string into the field's type."""
    if f.type in ("int", int):
        if isinstance(value, bool):
            raise SettingsError(f"{f.name} from {source} must be an integer, not {value!r}")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip().replace("_", ""))
        except ValueError:
            raise SettingsError(f"{f.name} from {source} must be an integer, not {value!r}") from None
    if not isinstance(value, str):
        raise SettingsError(f"{f.name} from {source} must be a string, not {value!r}")
    return value.strip()


def _check(s: Settings) -> None:
    def positive(name: str, value: int) -> None:
        if value < 1:
            raise SettingsError(f"{name} must be at least 1, not {value}")

    if not s.db_url:
        raise SettingsError("db_url must not be empty (e.g. sqlite:///./yilian.db or postgresql://...)")
    if not s.host:
        raise SettingsError("host must not be empty")
    if not 0 <= s.port <= 65535:
        raise SettingsError(f"port must be between 0 and 65535, not {s.port}")
    positive("workers", s.workers)
    positive("max_body_bytes", s.max_body_bytes)
    positive("max_json_depth", s.max_json_depth)
    positive("default_count", s.default_count)
    positive("max_count", s.max_count)
    if s.default_count > s.max_count:
        raise SettingsError(f"default_count ({s.default_count}) must not exceed max_count ({s.max_count})")
    if s.default_handling not in ("strict", "lenient"):
        raise SettingsError(f"default_handling must be 'strict' or 'lenient', not {s.default_handling!r}")
    if s.log_level.lower() not in _LOG_LEVELS:
        raise SettingsError(f"log_level must be one of {', '.join(_LOG_LEVELS)}, not {s.log_level!r}")
