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
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "ENV_PREFIX",
    "IssuerSetting",
    "Settings",
    "SettingsError",
    "is_http_url",
    "load_settings",
    "settings_reference",
]

ENV_PREFIX = "YILIAN_"
"""Environment variables are this prefix plus the upper-cased field name (`YILIAN_DB_URL`)."""

CONFIG_ENV = "YILIAN_CONFIG"
"""Names the TOML file when `--config` is not given."""

Handling = Literal["strict", "lenient"]
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range; the message says which and where."""


@dataclass(frozen=True, slots=True)
class IssuerSetting:
    """One trusted token issuer (auth): its `iss` value and where its public keys are, a JWKS
    URL or a local JWKS/PEM file (exactly one).  In TOML an array of tables::

        [[yilian.issuers]]
        issuer = "https://sso.example.cn/realms/alliance"
        jwks_url = "https://sso.example.cn/realms/alliance/protocol/openid-connect/certs"

    `.well-known/smart-configuration` sends clients to the issuer for their tokens, so it names
    only endpoints the issuer really has.  At start-up the server reads the issuer's own
    `{issuer}/.well-known/openid-configuration` (a few seconds at most; a failure is logged and
    retried later, the server starts anyway); `discovery = false` turns that off, e.g. where
    the issuer is not reachable from the server.  The optional keys below name what the issuer
    offers and win over what its discovery document says: `authorization_endpoint` and
    `token_endpoint` (http(s) URLs), `grant_types_supported` and
    `token_endpoint_auth_methods_supported` (lists of strings, or comma-separated)::

        token_endpoint = "https://sso.example.cn/realms/alliance/protocol/openid-connect/token"
        grant_types_supported = ["client_credentials"]
    """

    issuer: str
    jwks_url: str = ""
    jwks_file: str = ""
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    grant_types_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    discovery: bool = True


def _doc(default: Any, meaning: str, *, repr: bool = True) -> Any:
    """A setting's default and what it means: docs/configuration.md is generated from these
    (`settings_reference`), so the reference cannot drift from the code."""
    return field(default=default, repr=repr, metadata={"doc": meaning})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator may tune.

    `default_handling` is what `Prefer: handling=` means when a client does not send it
    (http://hl7.org/fhir/R4/search.html#errors): `lenient` ignores unknown search parameters,
    `strict` rejects them."""

    # --- server ---
    data_dir: str = _doc(
        "~/.local/share/yilian",
        "Where runtime state lives: the default SQLite database, Bulk Data job files, the development "
        "issuer's key and the audit key (each setting below that names a file overrides its place)",
    )
    db_url: str = _doc(
        "", "Database URL: `sqlite:///path` or `postgresql://...`; empty: `data_dir`/yilian.db"
    )
    host: str = _doc("127.0.0.1", "Interface the server listens on")
    port: int = _doc(8080, "TCP port the server listens on")
    workers: int = _doc(1, "Server worker processes (each with its own connection pool)")
    max_body_bytes: int = _doc(20 * 1024 * 1024, "Largest request body accepted (413 beyond)")
    max_json_depth: int = _doc(100, "Deepest nesting of JSON accepted in a request body")
    default_count: int = _doc(20, "Page size of a search that names no `_count`")
    max_count: int = _doc(1000, "Largest page size a search may ask for")
    default_handling: Handling = _doc(
        "lenient",
        "What `Prefer: handling` means when absent: lenient ignores unknown search parameters, strict "
        "refuses them",
    )
    log_level: str = _doc("info", "critical, error, warning, info, debug or trace")
    # --- authentication (yilian.auth) ---
    auth: Literal["on", "off"] = _doc(
        "on", "Bearer-token authentication; off is for local development only and says so loudly"
    )
    audience: str = _doc("yilian", "The `aud` every token must carry")
    issuers: tuple[IssuerSetting, ...] = _doc(
        (),
        "Trusted token issuers: a TOML array of tables `[[yilian.issuers]]` (issuer, jwks_url or "
        "jwks_file); in the environment, a JSON list",
    )
    auth_dev_issuer: bool = _doc(
        False, "Trust the built-in development issuer (tokens from `yilian token`); never in production"
    )
    dev_issuer_key_path: str = _doc(
        "", "Private key of the development issuer; empty: `data_dir`/dev-issuer.pem"
    )
    token_leeway_seconds: int = _doc(30, "Clock skew tolerated on a token's exp, nbf and iat")
    # --- consent (yilian.privacy.consent) ---
    consent_lapse_days: int = _doc(
        0,
        "A patient-privacy Consent that names no end grants for this many days from its dateTime; 0: until "
        "revoked",
    )
    # --- audit trail (yilian.privacy.audit) ---
    audit: Literal["on", "off"] = _doc(
        "on",
        "Record every access in the hash-chained audit trail; off records nothing (development only; loud)",
    )
    audit_signing_key: str = _doc(
        "", "HMAC key of the signed checkpoints; empty: read or create `audit_signing_key_file`", repr=False
    )
    audit_signing_key_file: str = _doc(
        "", "File holding the checkpoint key, created (0600) if missing; empty: `data_dir`/audit-key"
    )
    audit_checkpoint_every: int = _doc(1000, "Sign a checkpoint every this many entries (and on close)")
    audit_checkpoint_seconds: int = _doc(10, "Unsealed entries get a signed checkpoint at least this often")
    audit_flush_ms: int = _doc(
        200, "Queued entries are written at least this often (a crash loses at most this much)"
    )
    audit_max_pending: int = _doc(10000, "A full queue is written by the request itself, never dropped")
    # --- encryption of sensitive identifiers (yilian.privacy.keyring); keys never appear in repr() ---
    encryption_keys: str = _doc(
        "",
        "`id:BASE64,id:BASE64`, the primary first; empty (and no key file): identifiers stored as they are",
        repr=False,
    )
    hmac_key: str = _doc("", "BASE64 key of the search hashes of protected values", repr=False)
    encryption_key_file: str = _doc("", "A TOML key file supplying what the two settings above leave empty")
    encrypted_identifier_systems: str = _doc(
        "", "Identifier.system URIs protected besides the resident ID, comma-separated"
    )
    encrypted_resource_types: str = _doc(
        "Patient,RelatedPerson,Practitioner",
        "Resource types whose identifiers and phone numbers are protected",
    )
    # --- bulk data (yilian.bulk) ---
    bulk_dir: str = _doc(
        "", "One folder per $export / $import job holds its files until DELETEd; empty: `data_dir`/bulk"
    )
    import_allowed_dirs: str = _doc(
        "", "Comma-separated folders `$import` may read local files from; empty: none"
    )

    # --- the console (yilian.console) ---
    console_session_key: str = _doc(
        "",
        "Secret that signs console session cookies (every worker must share it); empty: `serve` keeps "
        "one in `data_dir`/console-session-key, made on first start",
        repr=False,
    )

    # --- HL7 v2 feeds (yilian.feeds, yilian.transports) ---
    hl7_facilities: str = _doc(
        "",
        "Which institution each sending facility (MSH-4) writes into: comma-separated "
        "`FACILITY=institution-code` pairs, e.g. `QXXRMYY=county-hospital,DSZWSY=dongshan-thc`",
    )
    hl7_default_institution: str = _doc(
        "",
        "The institution that takes messages from a facility `hl7_facilities` does not name; "
        "empty: refuse them (AR)",
    )
    hl7_port: int = _doc(
        0, "MLLP port `serve` also listens on; 0: no MLLP listener (see `yilian hl7 listen`)"
    )
    hl7_host: str = _doc("", "Interface the MLLP listener binds; empty: the same as `host`")
    hl7_tls_cert: str = _doc(
        "", "PEM certificate (chain) of the MLLP listener; set with `hl7_tls_key`: MLLP over TLS"
    )
    hl7_tls_key: str = _doc("", "PEM private key of `hl7_tls_cert`", repr=False)
    hl7_tls_client_ca: str = _doc(
        "",
        "PEM CA bundle; set: every MLLP client must present a certificate it signed, whose common name is "
        "the sending facility or its institution",
    )
    hl7_timezone: str = _doc("+08:00", "UTC offset given to HL7 times that carry none")
    hl7_max_message_bytes: int = _doc(10 * 1024 * 1024, "Largest HL7 message (or batch) accepted")

    # -- where runtime state lives ------------------------------------------------------------
    @property
    def hl7_facility_map(self) -> dict[str, str]:
        """`hl7_facilities` as facility (upper case) -> institution code."""
        return _facility_map(self.hl7_facilities)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_path / 'yilian.db'}"

    @property
    def bulk_path(self) -> Path:
        return Path(self.bulk_dir).expanduser() if self.bulk_dir else self.data_path / "bulk"

    @property
    def dev_issuer_key(self) -> Path:
        return (
            Path(self.dev_issuer_key_path).expanduser()
            if self.dev_issuer_key_path
            else self.data_path / "dev-issuer.pem"
        )

    @property
    def audit_key_path(self) -> Path:
        if self.audit_signing_key_file:
            return Path(self.audit_signing_key_file).expanduser()
        return self.data_path / "audit-key"

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
        return {ENV_PREFIX + k.upper(): _env_value(v) for k, v in self.as_dict().items()}


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


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return json.dumps([dataclasses.asdict(v) for v in value])
    return str(value)


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _coerce_issuers(name: str, value: Any, source: str) -> tuple[IssuerSetting, ...]:
    """A list of {issuer, jwks_url | jwks_file} tables; from the environment, that list as JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            raise SettingsError(f"{name} from {source} must be a JSON list of issuer objects") from None
    if not isinstance(value, list | tuple):
        raise SettingsError(f"{name} from {source} must be a list of issuers, not {value!r}")
    out = []
    for item in value:
        if isinstance(item, IssuerSetting):
            out.append(item)
            continue
        if not isinstance(item, dict) or not isinstance(item.get("issuer"), str):
            raise SettingsError(f"{name} from {source}: each issuer needs an 'issuer' string, not {item!r}")
        unknown = set(item) - _ISSUER_KEYS
        if unknown:
            raise SettingsError(f"{name} from {source}: unknown issuer keys {sorted(unknown)}")
        out.append(IssuerSetting(**{k: _issuer_value(name, k, v, source) for k, v in item.items()}))
    return tuple(out)


_ISSUER_KEYS = frozenset(f.name for f in fields(IssuerSetting))
_ISSUER_LISTS = frozenset({"grant_types_supported", "token_endpoint_auth_methods_supported"})


def _issuer_value(name: str, key: str, value: Any, source: str) -> Any:
    """An issuer table's value as its field wants it: a string, a tuple of strings or a bool."""
    if key == "discovery":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise SettingsError(f"{name} from {source}: issuer 'discovery' must be true or false, not {value!r}")
    if key in _ISSUER_LISTS:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{name} from {source}: issuer {key!r} must be a list of strings")
        return tuple(v.strip() for v in value if v.strip())
    if not isinstance(value, str):
        raise SettingsError(f"{name} from {source}: issuer {key!r} must be a string, not {value!r}")
    return value.strip()


