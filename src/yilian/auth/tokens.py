"""`TokenVerifier`: a bearer JWT in, a `Principal` out, or a 401.

yilian is an OAuth 2.0 resource server (RFC 6750): it never issues tokens to clients itself
(apart from the development issuer), it only checks them.  A token is accepted when

- it is a compact JWS no longer than `MAX_TOKEN_CHARS`, signed with RS256 or ES256 (`none`,
  HS* and everything else are refused before any key is looked at, which also closes the
  "HS256 with the public key as secret" confusion attack);
- its `iss` is one of the configured issuers and the signature verifies against that issuer's
  key (by `kid`);
- its `aud` contains the configured audience, `exp` is in the future and `nbf`/`iat` are not,
  with `leeway` seconds of clock skew;
- it carries `sub` and yilian's claims: `role` (one of `ROLES`), `institution` (the caller's
  partition code; absent for alliance-level callers), `patient` (required for role
  `patient`), `scope` (SMART scopes, `yilian.auth.scopes`) and optionally `purpose`.

Every refusal is an `OutcomeError(UNAUTHORIZED, LOGIN | SECURITY)` whose diagnostics say what
was wrong without echoing the token.  See
http://hl7.org/fhir/smart-app-launch/app-launch.html#access-denied-response-handling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from yilian.auth.keys import SIGNING_ALGORITHMS, KeyNotFoundError, KeySource, TrustedIssuer, key_source
from yilian.auth.principal import ROLES, Principal, Role
from yilian.auth.purpose import PURPOSES
from yilian.auth.scopes import parse_scopes
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError

__all__ = ["MAX_TOKEN_CHARS", "TokenVerifier", "unauthorized"]

MAX_TOKEN_CHARS = 16 * 1024
"""Longer tokens are refused unparsed (real ones are well under 4 KiB)."""

_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # a FHIR id (http://hl7.org/fhir/R4/datatypes.html#id)
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # an institution (partition) code


def unauthorized(diagnostics: str, code: IssueType = IssueType.SECURITY) -> OutcomeError:
    """The 401 every authentication failure becomes."""
    return OutcomeError(Outcome.UNAUTHORIZED, code, diagnostics)


class TokenVerifier:
    """Verifies bearer tokens from `issuers` for `audience`.  Thread-safe; `verify` blocks only
    when a remote key set must be (re)fetched (`remote` says whether that can happen)."""

    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        audience: str,
        *,
        leeway: float = 30.0,
        jwks_timeout: float = 5.0,
        jwks_cache_seconds: float = 300.0,
    ) -> None:
        self.audience = audience
        self.leeway = leeway
        self.issuers = tuple(issuers)
        self._keys: dict[str, KeySource] = {
            i.issuer: key_source(i, timeout=jwks_timeout, cache_seconds=jwks_cache_seconds) for i in issuers
        }
        self.remote = any(k.remote for k in self._keys.values())

    def verify(self, token: str) -> Principal:
        """The caller `token` proves, or OutcomeError(UNAUTHORIZED)."""
        claims = self._verified_claims(token.strip())
        return _principal(claims)

    def _verified_claims(self, token: str) -> dict[str, Any]:
        if not token:
            raise unauthorized("the bearer token is empty", IssueType.LOGIN)
        if len(token) > MAX_TOKEN_CHARS:
            raise unauthorized(f"the bearer token is longer than {MAX_TOKEN_CHARS} characters")
        if not _COMPACT.fullmatch(token):
            raise unauthorized("the bearer token is not a JWT (three base64url segments joined by '.')")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except PyJWTError:
            raise unauthorized("the bearer token is not a well-formed JWT (bad base64 or JSON)") from None
        algorithm = header.get("alg")
        if algorithm not in SIGNING_ALGORITHMS:
            shown = algorithm if isinstance(algorithm, str) and len(algorithm) <= 16 else "?"
            raise unauthorized(f"token algorithm {shown!r} is not accepted; use RS256 or ES256")
        issuer = unverified.get("iss")
        source = self._keys.get(issuer) if isinstance(issuer, str) else None
        if source is None:
            raise unauthorized("the token's issuer (iss) is not trusted by this server")
        kid = header.get("kid")
        try:
            key = source.key(kid if isinstance(kid, str) else None, cast(str, algorithm))
        except KeyNotFoundError as exc:
            raise unauthorized(str(exc)) from None
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[cast(str, algorithm)],
                audience=self.audience,
                issuer=issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"], "verify_sub": True},
            )
        except ExpiredSignatureError:
            raise unauthorized("the token has expired (exp)", IssueType.LOGIN) from None
        except ImmatureSignatureError:
            raise unauthorized(
                "the token is not valid yet (nbf or iat in the future)", IssueType.LOGIN
            ) from None
        except InvalidAudienceError:
            raise unauthorized(
                f"the token is not issued for this server (aud must include {self.audience!r})"
            ) from None
        except InvalidIssuerError:
            raise unauthorized("the token's issuer (iss) is not trusted by this server") from None
        except MissingRequiredClaimError as exc:
            raise unauthorized(f"the token lacks the required claim {exc.claim!r}") from None
        except InvalidSignatureError:
            raise unauthorized("the token's signature does not verify") from None
        except InvalidIssuedAtError:
            raise unauthorized("the token's iat claim is not a number") from None
        except PyJWTError as exc:
            raise unauthorized(f"the token is invalid ({type(exc).__name__})") from None


def _principal(claims: Mapping[str, Any]) -> Principal:
    """yilian's claims, checked, as a Principal (purpose headers are applied later)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 256:
        raise unauthorized("the token's sub claim must be a non-empty string")
    role = claims.get("role")
    if role not in ROLES:
        raise unauthorized(f"the token's role claim must be one of {', '.join(ROLES)}")
    institution = claims.get("institution")
    if institution is not None and not (isinstance(institution, str) and _CODE.fullmatch(institution)):
        raise unauthorized("the token's institution claim is not an institution code")
    patient = claims.get("patient")
    if patient is not None and not (isinstance(patient, str) and _ID.fullmatch(patient)):
        raise unauthorized("the token's patient claim is not a Patient id")
    if role == "patient" and patient is None:
        raise unauthorized("a token with role 'patient' must carry the patient claim (the Patient id)")
    purpose = claims.get("purpose")
    if purpose is not None and purpose not in PURPOSES:
        raise unauthorized(f"the token's purpose claim must be one of {', '.join(PURPOSES)}")
    token_id = claims.get("jti")
    return Principal(
        subject=subject,
        role=cast(Role, role),
        institution=institution,
        scopes=parse_scopes(claims.get("scope", claims.get("scp"))),
        patient=patient,
        issuer=str(claims["iss"]),
        token_id=token_id if isinstance(token_id, str) else None,
        purpose=purpose,
        claims=dict(claims),
    )
