"""`DevelopmentIssuer`: a built-in token issuer for the demo, tests and local development.

A real deployment trusts the alliance's identity provider (settings `issuers`).  For a laptop
there is none, so yilian can sign its own tokens: an EC P-256 key pair (ES256) kept in a PEM
file (`dev_issuer_key_path`, created on first use, readable by its owner only), issuer
`urn:yilian:dev-issuer`, key id the RFC 7638 thumbprint of the public key.  The server trusts
it only when `auth_dev_issuer` is true (the default for `yilian demo` and the tests, never for
`yilian serve` unless configured), and publishes its JWKS at `/.well-known/jwks.json`.

Anyone who can read the key file can mint any token the server accepts: it is a development
tool, not a login service.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from yilian.auth.keys import TrustedIssuer
from yilian.auth.principal import ROLES
from yilian.auth.purpose import PURPOSES

__all__ = ["DEV_ISSUER", "DevelopmentIssuer"]

DEV_ISSUER = "urn:yilian:dev-issuer"
MAX_TTL = timedelta(days=30)
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class DevelopmentIssuer:
    """Signs yilian tokens with the key in `key_path` (created, mode 0600, if absent)."""

    def __init__(self, key_path: str | Path, *, audience: str = "yilian") -> None:
        self.key_path = Path(key_path)
        self.audience = audience
        self._private = _load_or_create(self.key_path)
        public_jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self._private.public_key()))
        self.kid = _thumbprint(public_jwk)
        self._public_jwk = {**public_jwk, "kid": self.kid, "use": "sig", "alg": "ES256"}

    @property
    def issuer(self) -> str:
        return DEV_ISSUER

    def jwks(self) -> dict[str, Any]:
        """The public key set (RFC 7517) verifiers fetch."""
        return {"keys": [dict(self._public_jwk)]}

    def trusted(self) -> TrustedIssuer:
        """This issuer as a TokenVerifier should trust it (keys in memory, no fetch)."""
        return TrustedIssuer(DEV_ISSUER, jwks=self.jwks())

    def issue(
        self,
        institution: str | None,
        role: str,
        scopes: str | Sequence[str],
        patient: str | None = None,
        ttl: timedelta = timedelta(hours=1),
        subject: str | None = None,
        *,
        purpose: str | None = None,
    ) -> str:
        """A signed token for a caller of `role` at `institution` (None: alliance level)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if role == "patient" and not patient:
            raise ValueError("a patient token needs the patient's Patient id (--patient)")
        if institution is not None and not _CODE.fullmatch(institution):
            raise ValueError(f"institution must be an institution code (a-z, 0-9, -), not {institution!r}")
        if purpose is not None and purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
        if not timedelta(0) < ttl <= MAX_TTL:
            raise ValueError(f"ttl must be positive and at most {MAX_TTL.days} days")
        scope = scopes if isinstance(scopes, str) else " ".join(scopes)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": DEV_ISSUER,
            "aud": self.audience,
            "sub": subject or f"{role}@{institution or 'alliance'}",
            "iat": now,
            "nbf": now,
            "exp": now + int(ttl.total_seconds()),
            "jti": uuid.uuid4().hex,
            "role": role,
            "scope": " ".join(scope.split()),
        }
        if institution:
            claims["institution"] = institution
        if patient:
            claims["patient"] = patient
        if purpose:
            claims["purpose"] = purpose
        return self.sign(claims)

    def sign(self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        """Sign arbitrary claims (tests use this to build expired or odd tokens)."""
        return jwt.encode(
            dict(claims), self._private, algorithm="ES256", headers={"kid": self.kid, **(headers or {})}
        )


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint of an EC public key: SHA-256 over the required members."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _load_or_create(path: Path) -> ec.EllipticCurvePrivateKey:
    """Read the PEM key at `path`, or create it (mode 0600) by linking a fully written file
    into place, so two processes starting together end up with the same, complete key."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        try:
            os.link(staging, path)  # atomic, and refuses to replace a key another process made
        except FileExistsError:
            return _load_or_create(path)
        finally:
            staging.unlink()
        return key
    except OSError as exc:
        raise ValueError(f"development issuer key {path} cannot be read: {exc.strerror}") from None
    try:
        loaded = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        raise ValueError(f"development issuer key {path} is not a PEM private key") from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise ValueError(f"development issuer key {path} must be an EC P-256 key")
    return loaded