def _coerce(f: dataclasses.Field[Any], value: Any, source: str) -> Any:
    """Turn a TOML value or environment string into the field's type."""
    if f.type in ("bool", bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise SettingsError(f"{f.name} from {source} must be true or false, not {value!r}")
    if f.name == "issuers":
        return _coerce_issuers(f.name, value, source)
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

    if not s.data_dir:
        raise SettingsError("data_dir must not be empty (e.g. /var/lib/yilian)")
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
    positive("audit_checkpoint_every", s.audit_checkpoint_every)
    positive("audit_flush_ms", s.audit_flush_ms)
    positive("audit_max_pending", s.audit_max_pending)
    positive("audit_checkpoint_seconds", s.audit_checkpoint_seconds)
    if s.audit not in ("on", "off"):
        raise SettingsError(f"audit must be 'on' or 'off', not {s.audit!r}")
    if s.consent_lapse_days < 0:
        raise SettingsError(f"consent_lapse_days must be 0 (off) or more, not {s.consent_lapse_days}")
    _check_auth(s)
    _check_hl7(s)


def _facility_map(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        facility, sep, code = item.partition("=")
        if not sep or not facility.strip() or not code.strip():
            raise SettingsError(f"hl7_facilities: {item.strip()!r} is not FACILITY=institution-code")
        out[facility.strip().upper()] = code.strip()
    return out


_OFFSET = re.compile(r"^[+-](0\d|1[0-4]):[0-5]\d$")


def _check_hl7(s: Settings) -> None:
    _facility_map(s.hl7_facilities)
    if not 0 <= s.hl7_port <= 65535:
        raise SettingsError(f"hl7_port must be between 0 and 65535, not {s.hl7_port}")
    if not _OFFSET.match(s.hl7_timezone):
        raise SettingsError(f"hl7_timezone must be a UTC offset like +08:00, not {s.hl7_timezone!r}")
    if s.hl7_max_message_bytes < 1024:
        raise SettingsError(f"hl7_max_message_bytes must be at least 1024, not {s.hl7_max_message_bytes}")
    if bool(s.hl7_tls_cert) != bool(s.hl7_tls_key):
        raise SettingsError(
            "hl7_tls_cert and hl7_tls_key go together: set both for MLLP over TLS, or neither"
        )
    if s.hl7_tls_client_ca and not s.hl7_tls_cert:
        raise SettingsError(
            "hl7_tls_client_ca needs hl7_tls_cert and hl7_tls_key (client certificates need TLS)"
        )


def _check_auth(s: Settings) -> None:
    if s.auth not in ("on", "off"):
        raise SettingsError(f"auth must be 'on' or 'off', not {s.auth!r}")
    if not s.audience:
        raise SettingsError("audience must not be empty (the `aud` claim tokens are issued for)")
    if s.token_leeway_seconds < 0 or s.token_leeway_seconds > 600:
        raise SettingsError(f"token_leeway_seconds must be between 0 and 600, not {s.token_leeway_seconds}")
    for issuer in s.issuers:
        if not issuer.issuer:
            raise SettingsError("issuers: an issuer's 'issuer' must not be empty")
        if bool(issuer.jwks_url) == bool(issuer.jwks_file):
            raise SettingsError(f"issuers: {issuer.issuer!r} needs exactly one of jwks_url or jwks_file")
        for key in ("jwks_url", "authorization_endpoint", "token_endpoint"):
            value = getattr(issuer, key)
            if value and not is_http_url(value):
                raise SettingsError(f"issuers: {issuer.issuer!r} {key} must be an http(s) URL, not {value!r}")
        if issuer.authorization_endpoint and not issuer.token_endpoint:
            raise SettingsError(
                f"issuers: {issuer.issuer!r} names an authorization_endpoint without its token_endpoint"
            )


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host (what an endpoint or key set URL must be)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)


# ------------------------------------------------------------------------- the reference

_REFERENCE_HEAD = """# Configuration

<!-- Generated from yilian.config.Settings by `python tools/gen_config_docs.py`; edit the
settings there, not here (a test fails when the two differ). -->

yilian reads its settings, lowest precedence first, from the defaults below, a TOML file
(`--config FILE` or the `YILIAN_CONFIG` variable), `YILIAN_*` environment variables, and
command-line options.  In the TOML file the keys are the setting names, at the top level or
under a `[yilian]` table.  A value that does not parse or is out of range stops the command at
start-up with a message naming the setting and where the value came from.

```toml
[yilian]
data_dir = "/var/lib/yilian"
db_url = "postgresql://yilian@db.example.cn/yilian"
workers = 4

[[yilian.issuers]]
issuer = "https://sso.example.cn/realms/alliance"
jwks_url = "https://sso.example.cn/realms/alliance/protocol/openid-connect/certs"
```

| setting | environment variable | type | default | meaning |
|---|---|---|---|---|
"""


def _type_text(annotation: Any) -> str:
    text = str(annotation)
    if text == "Handling":
        text = 'Literal["strict", "lenient"]'
    if text.startswith("Literal["):
        return " \\| ".join(v.strip() for v in text[len("Literal[") : -1].split(","))
    if text.startswith("tuple[IssuerSetting"):
        return "list of issuers"
    return text


def _default_text(value: Any) -> str:
    if value == "" or value == ():
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{value}`"


def settings_reference() -> str:
    """docs/configuration.md: every setting with its variable, type, default and meaning."""
    rows = [
        f"| `{f.name}` | `{ENV_PREFIX}{f.name.upper()}` | {_type_text(f.type)} | "
        f"{_default_text(f.default)} | {f.metadata['doc'].replace('|', chr(92) + '|')} |"
        for f in fields(Settings)
    ]
    issuer_keys = ", ".join(f"`{f.name}`" for f in fields(IssuerSetting))
    tail = (
        f"\nEach entry of `issuers` takes the keys {issuer_keys}: `issuer` is the tokens' `iss`, "
        "its keys come from `jwks_url` or `jwks_file` (exactly one), and the rest say what "
        "`/.well-known/smart-configuration` tells clients about the issuer (read from its OpenID "
        "configuration at start-up unless `discovery = false`).\n"
    )
    return _REFERENCE_HEAD + "\n".join(rows) + "\n" + tail
