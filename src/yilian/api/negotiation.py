"""Response format negotiation and rendering: `_format`, `Accept`, `_pretty`.

yilian speaks the JSON format only (http://hl7.org/fhir/R4/http.html#mime-type).  `_format`
overrides `Accept` (http://hl7.org/fhir/R4/http.html#general); a request that accepts no JSON
media type gets 406 rather than a body it did not ask for.  Browsers' `Accept` lists end in
`*/*`, so the OpenAPI page and a plain address bar still get JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from yilian.fhir import jsontext
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError

__all__ = ["FHIR_JSON", "Rendering", "negotiate", "render_json"]

FHIR_JSON = "application/fhir+json"
RESPONSE_MEDIA_TYPE = "application/fhir+json; charset=utf-8"

_FORMAT_JSON = frozenset({"json", "application/json", "application/fhir+json", "text/json"})
_FORMAT_KNOWN_OTHER = frozenset({"xml", "text/xml", "application/xml", "application/fhir+xml", "ttl", "html"})
_ACCEPT_JSON = frozenset(
    {"*/*", "application/*", "application/json", "application/fhir+json", "text/json", "text/*"}
)

FORMAT_PARAMETERS = frozenset({"_format", "_pretty"})
"""General parameters this module consumes; they are not passed on to the router."""


@dataclass(frozen=True, slots=True)
class Rendering:
    """How to write the response body."""

    pretty: bool = False

    def dumps(self, body: Any) -> bytes:
        return render_json(body, pretty=self.pretty)


def render_json(body: Any, *, pretty: bool = False) -> bytes:
    """Serialise a FHIR JSON body with orjson (two-space indent when `_pretty=true`), decimals
    as they were written (`fhir.jsontext`)."""
    return jsontext.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0)


def negotiate(query: Sequence[tuple[str, str]], headers: Mapping[str, str]) -> Rendering:
    """Check `_format` / `Accept` allow JSON and read `_pretty`; raise 406 otherwise."""
    fmt = _last(query, "_format")
    if fmt is not None:
        media = fmt.split(";", 1)[0].strip().lower()
        if media not in _FORMAT_JSON:
            known = "is not supported" if media in _FORMAT_KNOWN_OTHER else "is not a known format"
            raise OutcomeError(
                Outcome.NOT_ACCEPTABLE,
                IssueType.NOT_SUPPORTED,
                f"_format={fmt!r} {known}; this server returns JSON only (_format=json)",
                ["_format"],
            )
    else:
        accept = headers.get("accept", "").strip()
        if accept and not _accepts_json(accept):
            raise OutcomeError(
                Outcome.NOT_ACCEPTABLE,
                IssueType.NOT_SUPPORTED,
                f"Accept: {accept!r} excludes JSON; this server returns application/fhir+json only",
            )
    pretty = _last(query, "_pretty")
    if pretty is not None and pretty not in ("true", "false"):
        raise OutcomeError.invalid(f"_pretty must be 'true' or 'false', not {pretty!r}", ["_pretty"])
    return Rendering(pretty=pretty == "true")


def _last(query: Sequence[tuple[str, str]], name: str) -> str | None:
    found = None
    for key, value in query:
        if key == name:
            found = value
    return found


def _accepts_json(accept: str) -> bool:
    """Whether any media range in an Accept header admits JSON with a non-zero quality."""
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() not in _ACCEPT_JSON:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 1.0
        if quality > 0:
            return True
    return False
