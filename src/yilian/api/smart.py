"""SMART on FHIR discovery: `/.well-known/smart-configuration`, the development issuer's JWKS,
and the `security` element of the CapabilityStatement.

SMART App Launch 2.x (http://hl7.org/fhir/smart-app-launch/conformance.html) has clients find
the authorization server from `[base]/.well-known/smart-configuration`; yilian serves the same
document at the server root, the alliance base `/fhir/` and every institution base
`/fhir/{code}/`.  yilian is a resource server only: it names the issuers it trusts and the
scopes it understands, and leaves authorization and token endpoints to the identity provider.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from yilian.api.auth import Authenticator
from yilian.api.request import FHIR_PREFIX
from yilian.auth.purpose import PURPOSES

__all__ = ["JWKS_PATH", "add_smart_routes", "capability_security", "smart_configuration"]

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
_SECURITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"


def smart_configuration(auth: Authenticator, root: str) -> dict[str, Any]:
    """The discovery document; `root` is the server's absolute root URL."""
    if auth.verifier is None:
        return {
            "capabilities": [],
            "scopes_supported": [],
            "yilian_authentication": "off (local development only: every caller is the system client)",
        }
    issuers = [i.issuer for i in auth.verifier.issuers]
    jwks = next((i.jwks_url for i in auth.verifier.issuers if i.jwks_url), "")
    if auth.dev_issuer is not None:
        jwks = f"{root}{JWKS_PATH}"
    document: dict[str, Any] = {
        "issuer": issuers[0] if issuers else "",
        "jwks_uri": jwks,
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "capabilities": _CAPABILITIES,
        "scopes_supported": _SCOPES,
        "code_challenge_methods_supported": ["S256"],
        "yilian_trusted_issuers": issuers,
        "yilian_audience": auth.verifier.audience,
        "yilian_roles_claim": "role",
        "yilian_purposes_of_use": list(PURPOSES),
    }
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


def add_smart_routes(app: FastAPI, auth: Authenticator) -> None:
    """Register the discovery routes (before the FHIR catch-all, so they win)."""

    async def configuration(request: Request) -> Response:
        root = str(request.base_url).rstrip("/")
        return JSONResponse(smart_configuration(auth, root), headers={"cache-control": "max-age=300"})

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
