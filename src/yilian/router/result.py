"""An interaction's result before it becomes a response, and the one way it becomes one.

Interactions return a `Result` (outcome, the stored version they wrote or read, or an explicit
body such as a Bundle).  `render` turns it into a `FhirResponse` with ETag / Last-Modified /
Location and applies `Prefer: return=` to writes (http://hl7.org/fhir/R4/http.html#ops);
batch and transaction build `Bundle.entry.response` from the same `Result`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yilian.fhir.outcome import Issue, IssueSeverity, IssueType, Outcome, operation_outcome
from yilian.router.context import Context
from yilian.router.headers import prefer_return, version_headers
from yilian.router.types import FhirResponse
from yilian.store.base import StoredResource

__all__ = ["Result", "information", "render"]


@dataclass(slots=True)
class Result:
    """`stored` is the version written or read; `body`, when set, is sent instead of it (a
    Bundle, an OperationOutcome, a projected resource).  `write` marks create / update /
    patch, whose body follows `Prefer: return=` and which send Location."""

    outcome: Outcome
    stored: StoredResource | None = None
    body: dict[str, Any] | None = None
    write: bool = False
    message: str = ""
    # extra headers (a bulk kick-off's Content-Location, a poll's X-Progress)
    headers: dict[str, str] = field(default_factory=dict)

    def resource(self) -> dict[str, Any] | None:
        if self.body is not None:
            return self.body
        if self.stored is not None and not self.stored.deleted:
            return self.stored.json()
        return None


def information(message: str) -> dict[str, Any]:
    """An OperationOutcome with one information issue."""
    return operation_outcome([Issue(IssueType.INFORMATIONAL, message, IssueSeverity.INFORMATION)])


def render(ctx: Context, result: Result) -> FhirResponse:
    """The response for `result` under the request's Prefer header."""
    headers: dict[str, str] = {}
    if result.stored is not None:
        headers = version_headers(result.stored, ctx.base_url, location=result.write)
    body = result.resource()
    if result.write:
        preference = prefer_return(ctx.request.headers)
        if preference == "minimal":
            body = None
        elif preference == "OperationOutcome":
            body = information(result.message or "OK")
    headers.update(result.headers)
    if result.outcome in (Outcome.NO_CONTENT, Outcome.NOT_MODIFIED):
        body = None
    return FhirResponse(result.outcome, body, headers)
