"""The one table that turns an `Outcome` kind into an HTTP status.

The api layer uses it for responses; batch/transaction use it for `entry.response.status`,
whose value FHIR defines as an HTTP status line (http://hl7.org/fhir/R4/bundle.html)."""

from __future__ import annotations

from yilian.fhir.outcome import Outcome

__all__ = ["status_code", "status_line"]

_STATUS: dict[Outcome, tuple[int, str]] = {
    Outcome.OK: (200, "OK"),
    Outcome.CREATED: (201, "Created"),
    Outcome.ACCEPTED: (202, "Accepted"),
    Outcome.NO_CONTENT: (204, "No Content"),
    Outcome.NOT_MODIFIED: (304, "Not Modified"),
    Outcome.BAD_REQUEST: (400, "Bad Request"),
    Outcome.UNAUTHORIZED: (401, "Unauthorized"),
    Outcome.FORBIDDEN: (403, "Forbidden"),
    Outcome.NOT_FOUND: (404, "Not Found"),
    Outcome.METHOD_NOT_ALLOWED: (405, "Method Not Allowed"),
    Outcome.NOT_ACCEPTABLE: (406, "Not Acceptable"),
    Outcome.CONFLICT: (409, "Conflict"),
    Outcome.GONE: (410, "Gone"),
    Outcome.PRECONDITION_FAILED: (412, "Precondition Failed"),
    Outcome.PAYLOAD_TOO_LARGE: (413, "Payload Too Large"),
    Outcome.UNSUPPORTED_MEDIA_TYPE: (415, "Unsupported Media Type"),
    Outcome.UNPROCESSABLE: (422, "Unprocessable Entity"),
    Outcome.TOO_MANY_REQUESTS: (429, "Too Many Requests"),
    Outcome.SERVER_ERROR: (500, "Internal Server Error"),
    Outcome.NOT_IMPLEMENTED: (501, "Not Implemented"),
}


def status_code(outcome: Outcome) -> int:
    return _STATUS[outcome][0]


def status_line(outcome: Outcome) -> str:
    code, reason = _STATUS[outcome]
    return f"{code} {reason}"
