"""The console's session and CSRF cookies, signed with itsdangerous.

The session cookie holds the user's bearer token, signed (not encrypted: the browser holding it
is the token's owner, and HttpOnly keeps page scripts from reading it).  Every request verifies
the token again with the API's `Authenticator`, so an expired or no longer trusted token ends
the session at once.  The cookie is HttpOnly, SameSite=Lax, Secure on https, and its Max-Age
ends when the token does.

CSRF is a double-submit token: a random value in its own signed cookie, repeated in a hidden
field of every form; a POST whose field does not match the cookie is refused.  It is renewed
at login and logout, so each session has its own.

The signing key is made when the server starts, so restarting the server signs everyone out;
a configured key (to share sessions between processes) is a later step.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "SESSION_COOKIE", "CookieSigner"]

SESSION_COOKIE = "yilian_console_session"
CSRF_COOKIE = "yilian_console_csrf"
CSRF_FIELD = "csrf_token"
COOKIE_PATH = "/console"


@dataclass(frozen=True, slots=True)
class CookieSigner:
    """Signs and reads the console's cookies with one secret."""

    secret: bytes

    @classmethod
    def random(cls) -> CookieSigner:
        return cls(secrets.token_bytes(32))

    def _serializer(self, salt: str) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt=salt)

    # -- session
    def session_token(self, request: Request) -> str | None:
        """The bearer token of this request's session, or None (no cookie, or a forged one)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            payload = self._serializer("session").loads(raw)
        except BadSignature:
            return None
        token = payload.get("token") if isinstance(payload, dict) else None
        return token if isinstance(token, str) and token else None

    def start_session(self, request: Request, response: Response, token: str, exp: float | None) -> None:
        """Set the session cookie; it lasts no longer than the token (`exp`, seconds)."""
        remaining = int((exp or time.time() + 3600) - time.time())
        response.set_cookie(
            SESSION_COOKIE,
            self._serializer("session").dumps({"token": token}),
            max_age=max(remaining, 0),
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=is_https(request),
        )

    def end_session(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=is_https(request)
        )

    # -- CSRF
    def csrf_value(self, request: Request) -> str | None:
        """The CSRF value of this browser (from its signed cookie), or None."""
        raw = request.cookies.get(CSRF_COOKIE)
        if not raw:
            return None
        try:
            value = self._serializer("csrf").loads(raw)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    def set_csrf(self, request: Request, response: Response, value: str) -> None:
        response.set_cookie(
            CSRF_COOKIE,
            self._serializer("csrf").dumps(value),
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=is_https(request),
        )

    def csrf_matches(self, request: Request, submitted: object) -> bool:
        """Whether a form's CSRF field repeats this browser's CSRF cookie."""
        expected = self.csrf_value(request)
        return (
            expected is not None
            and isinstance(submitted, str)
            and hmac.compare_digest(expected.encode(), submitted.encode())
        )


def new_csrf_value() -> str:
    return secrets.token_urlsafe(24)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"
