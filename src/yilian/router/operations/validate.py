"""`$validate` (http://hl7.org/fhir/R4/resource-operation-validate.html).

`POST Type/$validate` with a resource, or a Parameters resource whose `resource` parameter
holds it; `POST Type/id/$validate` the same, and `GET Type/id/$validate` validates the stored
version.  The answer is always 200 with an OperationOutcome: the validator's issues, or one
information issue "All OK".  A body that is not a resource at all is still a 400.  The `mode`
and `profile` parameters are not supported (only the base R4 structure rules are checked).
"""

from __future__ import annotations

from typing import Any

from yilian.fhir.outcome import Issue, IssueType, Outcome, OutcomeError, operation_outcome
from yilian.fhir.validation import validate_resource
from yilian.router.context import Context
from yilian.router.result import Result
from yilian.router.validation import check_resource
from yilian.store.base import Session

__all__ = ["validate"]


def _resource_of(body: Any) -> Any:
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for param in body.get("parameter", []) or []:
            if isinstance(param, dict) and param.get("name") == "resource":
                return param.get("resource")
        raise OutcomeError.invalid(
            "Parameters for $validate needs a 'resource' parameter", ["Parameters.parameter"]
        )
    return body


async def validate(ctx: Context, session: Session, resource_type: str, id: str | None) -> Result:
    body = ctx.request.body
    if body is None:
        if id is None:
            raise OutcomeError.invalid("$validate needs a resource in the body", ["Resource"])
        resource: dict[str, Any] = (await session.read(resource_type, id, ctx.access.scope)).json()
    else:
        resource = check_resource(_resource_of(body), resource_type)
    issues: list[Issue] = list(validate_resource(resource))
    if id is not None and body is not None and resource.get("id") not in (None, id):
        issues.append(
            Issue(
                IssueType.INVALID,
                f"the resource id {resource.get('id')!r} differs from {id!r}",
                expression=(f"{resource_type}.id",),
            )
        )
    return Result(Outcome.OK, body=operation_outcome(issues))
