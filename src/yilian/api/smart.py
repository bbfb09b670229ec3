"""SMART on FHIR discovery: `/.well-known/smart-configuration`, the development issuer's JWKS,
and the `security` element of the CapabilityStatement.

SMART App Launch 2.x (http://hl7.org/fhir/smart-app-launch/conformance.html) has clients find
the authorization server from `[base]/.well-known/smart-configuration`; yilian serves the same
document at the server root, the alliance base `/fhir/` and every institution base
`/fhir/{code}/`.  yilian is a resource server only: it names the issuers it trusts and the
scopes it understands, and sends clients to the identity provider's authorization and token
endpoints, as configured or as the provider publishes them (`yilian.auth.discovery`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from yilian.api.auth import Authenticator
from yilian.api.request import FHIR_PREFIX
from yilian.auth.discovery import IssuerDirectory, IssuerMetadata, configured
from yilian.auth.purpose import PURPOSES
from yilian.config import Settings

__all__ = [
    "JWKS_PATH",
    "add_smart_routes",
    "capability_security",
    "issuer_directory",
    "smart_configuration",
]

JWKS_PATH = "/.well-known/jwks.json"
_SMART_PATH = "/.well-known/smart-configuration"
_CAPABILITIES = ["permission-v1", "permission-v2", "permission-patient", "permission-user"]
_SCOPES = [
    "patient/*.cruds",
    "user/*.cruds",
    "system/*.cruds",
    "patient/*.rs",
    "user/*.rs",
    "patient/*.read",
    "user/*.read",
    "user/*.write",
    "system/*.read",
    "system/*.write",
    "system/*.*",
]
_CLIENT_CAPABILITIES = (
    ("private_key_jwt", "client-confidential-asymmetric"),
    ("client_secret_basic", "client-confidential-symmetric"),
    ("client_secret_post", "client-confidential-symmetric"),
)
_SECURITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"


def issuer_directory(settings: Settings) -> IssuerDirectory:
    """The configured issuers' metadata; those with `discovery` on are read at start-up."""
    issuers = [
        configured(
            i.issuer,
            jwks_uri=i.jwks_url,
            authorization_endpoint=i.authorization_endpoint,
            token_endpoint=i.token_endpoint,
            grant_types=i.grant_types_supported,
            auth_methods=i.token_endpoint_auth_methods_supported,
        )
        for i in settings.issuers
    ]
    discover = [i.issuer for i in settings.issuers if i.discovery] if settings.auth == "on" else []
    return IssuerDirectory(issuers, discover=discover)


def smart_configuration(auth: Authenticator, directory: IssuerDirectory, root: str) -> dict[str, Any]:
    """The discovery document; `root` is the server's absolute root URL.

    It names an endpoint only when the issuer clients are sent to really has it, and a grant
    type only when its endpoints are named: `authorization_code` (with PKCE) needs both the
    authorization and the token endpoint, `client_credentials` the token endpoint.  With only
    the development issuer, whose tokens `yilian token` mints, there is no grant at all."""
    if auth.verifier is None:
        return {
            "capabilities": [],
            "scopes_supported": [],
            "grant_types_supported": [],
            "yilian_authentication": "off (local development only: every caller is the system client)",
        }
    trusted = [i.issuer for i in auth.verifier.issuers]
    primary = directory.primary()
    if primary is None and auth.dev_issuer is not None:
        primary = IssuerMetadata(auth.dev_issuer.issuer, jwks_uri=f"{root}{JWKS_PATH}")
    grants = primary.grants() if primary is not None else []
    document: dict[str, Any] = {}
    if primary is not None:
        document["issuer"] = primary.issuer
        if primary.jwks_uri:
            document["jwks_uri"] = primary.jwks_uri
    capabilities = list(_CAPABILITIES)
    if primary is not None and "authorization_code" in grants:
        document["authorization_endpoint"] = primary.authorization_endpoint
    if primary is not None and grants:
        document["token_endpoint"] = primary.token_endpoint
        methods = primary.auth_methods or ()
        if methods:
            document["token_endpoint_auth_methods_supported"] = list(methods)
        capabilities += [c for m, c in _CLIENT_CAPABILITIES if m in methods]
        if "authorization_code" in grants:
            # SMART requires S256 and forbids plain; an issuer that does not say is taken at SMART's word.
            pkce = [m for m in primary.code_challenge_methods or ("S256",) if m != "plain"]
            if pkce:
                document["code_challenge_methods_supported"] = pkce
            if "none" in methods:
                capabilities.append("client-public")
    document.update(
        {
            "grant_types_supported": grants,
            "capabilities": capabilities,
            "scopes_supported": _SCOPES,
            "yilian_trusted_issuers": trusted,
            "yilian_audience": auth.verifier.audience,
            "yilian_roles_claim": "role",
            "yilian_purposes_of_use": list(PURPOSES),
        }
    )
    if not grants:
        document["yilian_tokens"] = (
            "no token endpoint is known: tokens come from the trusted issuers by their own means "
            "(the development issuer's from `yilian token`)"
        )
    return document


def capability_security(auth: Authenticator) -> dict[str, Any]:
    """`CapabilityStatement.rest.security` (http://hl7.org/fhir/R4/capabilitystatement.html)."""
    if auth.verifier is None:
        return {
            "cors": False,
            "description": "AUTHENTICATION IS OFF: every request is served as the development system "
            "client. For local development only; never expose this server.",
        }
    return {
        "cors": False,
        "service": [{"coding": [{"system": _SECURITY_SYSTEM, "code": "SMART-on-FHIR"}]}],
        "description": "Bearer JWTs (RS256/ES256) from the trusted issuers listed at "
        ".well-known/smart-configuration; SMART v1/v2 scopes, yilian role/institution/patient claims.",
    }


def add_smart_routes(app: FastAPI, auth: Authenticator, directory: IssuerDirectory) -> None:
    """Register the discovery routes (before the FHIR catch-all, so they win)."""

    async def configuration(request: Request) -> Response:
        root = str(request.base_url).rstrip("/")
        document = smart_configuration(auth, directory, root)
        return JSONResponse(document, headers={"cache-control": "max-age=300"})

    for path in (_SMART_PATH, FHIR_PREFIX + _SMART_PATH, FHIR_PREFIX + "/{institution}" + _SMART_PATH):
        app.add_api_route(
            path, configuration, methods=["GET"], tags=["security"], summary="SMART on FHIR configuration"
        )
    dev = auth.dev_issuer
    if dev is not None:

        async def jwks() -> Response:
            return JSONResponse(dev.jwks(), headers={"cache-control": "max-age=300"})

        app.add_api_route(
            JWKS_PATH, jwks, methods=["GET"], tags=["security"], summary="Development issuer keys"
        )
