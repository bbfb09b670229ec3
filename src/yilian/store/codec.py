"""The store's codec hook: how a resource looks at rest, and how searches reach it.

The SQL repository hands every resource it writes, every row it reads and every search
condition it compiles through one `ResourceCodec`.  The default, `PLAIN`, changes nothing: the
stored JSON is what the client sent (plus `id` and `meta`).  `yilian.privacy.encryption`
supplies the codec that encrypts sensitive identifiers at rest and indexes them by keyed hash;
the store itself holds no keys and knows no cryptography, it only calls these verbs at
fixed points:

* `encode(body)` after the resource is stamped, before it is written (resource and history);
* `index_values(body, values)` on the search-index values extracted from the plaintext;
* `decode(resource_type, content)` on every row read (read, vread, history, search, include);
* `stale(resource_type, content)` when `yilian keys rotate` decides what to rewrite;
* `query(condition)` on every search condition before it is compiled to SQL;
* `check(recorded)` at start-up, against the key ids the database has recorded in use;
* `seal(purpose, data)` / `unseal(purpose, stored)` on opaque bytes kept beside the resources
  (the feed log's received messages and ACKs), `sealed_stale(stored)` when rotating them.
  `purpose` names where the bytes live (`feed_message/<id>/raw`), so sealed bytes copied to
  another row or column do not open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.fhir.search.model import Condition, IndexValue

__all__ = ["PLAIN", "SEALED_PREFIX", "KeyConfigurationError", "KeyUse", "PlainCodec", "ResourceCodec"]

SEALED_PREFIX = b"sealed:v1:"
"""How sealed bytes begin (`sealed:v1:<key-id>:` and the ciphertext), so bytes stored before
keys were configured are told apart and still read, and a codec without keys refuses sealed
bytes instead of handing them out as if they were the message."""


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A key id the database has seen in use: `purpose` is `data` (an encryption key, named in
    envelopes) or `hmac` (the key the protected search-index rows were hashed with)."""

    purpose: str
    key_id: str


class ResourceCodec(Protocol):
    """What the SQL repository asks of a codec (see the module docstring)."""

    @property
    def active(self) -> bool:
        """False for the no-op codec: nothing is encoded."""

    @property
    def resource_types(self) -> frozenset[str]:
        """The resource types whose stored content may differ from their plaintext."""

    def encode(self, body: dict[str, Any]) -> bytes | None:
        """The bytes to store for the stamped `body`, or None to store its plaintext JSON."""

    def decode(self, resource_type: str, content: bytes) -> bytes:
        """The plaintext JSON of stored `content` (raise OutcomeError when it cannot be)."""

    def stale(self, resource_type: str, content: bytes) -> bool:
        """Whether stored `content` is not in the form `encode` writes now (a rotation
        rewrites it)."""

    def index_values(self, body: dict[str, Any], values: list[IndexValue]) -> list[IndexValue]:
        """The index rows to store for `body`, given those extracted from its plaintext."""

    def query(self, condition: Condition) -> Condition:
        """`condition` as it must be compiled against the stored index rows."""

    def keys_in_use(self) -> Sequence[KeyUse]:
        """The keys new writes use (recorded in the database at start-up)."""

    def check(self, recorded: Sequence[KeyUse]) -> None:
        """Raise when the database names a key this codec cannot use (start-up check)."""

    def seal(self, purpose: str, data: bytes) -> bytes:
        """The bytes to store for the opaque `data` kept at `purpose` (`data` itself when the
        codec protects nothing)."""

    def unseal(self, purpose: str, stored: bytes) -> bytes:
        """The original bytes of `stored` (bytes stored unsealed are handed back as they are;
        raise OutcomeError when sealed bytes cannot be opened)."""

    def sealed_stale(self, stored: bytes) -> bool:
        """Whether `stored` is not in the form `seal` writes now (a rotation re-seals it)."""


class PlainCodec:
    """The no-op codec: content and index rows are stored as extracted."""

    active = False
    resource_types: frozenset[str] = frozenset()

    def encode(self, body: dict[str, Any]) -> bytes | None:
        return None

    def decode(self, resource_type: str, content: bytes) -> bytes:
        return content

    def stale(self, resource_type: str, content: bytes) -> bool:
        return False

    def index_values(self, body: dict[str, Any], values: list[IndexValue]) -> list[IndexValue]:
        return values

    def query(self, condition: Condition) -> Condition:
        return condition

    def keys_in_use(self) -> Sequence[KeyUse]:
        return ()

    def seal(self, purpose: str, data: bytes) -> bytes:
        return data

    def unseal(self, purpose: str, stored: bytes) -> bytes:
        if stored.startswith(SEALED_PREFIX):
            raise OutcomeError(
                Outcome.SERVER_ERROR,
                IssueType.EXCEPTION,
                f"the stored bytes of {purpose} are encrypted, but no encryption keys are configured",
            )
        return stored

    def sealed_stale(self, stored: bytes) -> bool:
        return False

    def check(self, recorded: Sequence[KeyUse]) -> None:
        data = sorted(k.key_id for k in recorded if k.purpose == "data")
        if data:
            raise KeyConfigurationError(
                f"the database holds identifiers encrypted under key(s) {', '.join(data)}, "
                "but no encryption keys are configured (set encryption_keys and hmac_key, "
                "or YILIAN_ENCRYPTION_KEYS and YILIAN_HMAC_KEY)"
            )


class KeyConfigurationError(RuntimeError):
    """The configured keys cannot serve this database; the server must not start."""


PLAIN: ResourceCodec = PlainCodec()
"""The default codec (development, and every deployment without keys)."""
