"""What a trusted issuer offers clients: its endpoints, grant types and client authentication.

yilian is a resource server; clients get their tokens from the issuer, and SMART's discovery
document (http://hl7.org/fhir/smart-app-launch/conformance.html) has to say where.  An
endpoint that is not really there sends every client into an error, so only what the operator
configured or the issuer itself publishes in its OpenID Provider metadata
(https://openid.net/specs/openid-connect-discovery-1_0.html section 4) is ever advertised.
The metadata is read once at start-up, with a short timeout; an issuer that cannot be reached
is retried later and meanwhile advertised with what the settings say.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import anyio
import anyio.to_thread

from yilian.config import is_http_url

__all__ = [
    "IssuerDirectory",
    "IssuerMetadata",
    "configured",
    "fetch_openid_configuration",
    "openid_configuration_url",
]

log = logging.getLogger("yilian.auth")

SMART_GRANT_TYPES = ("authorization_code", "client_credentials")
"""The grant types SMART defines; an issuer's others (password, implicit, ...) are not SMART's."""
_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class IssuerMetadata:
    """One issuer as clients should see it; empty values are unknown.  `grant_types` and
    `auth_methods` None mean the issuer did not say."""

    issuer: str
    jwks_uri: str = ""
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    grant_types: tuple[str, ...] | None = None
    auth_methods: tuple[str, ...] | None = None
    code_challenge_methods: tuple[str, ...] | None = None

    def grants(self) -> list[str]:
        """The SMART grant types clients can really use: `authorization_code` only with both
        endpoints, `client_credentials` only with a token endpoint.  An issuer that does not
        list its grant types is taken to offer what its endpoints allow."""
        offered = self.grant_types if self.grant_types is not None else SMART_GRANT_TYPES
        usable = {
            "authorization_code": bool(self.authorization_endpoint and self.token_endpoint),
            "client_credentials": bool(self.token_endpoint),
        }
        return [g for g in SMART_GRANT_TYPES if g in offered and usable[g]]

    def merged(self, published: Mapping[str, Any]) -> IssuerMetadata:
        """These (configured) values completed by what the issuer publishes; configured
        values win.  Published values that are malformed are ignored."""

        def url(key: str) -> str:
            value = published.get(key)
            return value if isinstance(value, str) and is_http_url(value) else ""

        def strings(mine: tuple[str, ...] | None, key: str) -> tuple[str, ...] | None:
            value = published.get(key)
            if mine is None and isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            return mine

        return replace(
            self,
            jwks_uri=self.jwks_uri or url("jwks_uri"),
            authorization_endpoint=self.authorization_endpoint or url("authorization_endpoint"),
            token_endpoint=self.token_endpoint or url("token_endpoint"),
            grant_types=strings(self.grant_types, "grant_types_supported"),
            auth_methods=strings(self.auth_methods, "token_endpoint_auth_methods_supported"),
            code_challenge_methods=strings(self.code_challenge_methods, "code_challenge_methods_supported"),
        )


def configured(
    issuer: str,
    *,
    jwks_uri: str = "",
    authorization_endpoint: str = "",
    token_endpoint: str = "",
    grant_types: Sequence[str] = (),
    auth_methods: Sequence[str] = (),
) -> IssuerMetadata:
    """An issuer's metadata from its settings (an empty list: the settings do not say)."""
    return IssuerMetadata(
        issuer,
        jwks_uri=jwks_uri,
        authorization_endpoint=authorization_endpoint,
        token_endpoint=token_endpoint,
        grant_types=tuple(grant_types) or None,
        auth_methods=tuple(auth_methods) or None,
    )


def openid_configuration_url(issuer: str) -> str | None:
    """Where an issuer publishes its metadata (OpenID Connect Discovery section 4); None for an
    issuer that is not an http(s) URL (such as the development issuer's URN)."""
    if not is_http_url(issuer):
        return None
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def fetch_openid_configuration(issuer: str, *, timeout: float) -> dict[str, Any] | None:
    """The issuer's published metadata, or None (logged) when it cannot be had.  Blocking.

    The document must name the issuer itself (Discovery section 4.3), so a proxy's or another
    realm's document is never taken for this issuer's."""
    url = openid_configuration_url(issuer)
    if url is None:
        return None
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("issuer %s: its metadata %s could not be read (%s)", issuer, url, exc)
        return None
    if len(body) > _MAX_BYTES:
        log.warning("issuer %s: its metadata %s is larger than %d bytes; ignored", issuer, url, _MAX_BYTES)
        return None
    try:
        data = json.loads(body)
    except ValueError:
        log.warning("issuer %s: its metadata %s is not JSON; ignored", issuer, url)
        return None
    if not isinstance(data, dict) or data.get("issuer") != issuer:
        found = data.get("issuer") if isinstance(data, dict) else None
        log.warning("issuer %s: the metadata at %s names issuer %r; ignored", issuer, url, found)
        return None
    return data


class IssuerDirectory:
    """The trusted issuers' metadata, configured values first, completed by discovery.

    Lives as long as the server; `discover` is awaited at start-up and `keep_discovering`
    retries the issuers that could not be read, so an identity provider that was down when
    the server started is advertised once it is back."""

    def __init__(self, issuers: Sequence[IssuerMetadata], *, discover: Sequence[str] = ()) -> None:
        self._known = {i.issuer: i for i in issuers}
        self._pending = [i for i in discover if i in self._known and openid_configuration_url(i)]

    @property
    def issuers(self) -> tuple[IssuerMetadata, ...]:
        return tuple(self._known.values())

    @property
    def pending(self) -> tuple[str, ...]:
        """Issuers whose metadata is still to be read."""
        return tuple(self._pending)

    def primary(self) -> IssuerMetadata | None:
        """The issuer clients are sent to: the first (in settings order) with a token
        endpoint, else the first."""
        known = list(self._known.values())
        return next((i for i in known if i.token_endpoint), known[0] if known else None)

    async def discover(self, *, timeout: float) -> None:
        """Read the pending issuers' metadata, all at once, each within `timeout` seconds."""
        found: dict[str, dict[str, Any]] = {}

        async def one(issuer: str) -> None:
            data = await anyio.to_thread.run_sync(
                lambda: fetch_openid_configuration(issuer, timeout=timeout), abandon_on_cancel=True
            )
            if data is not None:
                found[issuer] = data

        async with anyio.create_task_group() as group:
            for issuer in self._pending:
                group.start_soon(one, issuer)
        for issuer, data in found.items():
            self._known[issuer] = self._known[issuer].merged(data)
        self._pending = [i for i in self._pending if i not in found]

    async def keep_discovering(self, *, timeout: float, every: float) -> None:
        """Retry the pending issuers every `every` seconds until all are read."""
        while self._pending:
            await anyio.sleep(every)
            await self.discover(timeout=timeout)
