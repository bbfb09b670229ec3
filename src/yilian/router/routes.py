"""Which FHIR interaction a request is: the route table of http://hl7.org/fhir/R4/http.html.

`match_route` looks only at the method and path segments; the interaction modules then read
the query, headers and body.  An unknown resource type in the path is a 404 with issue code
`not-supported`: R4 lists "404 Not Found - resource type not supported" for create
(http://hl7.org/fhir/R4/http.html#create) and we answer every interaction the same way
(HAPI answers 400; a body whose resourceType is unknown is a 400 either way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.router.resource_types import is_resource_type
from yilian.router.types import FhirRequest

__all__ = ["Interaction", "Route", "check_id", "match_route"]

Interaction = Literal[
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "history-system",
    "create",
    "search-type",
    "search-system",
    "capabilities",
    "bundle",
    "operation",
]

# bulk jobs write their own rows, outside the session
BULK_READS = ("export", "export-poll-status", "import", "import-poll-status", "import-upload")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_READS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Route:
    """A request's interaction and the type / id / version / `$operation` its path names.
    `id` None on update, patch and delete means the conditional form (`Type?criteria`)."""

    interaction: Interaction
    resource_type: str | None = None
    id: str | None = None
    version: int | None = None
    operation: str | None = None

    @property
    def read_only(self) -> bool:
        return self.interaction in (
            "read",
            "vread",
            "history-instance",
            "history-type",
            "history-system",
            "search-type",
            "search-system",
            "capabilities",
        ) or (self.interaction == "operation" and self.operation in ("everything", "validate", *BULK_READS))


def check_id(value: str, where: str = "id") -> str:
    """A logical id as R4 allows (http://hl7.org/fhir/R4/datatypes.html#id), or a 400."""
    if not _ID.fullmatch(value):
        raise OutcomeError.invalid(f"{value!r} is not a valid resource id (1-64 of A-Z a-z 0-9 - .)", [where])
    return value


def _not_allowed(method: str, path: tuple[str, ...]) -> OutcomeError:
    return OutcomeError(
        Outcome.METHOD_NOT_ALLOWED,
        IssueType.NOT_SUPPORTED,
        f"{method} is not supported on /{'/'.join(path)}",
    )


def _unknown_path(path: tuple[str, ...]) -> OutcomeError:
    return OutcomeError(Outcome.NOT_FOUND, IssueType.NOT_FOUND, f"no FHIR interaction at /{'/'.join(path)}")


_SYSTEM: dict[str, tuple[frozenset[str], Interaction]] = {
    "metadata": (_READS, "capabilities"),
    "_history": (_READS, "history-system"),
    "_search": (_READS | {"POST"}, "search-system"),
}


def _system(method: str, path: tuple[str, ...]) -> Route:
    if not path:
        if method in _READS:
            return Route("search-system")
        if method == "POST":
            return Route("bundle")
        raise _not_allowed(method, path)
    if len(path) == 1:
        head = path[0]
        if head.startswith("$"):
            return Route("operation", operation=head[1:])
        if head in _SYSTEM:
            methods, interaction = _SYSTEM[head]
            if method in methods:
                return Route(interaction)
            raise _not_allowed(method, path)
    raise _unknown_path(path)


def match_route(request: FhirRequest) -> Route:
    """The interaction `request` asks for; raises OutcomeError for unknown paths and types."""
    method = request.method.upper()
    path = tuple(request.path)
    if not path or not path[0][:1].isupper():
        return _system(method, path)
    rtype = path[0]
    if not is_resource_type(rtype):
        raise OutcomeError(
            Outcome.NOT_FOUND, IssueType.NOT_SUPPORTED, f"Unknown resource type {rtype!r}", [rtype]
        )
    rest = path[1:]
    if not rest:
        by_method: dict[str, Interaction] = {
            "GET": "search-type",
            "HEAD": "search-type",
            "POST": "create",
            "PUT": "update",
            "DELETE": "delete",
            "PATCH": "patch",
        }
        if method in by_method:
            return Route(by_method[method], rtype)
        raise _not_allowed(method, path)
    head = rest[0]
    if len(rest) == 1 and head == "_search":
        if method in ("POST", *_READS):
            return Route("search-type", rtype)
        raise _not_allowed(method, path)
    if len(rest) == 1 and head == "_history":
        if method in _READS:
            return Route("history-type", rtype)
        raise _not_allowed(method, path)
    if len(rest) == 1 and head.startswith("$"):
        return Route("operation", rtype, operation=head[1:])
    rid = check_id(head, f"{rtype}.id")
    if len(rest) == 1:
        instance: dict[str, Interaction] = {
            "GET": "read",
            "HEAD": "read",
            "PUT": "update",
            "DELETE": "delete",
            "PATCH": "patch",
        }
        if method in instance:
            return Route(instance[method], rtype, rid)
        raise _not_allowed(method, path)
    if rest[1] == "_history" and len(rest) <= 3:
        if method not in _READS:
            raise _not_allowed(method, path)
        if len(rest) == 2:
            return Route("history-instance", rtype, rid)
        if not rest[2].isdigit():
            raise OutcomeError.invalid(
                f"version {rest[2]!r} is not a whole number", [f"{rtype}.meta.versionId"]
            )
        return Route("vread", rtype, rid, version=int(rest[2]))
    if len(rest) == 2 and rest[1].startswith("$"):
        return Route("operation", rtype, rid, operation=rest[1][1:])
    raise _unknown_path(path)
