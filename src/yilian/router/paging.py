"""Paging links for searchset and history Bundles (http://hl7.org/fhir/R4/http.html#paging).

Links carry the normalised query (parameters sorted by name, values in the order given,
`_count` / `_offset` last), so the same query always pages the same way and a client can
follow `next` without the server keeping state.  `_offset` is a plain row offset: past the
end it yields an empty page, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from yilian.fhir.outcome import OutcomeError

__all__ = ["int_parameter", "links", "normalised_query"]

_PAGING = frozenset({"_count", "_offset"})


def normalised_query(
    query: Sequence[tuple[str, str]], drop: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """The query without paging (and `drop`) parameters, sorted stably by name."""
    kept = [(k, v) for k, v in query if k not in _PAGING and k not in drop]
    return sorted(kept, key=lambda kv: kv[0])


def int_parameter(
    query: Sequence[tuple[str, str]], name: str, default: int, *, maximum: int | None = None
) -> int:
    """A non-negative integer parameter (last occurrence wins), capped at `maximum`."""
    values = [v for k, v in query if k == name]
    if not values:
        return default
    text = values[-1].strip()
    if not text.isdigit():
        raise OutcomeError.invalid(f"{name}={values[-1]!r} is not a non-negative whole number", [name])
    value = int(text)
    return min(value, maximum) if maximum is not None else value


def links(
    url: str,
    query: Sequence[tuple[str, str]],
    *,
    count: int,
    offset: int,
    page_size: int,
    total: int | None,
) -> list[dict[str, Any]]:
    """self / first / previous / next links for the page at `offset` of `count` results.

    `next` is offered while the total says more remain, or, with no total, while the page was
    full (`page_size == count`)."""

    def at(start: int) -> str:
        params = [*query, ("_count", str(count)), ("_offset", str(start))]
        return f"{url}?{urlencode(params)}"

    out = [{"relation": "self", "url": at(offset)}, {"relation": "first", "url": at(0)}]
    if offset > 0 and count > 0:
        out.append({"relation": "previous", "url": at(max(0, offset - count))})
    more = (offset + page_size < total) if total is not None else (count > 0 and page_size >= count)
    if more and count > 0:
        out.append({"relation": "next", "url": at(offset + count)})
    return out
