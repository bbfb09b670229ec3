"""OperationOutcome and the error that carries one.

Every failure in yilian that a client should hear about is an `OutcomeError`: it names the
FHIR issue type (http://hl7.org/fhir/R4/valueset-issue-type.html), a human diagnostic and the
FHIRPath location of the problem, plus an `Outcome` kind that says what class of failure it
is.  The kernel knows no HTTP numbers; `router.status` is the one table that turns a kind
into a status code.  See http://hl7.org/fhir/R4/operationoutcome.html.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Issue", "IssueSeverity", "IssueType", "Outcome", "OutcomeError", "operation_outcome"]


class IssueSeverity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


class IssueType(StrEnum):
    """The R4 issue-type codes."""

    INVALID = "invalid"
    STRUCTURE = "structure"
    REQUIRED = "required"
    VALUE = "value"
    INVARIANT = "invariant"
    SECURITY = "security"
    LOGIN = "login"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    FORBIDDEN = "forbidden"
    SUPPRESSED = "suppressed"
    PROCESSING = "processing"
    NOT_SUPPORTED = "not-supported"
    DUPLICATE = "duplicate"
    MULTIPLE_MATCHES = "multiple-matches"
    NOT_FOUND = "not-found"
    DELETED = "deleted"
    TOO_LONG = "too-long"
    CODE_INVALID = "code-invalid"
    EXTENSION = "extension"
    TOO_COSTLY = "too-costly"
    BUSINESS_RULE = "business-rule"
    CONFLICT = "conflict"
    TRANSIENT = "transient"
    LOCK_ERROR = "lock-error"
    NO_STORE = "no-store"
    EXCEPTION = "exception"
    TIMEOUT = "timeout"
    INCOMPLETE = "incomplete"
    THROTTLED = "throttled"
    INFORMATIONAL = "informational"


class Outcome(StrEnum):
    """What class of result an interaction had; `router.status` maps each to HTTP."""

    OK = "ok"
    CREATED = "created"
    ACCEPTED = "accepted"
    NO_CONTENT = "no-content"
    NOT_MODIFIED = "not-modified"
    BAD_REQUEST = "bad-request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    NOT_ACCEPTABLE = "not-acceptable"
    CONFLICT = "conflict"
    GONE = "gone"
    PRECONDITION_FAILED = "precondition-failed"
    PAYLOAD_TOO_LARGE = "payload-too-large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    UNPROCESSABLE = "unprocessable"
    TOO_MANY_REQUESTS = "too-many-requests"
    SERVER_ERROR = "server-error"
    NOT_IMPLEMENTED = "not-implemented"


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue: what went wrong and where (FHIRPath expressions)."""

    code: IssueType
    diagnostics: str
    severity: IssueSeverity = IssueSeverity.ERROR
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity.value, "code": self.code.value}
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """Render issues as an OperationOutcome resource (at least one issue, as R4 requires)."""
    rendered = [i.to_json() for i in issues]
    if not rendered:
        rendered = [{"severity": "information", "code": "informational", "diagnostics": "All OK"}]
    return {"resourceType": "OperationOutcome", "issue": rendered}


@dataclass
class OutcomeError(Exception):
    """A failure a client should hear about, with the OperationOutcome that explains it."""

    kind: Outcome
    issues: Sequence[Issue] = field(default_factory=tuple)

    def __init__(
        self,
        kind: Outcome,
        code: IssueType | None = None,
        diagnostics: str = "",
        expression: Sequence[str] = (),
        *,
        issues: Sequence[Issue] = (),
    ) -> None:
        collected = list(issues)
        if code is not None:
            collected.insert(0, Issue(code, diagnostics, IssueSeverity.ERROR, tuple(expression)))
        super().__init__(diagnostics or (collected[0].diagnostics if collected else kind.value))
        self.kind = kind
        self.issues = tuple(collected)

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues) or self.kind.value

    def to_resource(self) -> dict[str, Any]:
        return operation_outcome(self.issues)

    # Short constructors for the failures every layer raises.
    @classmethod
    def invalid(cls, diagnostics: str, expression: Sequence[str] = ()) -> OutcomeError:
        return cls(Outcome.BAD_REQUEST, IssueType.INVALID, diagnostics, expression)

    @classmethod
    def unprocessable(cls, issues: Sequence[Issue]) -> OutcomeError:
        return cls(Outcome.UNPROCESSABLE, issues=issues)

    @classmethod
    def not_found(cls, diagnostics: str) -> OutcomeError:
        return cls(Outcome.NOT_FOUND, IssueType.NOT_FOUND, diagnostics)

    @classmethod
    def gone(cls, diagnostics: str) -> OutcomeError:
        return cls(Outcome.GONE, IssueType.DELETED, diagnostics)

    @classmethod
    def conflict(cls, diagnostics: str) -> OutcomeError:
        return cls(Outcome.CONFLICT, IssueType.CONFLICT, diagnostics)

    @classmethod
    def precondition_failed(cls, diagnostics: str) -> OutcomeError:
        return cls(Outcome.PRECONDITION_FAILED, IssueType.CONFLICT, diagnostics)

    @classmethod
    def not_supported(cls, diagnostics: str, expression: Sequence[str] = ()) -> OutcomeError:
        return cls(Outcome.BAD_REQUEST, IssueType.NOT_SUPPORTED, diagnostics, expression)
