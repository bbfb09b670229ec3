"""`create_app`: the ASGI application for one repository and one set of settings.

FastAPI (over bare Starlette) for the OpenAPI page at `/docs` that the demo points people to.
The FHIR surface is two catch-all routes, `/fhir` and `/fhir/{path}`, registered once per
method so each method has its own operation in the OpenAPI document; the router behind them
does all FHIR routing (http://hl7.org/fhir/R4/http.html).  The application's lifespan opens the
repository (connecting and migrating) and closes it on shutdown, so a server never answers
before its store is ready.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from yilian.api.auth import authenticator_for
from yilian.api.body import BodyLimits
from yilian.api.bulk_files import add_bulk_file_route
from yilian.api.endpoint import FhirEndpoint
from yilian.api.errors import install_error_handlers
from yilian.api.hl7_route import add_hl7_route
from yilian.api.request import FHIR_PREFIX
from yilian.api.smart import add_smart_routes, issuer_directory
from yilian.api.static import add_static_routes
from yilian.bulk.jobs import JobManager
from yilian.config import Settings
from yilian.console import add_console
from yilian.feeds.hl7_intake import Hl7Intake
from yilian.feeds.settings import intake_settings
from yilian.privacy.audit import AuditTrail
from yilian.privacy.model import AccessPolicy
from yilian.privacy.policy import AlliancePolicy
from yilian.router.access import PartitionPolicy
from yilian.router.router import FhirRouter
from yilian.router.settings import RouterSettings
from yilian.store.base import Repository

__all__ = ["create_app"]

DISCOVERY_TIMEOUT_SECONDS = 3.0
"""How long start-up waits for an issuer's discovery document (all issuers are read at once)."""
DISCOVERY_RETRY_SECONDS = 300.0

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/json-patch+json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
        },
    }
}
_DESCRIPTION = """A FHIR R4 server for a regional medical alliance (医联体).

* `/fhir/` is the alliance-wide base: it reads every member institution's records.
* `/fhir/{institution}/` is one institution's base: it reads and writes that institution only.
* `GET /fhir/metadata` describes what the server supports (a CapabilityStatement).

Everything under `/fhir` is FHIR REST (http://hl7.org/fhir/R4/http.html): bodies are
`application/fhir+json`, errors are OperationOutcome resources.
"""


