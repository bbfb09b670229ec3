"""The router's request and response: plain values, no HTTP framework.

`api` builds a `FhirRequest` from an HTTP request and turns the `FhirResponse` back into one;
batch/transaction entries and the CLI build `FhirRequest`s directly, so every interaction has
one implementation whichever edge it arrives through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from yilian.auth.principal import Principal
from yilian.fhir.outcome import Outcome

__all__ = ["FhirRequest", "FhirResponse"]


@dataclass(frozen=True, slots=True)
class FhirRequest:
    """One FHIR interaction.

    `partition` is the institution code from `/fhir/{institution}/`, or None for the
    alliance-wide base `/fhir/`.  `path` is what follows the base, split on `/` with empty
    segments removed (`["Patient", "123", "_history", "2"]`).  `query` keeps repeated
    parameters in order.  `headers` keys are lower-case.  `body` is the parsed JSON body (the
    api layer rejects malformed JSON before the router sees it), or None.  `principal` is the
    authenticated caller the api layer verified."""

    method: str
    path: tuple[str, ...]
    partition: str | None = None
    query: Sequence[tuple[str, str]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    base_url: str = ""  # absolute base of this request, e.g. http://host:8080/fhir/clinic-a
    principal: Principal | None = None  # None: authentication is off (development)


@dataclass(slots=True)
class FhirResponse:
    """An interaction's result: the outcome kind (mapped to a status code in one place,
    `router.status`), a resource body or None, and extra headers (ETag, Location,
    Last-Modified, Content-Location)."""

    outcome: Outcome
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
