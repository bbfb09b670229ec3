"""The one place a failure becomes an HTTP response.

An `OutcomeError` becomes its OperationOutcome (http://hl7.org/fhir/R4/operationoutcome.html)
with the status `router.status` assigns to its kind.  Framework errors (an unknown path
outside `/fhir`, a method a non-FHIR route does not take) get an OperationOutcome too, so a
client never has to parse two error shapes.  Anything else is a bug: it is logged here with
its traceback under a short incident id, and the client gets a 500 OperationOutcome quoting
that id and nothing of the traceback.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from yilian.api.negotiation import RESPONSE_MEDIA_TYPE, render_json
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.router.status import status_code

__all__ = ["install_error_handlers", "internal_error_response", "outcome_response"]

log = logging.getLogger("yilian.api")

_HTTP_ISSUE = {404: IssueType.NOT_FOUND, 405: IssueType.NOT_SUPPORTED, 413: IssueType.TOO_LONG}


def outcome_response(error: OutcomeError, *, pretty: bool = False, head: bool = False) -> Response:
    """The HTTP response for a client-visible failure."""
    body = render_json(error.to_resource(), pretty=pretty)
    return _response(body, status_code(error.kind), head=head)


def internal_error_response(exc: BaseException, *, pretty: bool = False, head: bool = False) -> Response:
    """Log an unexpected exception with its traceback; answer 500 without it."""
    incident = uuid.uuid4().hex[:12]
    log.error("unhandled error, incident %s", incident, exc_info=exc)
    error = OutcomeError(
        Outcome.SERVER_ERROR,
        IssueType.EXCEPTION,
        f"internal server error (incident {incident}); the details are in the server log",
    )
    return outcome_response(error, pretty=pretty, head=head)


def _response(body: bytes, status: int, *, head: bool) -> Response:
    if head:
        headers = {"content-length": str(len(body))}
        return Response(None, status_code=status, headers=headers, media_type=RESPONSE_MEDIA_TYPE)
    return Response(body, status_code=status, media_type=RESPONSE_MEDIA_TYPE)


async def _on_outcome(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OutcomeError)
    return outcome_response(exc, head=request.method == "HEAD")


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_ISSUE.get(exc.status_code, IssueType.PROCESSING)
    kind = next((k for k in Outcome if status_code(k) == exc.status_code), None)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    diagnostics = f"{request.method} {request.url.path}: {detail}"
    if kind is None:
        body = render_json(OutcomeError(Outcome.BAD_REQUEST, code, diagnostics).to_resource())
        return _response(body, exc.status_code, head=request.method == "HEAD")
    return outcome_response(OutcomeError(kind, code, diagnostics), head=request.method == "HEAD")


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    return internal_error_response(exc, head=request.method == "HEAD")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app` (the FHIR endpoint also calls the functions above
    directly, so its errors never travel through the framework)."""
    app.add_exception_handler(OutcomeError, _on_outcome)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