def create_app(settings: Settings, repository: Repository) -> FastAPI:
    """The application serving `repository` as configured by `settings`."""

    # Every access and refusal goes to the hash-chained audit trail when a checkpoint key is
    # configured; closing the app flushes what is queued and seals the chain.
    audit = AuditTrail.from_settings(repository, settings) if settings.audit_signing_key else None
    # Bulk Data jobs ($export, $import) run as tasks of this process, files under the bulk
    # folder (bulk_dir, else data_dir/bulk);
    # closing the app stops them (their jobs fail with "server stopped").
    jobs = JobManager(repository, settings.bulk_path)
    # What the trusted issuers offer clients (smart-configuration): read from each issuer's own
    # discovery document before the first request; one that cannot be read is retried later.
    issuers = issuer_directory(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await repository.open()
        try:
            await issuers.discover(timeout=DISCOVERY_TIMEOUT_SECONDS)
            async with anyio.create_task_group() as background:
                if issuers.pending:
                    background.start_soon(
                        partial(
                            issuers.keep_discovering,
                            timeout=DISCOVERY_TIMEOUT_SECONDS,
                            every=DISCOVERY_RETRY_SECONDS,
                        )
                    )
                try:
                    yield
                finally:
                    background.cancel_scope.cancel()
        finally:
            try:
                await jobs.close()
                if audit is not None:
                    await audit.close()
            finally:
                await repository.close()

    app = _FhirApp(
        title="yilian FHIR R4 server",
        description=_DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own copy of Swagger UI, never a CDN
        redoc_url=None,
    )
    add_static_routes(app)
    install_error_handlers(app)
    auth = authenticator_for(settings)
    # With authentication on, the alliance policy decides every interaction (roles, scopes,
    # institutions, consent, break-the-glass); off, only the partition of the base counts.
    policy: AccessPolicy = (
        AlliancePolicy(consent_lapse_days=settings.consent_lapse_days) if auth.enabled else PartitionPolicy()
    )
    router = FhirRouter(
        repository,
        RouterSettings(
            default_count=settings.default_count,
            max_count=settings.max_count,
            default_handling=settings.default_handling,
            jobs=jobs,
            import_allowed_dirs=tuple(
                d.strip() for d in settings.import_allowed_dirs.split(",") if d.strip()
            ),
        ),
        policy=policy,
        audit=audit,
    )
    endpoint = FhirEndpoint(router, BodyLimits(settings.max_body_bytes, settings.max_json_depth), auth)
    add_smart_routes(app, auth, issuers)
    add_bulk_file_route(app, auth, jobs, router.audit)  # before the /fhir catch-all
    # HL7 v2 feeds: POST /hl7v2 here; the MLLP listener (transports/) takes the same intake.
    intake = Hl7Intake(repository, router, intake_settings(settings))
    add_hl7_route(app, auth, intake, settings.hl7_max_message_bytes)
    app.state.hl7_intake = intake
    app.state.router = router  # for the CLI commands that run inside this composition
    add_console(app, router, auth, settings, intake)  # the web application, under /console/
    _add_fhir_routes(app, endpoint)
    app.fhir_endpoint = endpoint

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs", status_code=307)

    @app.get("/healthz", tags=["operations"], summary="Liveness check")
    async def healthz() -> JSONResponse:
        health: dict[str, Any] = {"status": "ok"}
        if not auth.enabled:
            health["auth"] = "off"
            health["warning"] = "authentication is OFF: every caller is the system client (development only)"
        return JSONResponse(health)

    return app


_FHIR_ROUTE_NAME = "fhir_"


def _add_fhir_routes(app: FastAPI, endpoint: FhirEndpoint) -> None:
    async def base(request: Request) -> Response:
        return await endpoint(request, "")

    async def below(request: Request, path: str) -> Response:
        return await endpoint(request, path)

    handlers: tuple[tuple[str, Callable[..., Awaitable[Response]], str], ...] = (
        (FHIR_PREFIX, base, "base"),
        (FHIR_PREFIX + "/{path:path}", below, "path"),
    )
    for route, handler, kind in handlers:
        for method in _METHODS:
            app.add_api_route(
                route,
                handler,
                methods=[method],
                name=f"{_FHIR_ROUTE_NAME}{kind}_{method.lower()}",
                summary=f"FHIR {method} {route}",
                tags=["FHIR"],
                response_class=Response,
                openapi_extra=_BODY_DOC if method in _WITH_BODY else None,
            )


class _FhirApp(FastAPI):
    """FastAPI with a direct path to the FHIR endpoint.

    A request the `/fhir` catch-all routes would take goes straight to the `FhirEndpoint`,
    routed by the same routes in the same order (so the SMART and bulk-file routes registered
    before the catch-all still win), but without FastAPI's middleware stack and dependency
    solving, which cost more CPU than a read itself.  Nothing is lost: the endpoint answers
    every failure itself (an OperationOutcome, or a 500 that logs the traceback), the routes
    take no dependencies, and the app adds no middleware (when any is added, every request
    takes the ordinary path).  The OpenAPI document still describes the catch-all routes."""

    fhir_endpoint: FhirEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.fhir_endpoint is not None and not self.user_middleware:
            if self.root_path:
                scope["root_path"] = self.root_path
            for route in self.router.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    if getattr(route, "name", "").startswith(_FHIR_ROUTE_NAME):
                        scope["app"] = self
                        scope.update(child)
                        rest = child.get("path_params", {}).get("path", "")
                        response = await self.fhir_endpoint(Request(scope, receive), rest)
                        await response(scope, receive, send)
                        return
                    break  # another route: the framework serves it
        await super().__call__(scope, receive, send)
