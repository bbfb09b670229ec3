"""The conditional parts of a request: search criteria in a URL or header, and If-Match.

Conditional create (`If-None-Exist: identifier=x|y`), conditional update / patch / delete
(`PUT Patient?identifier=x|y`) and conditional references in transactions all name resources
by a search (http://hl7.org/fhir/R4/http.html#cond-update).  The criteria are parsed strictly
whatever `Prefer: handling` says: silently dropping an unknown parameter would widen the
match and update or delete resources the client did not mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast
from urllib.parse import parse_qsl

from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.model import Criterion
from yilian.fhir.search.parse import parse_criteria
from yilian.router.headers import parse_version_tag

__all__ = ["criteria", "criteria_from_text", "if_match", "if_none_exist", "if_none_match"]


def criteria(resource_type: str, query: Sequence[tuple[str, str]], what: str) -> tuple[Criterion, ...]:
    """The conditions of a conditional interaction's query (400 when empty or unknown).

    The parser may return chained and `_has` conditions; the store's `resolve_ids` runs them
    like any search condition, but `store.base` annotates its argument as `Criterion`, so the
    value is cast here, in the one place conditions enter the conditional interactions."""
    if not any(k not in ("_format", "_pretty") for k, _ in query):
        raise OutcomeError.invalid(
            f"{what} needs search criteria (e.g. {resource_type}?identifier=system|value)"
        )
    return cast("tuple[Criterion, ...]", parse_criteria(resource_type, list(query)))


def criteria_from_text(resource_type: str, text: str, what: str) -> tuple[Criterion, ...]:
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
