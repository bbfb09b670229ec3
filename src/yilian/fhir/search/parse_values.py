"""One search value, as written in a query string, turned into a `...Query` object.

http://hl7.org/fhir/R4/search.html#ptypes says how each parameter type writes its values;
http://hl7.org/fhir/R4/search.html#escaping how `\\,` `\\$` `\\|` `\\\\` keep separators literal.
`split_escaped` splits on an unescaped separator and leaves escapes in place, so that each
level (`,` for OR, `$` for composite components, `|` inside a token, quantity or canonical)
splits its own separator and `unescape` runs once on the final piece.

Every malformed value raises `OutcomeError.invalid` naming the parameter, so a client learns
which part of its query is wrong.

Prefixes (http://hl7.org/fhir/R4/search.html#prefix) keep the value's own precision range in
`low`/`high`; what `ap` widens that to is the store's decision (`store.sql.criteria`: 10% of
the value for numbers and quantities, 10% of the distance from now and at least a day for
dates), so the parser does not widen it twice.
"""

from __future__ import annotations

from typing import get_args

from yilian.fhir.definitions.search_parameters import CompositeComponent
from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.dates import date_range
from yilian.fhir.search.model import (
    CompositeQuery,
    DateQuery,
    NumberQuery,
    Prefix,
    QuantityQuery,
    QueryValue,
    ReferenceQuery,
    StringQuery,
    TokenQuery,
    UriQuery,
)
from yilian.fhir.search.pathexpr import reference_type
from yilian.fhir.search.precision import decimal_range

__all__ = ["parse_composite", "parse_value", "split_escaped", "unescape"]

_PREFIXES: frozenset[str] = frozenset(get_args(Prefix))


def split_escaped(text: str, separator: str) -> list[str]:
    """Split on `separator` where it is not escaped by a backslash; escapes stay in place."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            current.append(ch)
            current.append(next(chars, ""))
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    """Drop the backslash of `\\,` `\\$` `\\|` `\\\\` (any other backslash is kept)."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in ",$|\\":
            out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _split_prefix(text: str, code: str) -> tuple[Prefix, str]:
    head = text[:2]
    if len(text) > 2 and head.isalpha() and (text[2].isdigit() or text[2] in "+-."):
        if head not in _PREFIXES:
            raise OutcomeError.invalid(
                f"{head!r} is not a search prefix (eq ne gt lt ge le sa eb ap) in {code}={text}", [code]
            )
        return head, text[2:]  # type: ignore[return-value]
    return "eq", text


def _date(code: str, text: str) -> DateQuery:
    prefix, rest = _split_prefix(text, code)
    try:
        low, high = date_range(rest)
    except ValueError as exc:
        raise OutcomeError.invalid(f"invalid date in {code}={text}: {exc}", [code]) from None
    return DateQuery(prefix, low, high)


def _decimal(code: str, text: str, whole: str) -> tuple[float, float, float]:
    try:
        return decimal_range(text)
    except ValueError:
        raise OutcomeError.invalid(f"{text!r} is not a number in {code}={whole}", [code]) from None


def _number(code: str, text: str) -> NumberQuery:
    prefix, rest = _split_prefix(text, code)
    value, low, high = _decimal(code, rest, text)
    return NumberQuery(prefix, value, low, high)


def _quantity(code: str, text: str) -> QuantityQuery:
    parts = split_escaped(text, "|")
    if len(parts) not in (1, 3):
        raise OutcomeError.invalid(f"a quantity is number[|system|code], not {code}={text}", [code])
    prefix, rest = _split_prefix(parts[0], code)
    value, low, high = _decimal(code, rest, text)
    system = unescape(parts[1]) if len(parts) == 3 and parts[1] else None
    unit = unescape(parts[2]) if len(parts) == 3 and parts[2] else None
    return QuantityQuery(prefix, value, low, high, system, unit)


def _token(text: str) -> TokenQuery:
    parts = split_escaped(text, "|")
    if len(parts) == 1:
        return TokenQuery(None, unescape(parts[0]))
    system, code = unescape(parts[0]), unescape("|".join(parts[1:]))
    return TokenQuery(system, code or None)


def _of_type(code: str, text: str) -> TokenQuery:
    """`identifier:of-type=system|type-code|value` (http://hl7.org/fhir/R4/search.html#token)."""
    parts = split_escaped(text, "|")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise OutcomeError.invalid(
            f":of-type takes system|type-code|value, not {code}:of-type={text}", [code]
        )
    system = unescape(parts[0])
    return TokenQuery(system or None, f"{unescape(parts[1])}|{unescape(parts[2])}")


def _reference(code: str, text: str, type_modifier: str | None) -> ReferenceQuery:
    value = unescape(text)
    if value.startswith(("http://", "https://", "urn:")) or "|" in value:
        url, _, version = value.partition("|")
        return ReferenceQuery(url=url, version=version or None)
    rtype = reference_type(value)
    if rtype is not None:
        parts = value.split("/")
        if type_modifier is not None and rtype != type_modifier:
            raise OutcomeError.invalid(f"{code}:{type_modifier}={text} names a {rtype}", [code])
        return ReferenceQuery(type=parts[0], id=parts[1])
    if "/" in value:
        raise OutcomeError.invalid(
            f"{value!r} is not a reference (Type/id, an id, or a URL) in {code}", [code]
        )
    return ReferenceQuery(type=type_modifier, id=value)


def parse_value(ptype: str, modifier: str | None, code: str, text: str) -> QueryValue:
    """One (already OR-split) value of parameter `code` of type `ptype` under `modifier`.

    `ptype` is the type after the modifier applies: `:text` gives "string", `:identifier`
    gives "token"; `modifier` is still passed for `:of-type` and `:Type` on references."""
    if text == "":
        raise OutcomeError.invalid(f"empty value in {code}", [code])
    if ptype == "string":
        return StringQuery(unescape(text))
    if ptype == "token":
        return _of_type(code, text) if modifier == "of-type" else _token(text)
    if ptype == "date":
        return _date(code, text)
    if ptype == "number":
        return _number(code, text)
    if ptype == "quantity":
        return _quantity(code, text)
    if ptype == "reference":
        type_modifier = modifier if modifier and modifier[0].isupper() else None
        return _reference(code, text, type_modifier)
    if ptype == "uri":
        return UriQuery(unescape(text))
    raise OutcomeError.not_supported(f"search parameter {code} of type {ptype} is not supported", [code])


def parse_composite(code: str, components: tuple[CompositeComponent, ...], text: str) -> CompositeQuery:
    """`code-value-quantity=http://loinc.org|8480-6$gt100`: one value per component, by `$`."""
    parts = split_escaped(text, "$")
    if len(parts) != len(components):
        raise OutcomeError.invalid(
            f"{code} takes {len(components)} components separated by '$' "
            f"({'$'.join(c.code for c in components)}), not {text!r}",
            [code],
        )
    if any(c.type == "composite" for c in components):
        raise OutcomeError.not_supported(f"{code} nests a composite parameter", [code])
    return CompositeQuery(
        tuple(parse_value(c.type, None, code, p) for c, p in zip(components, parts, strict=True))
    )
