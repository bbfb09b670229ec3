"""Authentication at the HTTP edge: the `Authorization: Bearer` header to a `Principal`.

Every `/fhir/...` request is authenticated except `GET /fhir/metadata` (any base) and the
SMART discovery documents, which SMART requires to be public
(http://hl7.org/fhir/smart-app-launch/conformance.html).  A request without a token, or with
one that fails verification, gets 401 with `WWW-Authenticate: Bearer` (RFC 6750 section 3)
and an OperationOutcome; the token itself is never echoed.  With `auth = "off"` every request
is the development system client (`Principal.development()`), for local development only.

The purpose-of-use and break-the-glass headers are applied here too (`yilian.auth.purpose`),
so the Principal the router sees says why the caller is asking.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import anyio.to_thread

from yilian.auth.dev_issuer import DevelopmentIssuer
from yilian.auth.keys import TrustedIssuer
from yilian.auth.principal import Principal
from yilian.auth.purpose import with_purpose
from yilian.auth.tokens import TokenVerifier, unauthorized
from yilian.config import Settings
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError

__all__ = ["Authenticator", "authenticator_for", "challenge", "is_public"]

REALM = "yilian"
VERIFIED_SECONDS = 60.0
"""How long a verified token is taken on trust before its signature is checked again."""
_MAX_VERIFIED = 4096


def is_public(method: str, path: tuple[str, ...]) -> bool:
    """Whether this FHIR request needs no token: reading the CapabilityStatement."""
    return method in ("GET", "HEAD") and path == ("metadata",)


def challenge(error: OutcomeError) -> str:
    """The `WWW-Authenticate` value for a 401: plain when no token was sent, with
    `error="invalid_token"` and a (quote-free) description when one was refused."""
    if isinstance(error, MissingTokenError):
        return f'Bearer realm="{REALM}"'
    description = str(error).replace('"', "'").replace("\\", "/")[:200]
    return f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'


class MissingTokenError(OutcomeError):
    """No bearer token at all (the challenge then carries no error code, RFC 6750 3.1)."""


class Authenticator:
    """Turns request headers into the caller; `verifier` None means authentication is off."""

    def __init__(self, verifier: TokenVerifier | None, dev_issuer: DevelopmentIssuer | None = None) -> None:
        self.verifier = verifier
        self.dev_issuer = dev_issuer
        # token -> (its caller, when to verify it again): a client sends the same token on
        # every request, and a signature check costs more CPU than a read.
        self._verified: dict[str, tuple[Principal, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    async def principal(self, headers: Mapping[str, str]) -> Principal:
        """The verified caller of a request with these (lower-cased) headers."""
        if self.verifier is None:
            return with_purpose(Principal.development(), headers)
        token = bearer_token(headers.get("authorization"))
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and now < cached[1]:
            return with_purpose(cached[0], headers)
        if self.verifier.remote:
            found = await anyio.to_thread.run_sync(self.verifier.verify, token)
        else:
            found = self.verifier.verify(token)
        self._remember(token, found, now)
        return with_purpose(found, headers)

    def _remember(self, token: str, principal: Principal, now: float) -> None:
        """Keep a verified token until it expires (`exp`, without the clock-skew leeway) or
        for at most VERIFIED_SECONDS, so a token is never accepted longer than verifying it
        again would accept it."""
        exp = principal.claims.get("exp")
        if not isinstance(exp, int | float):
            return
        if len(self._verified) >= _MAX_VERIFIED:
            self._verified.clear()
        self._verified[token] = (principal, min(float(exp), now + VERIFIED_SECONDS))


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1)."""
    if header is None or not header.strip():
        raise MissingTokenError(
            Outcome.UNAUTHORIZED,
            IssueType.LOGIN,
            "this request needs a bearer token (Authorization: Bearer <token>)",
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized(
            "only Bearer authorization is accepted (Authorization: Bearer <token>)", IssueType.LOGIN
        )
    return token.strip()


def authenticator_for(settings: Settings) -> Authenticator:
    """The authenticator `settings` describe; a bad key file or JWKS raises ValueError."""
    if settings.auth == "off":
        return Authenticator(None)
    dev = (
        DevelopmentIssuer(settings.dev_issuer_key, audience=settings.audience)
        if settings.auth_dev_issuer
        else None
    )
    trusted = [TrustedIssuer(i.issuer, jwks_url=i.jwks_url, jwks_file=i.jwks_file) for i in settings.issuers]
    if dev is not None:
        trusted.append(dev.trusted())
    verifier = TokenVerifier(trusted, settings.audience, leeway=settings.token_leeway_seconds)
    return Authenticator(verifier, dev)
