"""The conditional parts of a request: search criteria in a URL or header, and If-Match.

Conditional create (`If-None-Exist: identifier=x|y`), conditional update / patch / delete
(`PUT Patient?identifier=x|y`) and conditional references in transactions all name resources
by a search (http://hl7.org/fhir/R4/http.html#cond-update).  The criteria are parsed strictly
whatever `Prefer: handling` says: silently dropping an unknown parameter would widen the
match and update or delete resources the client did not mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.model import Condition
from yilian.fhir.search.parse import parse_criteria
from yilian.router.headers import parse_version_tag

__all__ = ["criteria", "criteria_from_text", "if_match", "if_none_exist", "if_none_match"]


def criteria(resource_type: str, query: Sequence[tuple[str, str]], what: str) -> tuple[Condition, ...]:
    """The conditions of a conditional interaction's query (400 when empty or unknown); chained
    and `_has` conditions are allowed, as in any search."""
    if not any(k not in ("_format", "_pretty") for k, _ in query):
        raise OutcomeError.invalid(
            f"{what} needs search criteria (e.g. {resource_type}?identifier=system|value)"
        )
    return parse_criteria(resource_type, list(query))


def criteria_from_text(resource_type: str, text: str, what: str) -> tuple[Condition, ...]:
    """Criteria written as a query string: `identifier=x`, `?identifier=x` or `Patient?identifier=x`."""
    _, sep, tail = text.partition("?")
    query = tail if sep else text
    return criteria(resource_type, parse_qsl(query.strip(), keep_blank_values=True), what)


def if_none_exist(headers: Mapping[str, str]) -> str | None:
    value = headers.get("if-none-exist")
    return value if value and value.strip() else None


def if_match(headers: Mapping[str, str]) -> int | None:
    """The version an `If-Match` header requires, None when absent; 400 when malformed."""
    value = headers.get("if-match")
    if value is None or not value.strip():
        return None
    return parse_version_tag(value, "If-Match")


def if_none_match(headers: Mapping[str, str]) -> int | None:
    """The version in `If-None-Match` (a conditional read, http://hl7.org/fhir/R4/http.html#cread)."""
    value = headers.get("if-none-match")
    if value is None or not value.strip() or value.strip() == "*":
        return None
    return parse_version_tag(value, "If-None-Match")
