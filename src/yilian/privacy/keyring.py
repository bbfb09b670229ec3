"""The keys that protect sensitive identifiers, as configured.

A `Keyring` holds the AES-256 data keys by id, in order (the first, the primary, encrypts
new writes; the others only decrypt values written before a rotation), and the HMAC key the
search rows of protected values are hashed with.  Keys come from settings (`encryption_keys`
as `id:BASE64,id:BASE64`, `hmac_key` as BASE64, e.g. from `YILIAN_ENCRYPTION_KEYS` and
`YILIAN_HMAC_KEY`) or from a key file (`encryption_key_file`), a TOML file::

    hmac_key = "BASE64"
    [encryption_keys]
    k2 = "BASE64"   # primary: listed first
    k1 = "BASE64"

Keys are 32 random bytes, base64 (standard or url-safe alphabet), as `yilian keys generate`
prints them.  No key is ever logged; only ids and HMAC-key fingerprints are shown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KEY_BYTES", "Keyring", "KeyringError", "generate_key", "key_file_text", "load_keyring"]

KEY_BYTES = 32
"""AES-256 and HMAC-SHA256 keys are 256 bits."""

KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
"""Key ids appear inside envelopes (`enc:v1:<id>:...`), so they hold no colon."""


class KeyringError(ValueError):
    """A key setting is malformed; the message names the setting (never the key)."""


@dataclass(frozen=True, slots=True, repr=False)
class Keyring:
    """Data keys by id (primary first) and the search HMAC key."""

    data_keys: tuple[tuple[str, bytes], ...] = field(repr=False)
    hmac_key: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Keyring(ids={self.ids!r}, hmac_id={self.hmac_id!r})"

    def __post_init__(self) -> None:
        if not self.data_keys:
            raise KeyringError("encryption_keys must name at least one key")
        ids = [kid for kid, _ in self.data_keys]
        if len(set(ids)) != len(ids):
            raise KeyringError(f"encryption_keys names a key id twice: {', '.join(ids)}")
        for kid, key in self.data_keys:
            if not KEY_ID.fullmatch(kid):
                raise KeyringError(f"key id {kid!r} must be 1-32 letters, digits, '-' or '_'")
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {kid!r} must be {KEY_BYTES} bytes, not {len(key)}")
        if len(self.hmac_key) != KEY_BYTES:
            raise KeyringError(f"hmac_key must be {KEY_BYTES} bytes, not {len(self.hmac_key)}")

    @property
    def primary_id(self) -> str:
        return self.data_keys[0][0]

    def key(self, key_id: str) -> bytes | None:
        return next((key for kid, key in self.data_keys if kid == key_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(kid for kid, _ in self.data_keys)

    @property
    def hmac_id(self) -> str:
        """A fingerprint naming the HMAC key (recorded in the database, shown in messages)."""
        return "h-" + hashlib.sha256(b"yilian hmac key id|" + self.hmac_key).hexdigest()[:16]


def generate_key() -> str:
    """A fresh random 256-bit key, base64."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def load_keyring(encryption_keys: str, hmac_key: str, key_file: str = "") -> Keyring | None:
    """The keyring the settings describe, or None when none is configured (development).

    A key file supplies whatever the two settings leave empty.  Only one of the two keys
    configured is an error: encryption without searchability, or the reverse, is never meant."""
    file_keys: tuple[tuple[str, bytes], ...] = ()
    file_hmac = b""
    if key_file:
        file_keys, file_hmac = _read_key_file(Path(key_file))
    data = _parse_keys(encryption_keys, "encryption_keys") if encryption_keys.strip() else file_keys
    mac = _decode(hmac_key, "hmac_key") if hmac_key.strip() else file_hmac
    if not data and not mac:
        return None
    if not data:
        raise KeyringError("hmac_key is set but encryption_keys is not: configure both or neither")
    if not mac:
        raise KeyringError("encryption_keys is set but hmac_key is not: configure both or neither")
    return Keyring(data, mac)


def key_file_text(keyring: Keyring) -> str:
    """The keyring as a key file (see the module docstring)."""
    lines = [
        "# yilian key file: keep it secret, keep a backup; losing a key loses the data it encrypts.",
        f'hmac_key = "{base64.b64encode(keyring.hmac_key).decode()}"',
        "",
        "[encryption_keys]  # the first is the primary (new writes); the others only decrypt",
    ]
    lines += [f'{kid} = "{base64.b64encode(key).decode()}"' for kid, key in keyring.data_keys]
    return "\n".join(lines) + "\n"


def _parse_keys(text: str, setting: str) -> tuple[tuple[str, bytes], ...]:
    out: list[tuple[str, bytes]] = []
    for item in text.split(","):
        kid, sep, value = item.strip().partition(":")
        if not sep or not kid.strip():
            raise KeyringError(f"{setting} must be 'id:BASE64,id:BASE64' (primary first)")
        out.append((kid.strip(), _decode(value, f"{setting} key {kid.strip()!r}")))
    return tuple(out)


def _decode(text: str, what: str) -> bytes:
    cleaned = text.strip().replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{what} is not valid base64") from None


def _read_key_file(path: Path) -> tuple[tuple[tuple[str, bytes], ...], bytes]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise KeyringError(f"key file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise KeyringError(f"key file {path} is not valid TOML: {exc}") from None
    keys = data.get("encryption_keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise KeyringError(f"key file {path}: [encryption_keys] must map key ids to base64 strings")
    mac = data.get("hmac_key", "")
    if not isinstance(mac, str):
        raise KeyringError(f"key file {path}: hmac_key must be a base64 string")
    data_keys = tuple((kid, _decode(value, f"key file {path} key {kid!r}")) for kid, value in keys.items())
    return data_keys, _decode(mac, f"key file {path} hmac_key") if mac else b""
