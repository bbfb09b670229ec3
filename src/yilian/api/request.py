"""HTTP request -> `FhirRequest`: base resolution, path, query, headers and body.

Base resolution (http://hl7.org/fhir/R4/http.html#root): everything under `/fhir/` is FHIR.
When the first segment looks like an institution code (`^[a-z0-9][a-z0-9-]*$`) and is not a
reserved word, it selects that institution's base `/fhir/{code}/`; otherwise the request is on
the alliance-wide base `/fhir/`.  Resource types begin with an upper-case letter and system
segments (`_history`, `_search`, `$operation`) with `_` or `$`, so the only word that needs
reserving is `metadata`.  Whether the institution exists is the router's question, not this
module's: it only reads the URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from starlette.requests import Request

from yilian.api.body import BodyLimits, parse_body, read_limited
from yilian.api.negotiation import FORMAT_PARAMETERS, Rendering, negotiate
from yilian.auth.principal import Principal
from yilian.bulk.uploads import UPLOAD_OPERATION
from yilian.router.types import FhirRequest

__all__ = [
    "FHIR_PREFIX",
    "RESERVED_SEGMENTS",
    "build_fhir_request",
    "query_items",
    "request_headers",
    "split_base",
]

FHIR_PREFIX = "/fhir"
RESERVED_SEGMENTS = frozenset({"metadata"})
UPLOAD_SEGMENT = f"${UPLOAD_OPERATION}"
_INSTITUTION = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """What the endpoint needs: the router's request and how to render the answer."""

    fhir: FhirRequest
    rendering: Rendering


@lru_cache(maxsize=1024)
def split_base(rest: str) -> tuple[str | None, tuple[str, ...]]:
    """(institution code or None, path segments after the base) for the part after `/fhir/`."""
    segments = tuple(s for s in rest.split("/") if s)
    if segments and _INSTITUTION.fullmatch(segments[0]) and segments[0] not in RESERVED_SEGMENTS:
        return segments[0], segments[1:]
    return None, segments


def base_url(request: Request, partition: str | None, host: str | None = None) -> str:
    """The absolute base of this request (`http://host:port/fhir[/code]`), from the Host
    header the client used, so Location headers and Bundle links point where it connected."""
    scope = request.scope
    host = host or request.headers.get("host")
    if not host:
        return _base_from_url(request, partition)
    root = scope.get("root_path", "").rstrip("/")
    base = f"{scope.get('scheme', 'http')}://{host}{root}{FHIR_PREFIX}"
    return f"{base}/{partition}" if partition else base


def _base_from_url(request: Request, partition: str | None) -> str:
    root = request.scope.get("root_path", "").rstrip("/")
    base = f"{request.url.scheme}://{request.url.netloc}{root}{FHIR_PREFIX}"
    return f"{base}/{partition}" if partition else base


def query_items(request: Request) -> list[tuple[str, str]]:
    """The query parameters in order (none parsed when there is no query string)."""
    if not request.scope.get("query_string"):
        return []
    return list(request.query_params.multi_items())


def request_headers(request: Request) -> dict[str, str]:
    """The headers with lower-case names, repeated ones joined."""
    return {k.lower(): v for k, v in _joined_headers(request)}


async def build_fhir_request(
    request: Request,
    rest: str,
    limits: BodyLimits,
    principal: Principal | None = None,
    headers: dict[str, str] | None = None,
) -> IncomingRequest:
    """Read and check everything about an HTTP request the router must not have to.  The
    credentials stay here: `authorization` is not passed on to the router (or its logs)."""
    method = request.method.upper()
    partition, path = split_base(rest)
    query = query_items(request)
    headers = dict(headers if headers is not None else request_headers(request))
    headers.pop("authorization", None)
    rendering = negotiate(query, headers)
    body = None
    if method in ("POST", "PUT", "PATCH"):
        raw = await read_limited(request.stream(), headers.get("content-length"), limits.max_bytes)
        if method == "POST" and path and path[-1] == UPLOAD_SEGMENT:
            body = raw  # a chunk of a staged $import input, kept as the bytes sent (bulk/uploads.py)
        else:
            parsed = parse_body(
                raw,
                headers.get("content-type"),
                method=method,
                is_search=bool(path) and path[-1] == "_search",
                limits=limits,
            )
            body = parsed.json
            query.extend(parsed.form)
    fhir = FhirRequest(
        method="GET" if method == "HEAD" else method,
        path=path,
        partition=partition,
        query=tuple((k, v) for k, v in query if k not in FORMAT_PARAMETERS),
        headers=headers,
        body=body,
        base_url=base_url(request, partition, headers.get("host")),
        principal=principal,
    )
    return IncomingRequest(fhir, rendering)


def _joined_headers(request: Request) -> list[tuple[str, str]]:
    """Headers with repeated names joined by `, ` (RFC 9110 section 5.3).

    Values are read as UTF-8 where they are valid UTF-8 (Starlette reads them as Latin-1), so a
    break-the-glass reason written in Chinese arrives as written."""
    merged: dict[str, str] = {}
    for raw_key, raw_value in request.scope["headers"]:
        key = raw_key.decode("latin-1").lower()
        try:
            value = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            value = raw_value.decode("latin-1")
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return list(merged.items())
