"""The FHIR endpoint: one HTTP request in, one `FhirRouter.handle` call, one HTTP response out.

Everything FHIR-specific (routing, interactions, status kinds) is the router's; this class
only translates.  The response carries the router's headers (ETag, Location, Last-Modified,
Content-Location), the body as orjson-serialised `application/fhir+json`, no body at all for
204/304 or an interaction that returned none (`Prefer: return=minimal`), and for HEAD the
headers of the equivalent GET without its body (http://hl7.org/fhir/R4/http.html#read).
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from yilian.api.auth import Authenticator, challenge, is_public
from yilian.api.body import BodyLimits
from yilian.api.errors import internal_error_response, outcome_response
from yilian.api.negotiation import RESPONSE_MEDIA_TYPE, Rendering
from yilian.api.request import build_fhir_request, request_headers, split_base
from yilian.api.smart import capability_security
from yilian.auth.principal import Principal
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.privacy.model import AccessRecord
from yilian.router.router import FhirRouter
from yilian.router.status import status_code
from yilian.router.types import FhirResponse

__all__ = ["FhirEndpoint", "http_response"]

_NO_BODY_STATUS = frozenset({204, 304})


class FhirEndpoint:
    """Serves `/fhir` and everything under it for one router."""

    def __init__(self, router: FhirRouter, limits: BodyLimits, auth: Authenticator | None = None) -> None:
        self.router = router
        self.limits = limits
        self.auth = auth or Authenticator(None)
        self._security = capability_security(self.auth)

    async def __call__(self, request: Request, rest: str) -> Response:
        head = request.method == "HEAD"
        pretty = bool(request.scope.get("query_string")) and request.query_params.get("_pretty") == "true"
        partition, path = split_base(rest)
        public = is_public(request.method, path)
        try:
            # Authenticate before reading the body: an anonymous caller costs no parsing.
            headers = request_headers(request)
            try:
                principal = None if public else await self.auth.principal(headers)
            except OutcomeError as refused:
                if refused.kind is Outcome.UNAUTHORIZED:
                    await self._record_refusal(request.method, rest, partition, refused)
                raise
            incoming = await build_fhir_request(request, rest, self.limits, principal, headers)
            result = await self.router.handle(incoming.fhir)
        except OutcomeError as exc:
            response = outcome_response(exc, pretty=pretty, head=head)
            if exc.kind is Outcome.UNAUTHORIZED:
                response.headers["www-authenticate"] = challenge(exc)
            return response
        except ClientDisconnect:
            # The client went away mid-body: nobody reads this answer and nothing was written.
            return Response(None, status_code=400)
        except Exception as exc:  # a bug: logged with its traceback, answered without it
            return internal_error_response(exc, pretty=pretty, head=head)
        if (
            public
            and isinstance(result.body, dict)
            and result.body.get("resourceType") == "CapabilityStatement"
        ):
            result.body = {
                **result.body,
                "rest": [{**rest, "security": self._security} for rest in result.body.get("rest", [])],
            }
        return http_response(result, incoming.rendering, head=head)

    async def _record_refusal(
        self, method: str, rest: str, partition: str | None, error: OutcomeError
    ) -> None:
        """Token failures are audited like any other denial (the sink never raises)."""
        await self.router.audit.record(
            AccessRecord(
                principal=Principal.anonymous(),
                interaction="authenticate",
                partition=partition,
                outcome=401,
                detail=f"{method} /fhir/{rest}: {error}"[:500],
            )
        )


def http_response(result: FhirResponse, rendering: Rendering, *, head: bool = False) -> Response:
    """Render a router result as HTTP."""
    status = status_code(result.outcome)
    headers = dict(result.headers)
    if status in _NO_BODY_STATUS or result.body is None:
        return Response(None, status_code=status, headers=headers)
    body = rendering.dumps(result.body)
    if head:
        headers["content-length"] = str(len(body))
        return Response(None, status_code=status, headers=headers, media_type=RESPONSE_MEDIA_TYPE)
    return Response(body, status_code=status, headers=headers, media_type=RESPONSE_MEDIA_TYPE)
