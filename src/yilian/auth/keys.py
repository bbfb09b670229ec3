"""Where a trusted issuer's public keys come from: a JWKS URL, a JWKS or PEM file, or a JWKS
held in memory (the development issuer).

A key is chosen by the token's `kid` (RFC 7515 section 4.1.4); a token without one, or with
one the set does not name, is checked against the issuer's key for its algorithm only when
there is exactly one such key without a key id of its own (a PEM file).  Remote key sets are cached for
`cache_seconds` and fetched with a timeout; an unknown `kid` triggers at most one refetch per
`refetch_seconds`, so a stream of tokens with made-up key ids cannot turn the server into a
flood of requests against the identity provider.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from jwt import PyJWK, PyJWKClient, PyJWKClientError, PyJWKSet
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWKError, PyJWKSetError

__all__ = ["KeyNotFoundError", "KeySource", "TrustedIssuer", "key_source"]

log = logging.getLogger("yilian.auth")

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.DOTALL)
SIGNING_ALGORITHMS = frozenset({"RS256", "ES256"})
"""The only algorithms yilian accepts (never `none`, never a shared-secret HS*)."""


class KeyNotFoundError(Exception):
    """No key of the issuer can verify this token; the message is safe to show a client."""


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """An issuer whose tokens are accepted: its exact `iss` and one source of keys."""

    issuer: str
    jwks_url: str = ""
    jwks_file: str = ""
    jwks: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)


class KeySource(Protocol):
    """Finds the verification key for a token header."""

    remote: bool

    def key(self, kid: str | None, algorithm: str) -> PyJWK: ...


def key_source(issuer: TrustedIssuer, *, timeout: float = 5.0, cache_seconds: float = 300.0) -> KeySource:
    """The key source `issuer` describes; files are read now, so a bad file fails at start-up
    (ValueError naming the file)."""
    if issuer.jwks is not None:
        return StaticKeys(_key_set(dict(issuer.jwks), f"keys of {issuer.issuer}"))
    if issuer.jwks_file:
        return StaticKeys(_read_key_file(Path(issuer.jwks_file)))
    if issuer.jwks_url:
        return RemoteKeys(issuer.jwks_url, timeout=timeout, cache_seconds=cache_seconds)
    raise ValueError(f"issuer {issuer.issuer!r} has no jwks_url, jwks_file or jwks")


def _usable(keys: Sequence[PyJWK]) -> list[PyJWK]:
    return [k for k in keys if k.algorithm_name in SIGNING_ALGORITHMS and k.public_key_use in (None, "sig")]


def _pick(keys: Sequence[PyJWK], kid: str | None, algorithm: str) -> PyJWK | None:
    candidates = [k for k in _usable(keys) if k.algorithm_name == algorithm]
    if kid is not None:
        named = next((k for k in candidates if k.key_id == kid), None)
        if named is not None:
            return named
        candidates = [k for k in candidates if k.key_id is None]  # PEM keys carry no kid
    return candidates[0] if len(candidates) == 1 else None


def _key_set(data: dict[str, Any], where: str) -> list[PyJWK]:
    try:
        keys = list(PyJWKSet.from_dict(data).keys) if "keys" in data else [PyJWK.from_dict(data)]
    except (PyJWKError, PyJWKSetError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not a usable JWK set ({exc})") from None
    usable = _usable(keys)
    if not usable:
        raise ValueError(f"{where}: no RS256 or ES256 signing key")
    return usable


def _read_key_file(path: Path) -> list[PyJWK]:
    """A JWKS (or single JWK) as JSON, or PEM public keys (a private key's public half too)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"key file {path} cannot be read: {exc.strerror}") from None
    if b"-----BEGIN" not in raw:
        try:
            data = json.loads(raw)
        except ValueError:
            raise ValueError(f"key file {path} is neither PEM nor JSON (JWKS)") from None
        if not isinstance(data, dict):
            raise ValueError(f"key file {path}: a JWKS must be a JSON object")
        return _key_set(data, f"key file {path}")
    return [_pem_key(m.group(0), path) for m in _PEM_BLOCK.finditer(raw)]


def _pem_key(pem: bytes, path: Path) -> PyJWK:
    try:
        if b"PRIVATE KEY" in pem:
            private = load_pem_private_key(pem, password=None)
            public: Any = private.public_key()
        else:
            public = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"key file {path}: unreadable PEM key ({exc})") from None
    if isinstance(public, rsa.RSAPublicKey):
        return PyJWK(json.loads(RSAAlgorithm.to_jwk(public)), "RS256")
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        return PyJWK(json.loads(ECAlgorithm.to_jwk(public)), "ES256")
    raise ValueError(f"key file {path}: only RSA and EC P-256 keys are supported")


class StaticKeys:
    """Keys known up front (a file, or the development issuer's own key)."""

    remote = False

    def __init__(self, keys: Sequence[PyJWK]) -> None:
        self.keys = tuple(keys)

    def key(self, kid: str | None, algorithm: str) -> PyJWK:
        found = _pick(self.keys, kid, algorithm)
        if found is None:
            raise KeyNotFoundError(_missing(kid, algorithm))
        return found


class RemoteKeys:
    """An issuer's JWKS endpoint, cached; fetched (blocking, with a timeout) on first use,
    after `cache_seconds`, and for an unknown `kid` at most once per `refetch_seconds`."""

    remote = True

    def __init__(
        self, url: str, *, timeout: float = 5.0, cache_seconds: float = 300.0, refetch_seconds: float = 30.0
    ) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.refetch_seconds = refetch_seconds
        self._client = PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=int(max(1, timeout)))
        self._keys: tuple[PyJWK, ...] = ()
        self._fetched = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            keys = self._client.get_signing_keys(refresh=True)
        except PyJWKClientError as exc:
            log.warning("fetching %s failed: %s", self.url, exc)
            self._fetched = time.monotonic()  # keep serving the old set; retry after refetch_seconds
            raise KeyNotFoundError("the issuer's signing keys could not be fetched") from None
        self._keys = tuple(keys)
        self._fetched = time.monotonic()

    def key(self, kid: str | None, algorithm: str) -> PyJWK:
        with self._lock:
            if time.monotonic() - self._fetched > self.cache_seconds:
                self._refresh()
            found = _pick(self._keys, kid, algorithm)
            if found is None and time.monotonic() - self._fetched > self.refetch_seconds:
                self._refresh()
                found = _pick(self._keys, kid, algorithm)
        if found is None:
            raise KeyNotFoundError(_missing(kid, algorithm))
        return found


def _missing(kid: str | None, algorithm: str) -> str:
    if kid is None:
        return f"the token names no key (kid) and the issuer has no single {algorithm} key"
    return "the token's key (kid) is not one of the issuer's signing keys"
