"""The HTTP headers FHIR gives meaning to: ETag, Last-Modified, Location, If-Match, Prefer.

* ETag is the weak version tag `W/"<versionId>"`; If-Match carries one back for a versioned
  update (http://hl7.org/fhir/R4/http.html#versioning).
* Last-Modified is `meta.lastUpdated` as an HTTP date (RFC 7231 section 7.1.1.1).
* Location is `<base>/Type/id/_history/<version>` after create and update.
* Prefer: `return=minimal|representation|OperationOutcome` (http://hl7.org/fhir/R4/http.html#ops)
  and `handling=strict|lenient` (http://hl7.org/fhir/R4/search.html#errors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Literal

from yilian.fhir.outcome import OutcomeError
from yilian.store.base import StoredResource

__all__ = [
    "ReturnPreference",
    "etag",
    "http_date",
    "parse_version_tag",
    "prefer_handling",
    "prefer_return",
    "version_headers",
]

ReturnPreference = Literal["minimal", "representation", "OperationOutcome"]

_TAG = re.compile(r'\s*(?:W/)?"([0-9]+)"\s*')
_RETURNS: dict[str, ReturnPreference] = {
    "minimal": "minimal",
    "representation": "representation",
    "operationoutcome": "OperationOutcome",
}


def etag(version: int) -> str:
    return f'W/"{version}"'


@lru_cache(maxsize=4096)
def http_date(instant: str) -> str:
    """A FHIR instant (`2026-11-23T01:02:03.456+00:00`) as an HTTP date in GMT."""
    try:
        parsed = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return format_datetime(parsed.astimezone(UTC), usegmt=True)


def version_headers(stored: StoredResource, base_url: str = "", *, location: bool = False) -> dict[str, str]:
    """ETag and Last-Modified for a stored version, plus Location when asked."""
    headers = {"ETag": etag(stored.version), "Last-Modified": http_date(stored.last_updated)}
    if location:
        prefix = f"{base_url.rstrip('/')}/" if base_url else ""
        headers["Location"] = f"{prefix}{stored.resource_type}/{stored.id}/_history/{stored.version}"
    return headers


def parse_version_tag(value: str, header: str = "If-Match") -> int:
    """The version in an entity tag `W/"3"` (or `"3"`, or a bare `3` as some clients send).

    Raises OutcomeError 400 naming the header when the value is not a version tag."""
    match = _TAG.fullmatch(value)
    if match is None and value.strip().isdigit():
        return int(value.strip())
    if match is None:
        raise OutcomeError.invalid(
            f'{header} {value!r} is not a version entity tag such as W/"3"', [f"http.header.{header}"]
        )
    return int(match.group(1))


def _prefer(headers: Mapping[str, str], key: str) -> str | None:
    for part in headers.get("prefer", "").split(";"):
        for token in part.split(","):
            name, sep, value = token.strip().partition("=")
            if sep and name.strip().lower() == key:
                return value.strip().strip('"')
    return None


def prefer_return(headers: Mapping[str, str]) -> ReturnPreference:
    """The `Prefer: return=` the client asked for; representation when absent or unknown."""
    value = _prefer(headers, "return")
    return _RETURNS.get((value or "").lower(), "representation")


def prefer_handling(headers: Mapping[str, str], default: Literal["strict", "lenient"]) -> bool:
    """True when unknown search parameters are errors (`Prefer: handling=strict`)."""
    value = (_prefer(headers, "handling") or "").lower()
    if value in ("strict", "lenient"):
        return value == "strict"
    return default == "strict"
