"""The audit trail's checkpoint key, so that `yilian serve` records every access by default.

The audit log (yilian.privacy.audit) is hash-chained and sealed by HMAC-signed checkpoints;
without a key there are no checkpoints and the server would record nothing.  The key comes,
in this order, from `audit_signing_key` (given explicitly: it wins), or from the file named by
`audit_signing_key_file` (default `data_dir`/audit-key), which `serve` creates on first start
with a random 256-bit key readable by its owner only (mode 0600).  `audit = "off"` switches
the trail off for local development and is announced as loudly as `--auth off`.

The key must be kept secret (whoever holds it can sign a forged checkpoint) and kept safe
(without it `yilian audit verify` can check the hashes but not the signatures): back it up
apart from the database.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from yilian.config import Settings, SettingsError

__all__ = ["AUDIT_OFF_WARNING", "AuditKey", "read_audit_key", "resolve_audit_key"]

AUDIT_OFF_WARNING = (
    "THE AUDIT TRAIL IS OFF (audit = off). No access and no refusal is recorded, so nobody can "
    "later tell who read which patient's records. For local development only: never serve "
    "real records like this."
)


@dataclass(frozen=True, slots=True)
class AuditKey:
    """Settings with the key in force, and what to tell the operator about it."""

    settings: Settings
    message: str
    warning: bool = False  # print `message` as a loud warning
    created: bool = False


def _generate(path: Path) -> None:
    """Write a fresh random key to `path` with mode 0600, never replacing an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_urlsafe(32) + "\n")  # 32 random bytes, base64url


def read_audit_key(path: Path) -> str:
    """The key in `path`; SettingsError when it is empty or unreadable."""
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"audit_signing_key_file {path} cannot be read: {exc}") from None
    if not key:
        raise SettingsError(f"audit_signing_key_file {path} is empty")
    return key


def _loose(path: Path) -> bool:
    """Whether others than the owner may read `path` (POSIX permissions only)."""
    return os.name == "posix" and bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def resolve_audit_key(settings: Settings, *, create: bool = True) -> AuditKey:
    """`settings` with `audit_signing_key` filled from the key file (made when missing and
    `create`), or emptied when the trail is switched off."""
    if settings.audit == "off":
        return AuditKey(settings.replace(audit_signing_key=""), AUDIT_OFF_WARNING, warning=True)
    if settings.audit_signing_key:
        return AuditKey(settings, "audit trail on: checkpoints signed with the configured audit_signing_key")
    path = settings.audit_key_path.resolve()
    created = False
    if not path.exists():
        if not create:
            return AuditKey(settings, f"no audit key at {path}: signatures cannot be checked")
        try:
            _generate(path)
            created = True
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError as exc:
            raise SettingsError(f"cannot create audit_signing_key_file {path}: {exc}") from None
    key = read_audit_key(path)
    if created:
        message = (
            f"audit trail on: a new checkpoint key was generated in {path} (mode 0600). Keep it "
            "SECRET (whoever holds it can sign forged checkpoints) and SAFE, backed up apart from "
            "the database (without it `yilian audit verify` cannot check the signatures)."
        )
    else:
        message = f"audit trail on: checkpoint key from {path} (keep it secret and backed up)"
    loose = _loose(path)
    if loose:
        message += f"; WARNING: {path} is readable by other users, run `chmod 600 {path}`"
    return AuditKey(settings.replace(audit_signing_key=key), message, warning=loose, created=created)
