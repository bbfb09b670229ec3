"""Checks a request body must pass before it is stored.

A body that is not a JSON object, or has no or an unknown `resourceType`, is not a resource
at all: 400 (http://hl7.org/fhir/R4/http.html#create, "resource could not be parsed").  A
resource of the wrong type for the URL is a 400 too.  A resource that parses but breaks the
R4 structure rules is a 422 carrying every error issue the validator found
(http://hl7.org/fhir/R4/http.html#update: "422 Unprocessable Entity - the proposed resource
violated applicable FHIR profiles or server business rules").
"""

from __future__ import annotations

from typing import Any

from yilian.fhir.outcome import Issue, IssueSeverity, OutcomeError
from yilian.fhir.validation import validate_resource
from yilian.privacy.consent import check_consent
from yilian.router.resource_types import is_resource_type

__all__ = ["check_resource", "errors_of", "validate_or_raise"]


def check_resource(body: Any, expected_type: str | None) -> dict[str, Any]:
    """`body` as a resource of `expected_type` (any type when None), or a 400."""
    if not isinstance(body, dict):
        raise OutcomeError.invalid("the request body must be a FHIR resource (a JSON object)", ["Resource"])
    rtype = body.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise OutcomeError.invalid("the resource has no resourceType", ["Resource.resourceType"])
    if not is_resource_type(rtype):
        raise OutcomeError.invalid(f"Unknown resource type {rtype!r}", ["Resource.resourceType"])
    if expected_type is not None and rtype != expected_type:
        raise OutcomeError.invalid(
            f"the body is a {rtype} but the URL names {expected_type}", [f"{rtype}.resourceType"]
        )
    return body


def errors_of(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity in (IssueSeverity.ERROR, IssueSeverity.FATAL)]


def validate_or_raise(resource: dict[str, Any], enabled: bool) -> None:
    """Raise 422 with the validator's error issues (warnings do not block a write).  The
    privacy rules on patient-privacy Consents (privacy/consent.py) apply even when structure
    validation is off: a Consent yilian could not enforce is never stored."""
    check_consent(resource)
    if not enabled:
        return
    errors = errors_of(list(validate_resource(resource)))
    if errors:
        raise OutcomeError.unprocessable(errors)
