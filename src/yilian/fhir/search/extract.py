"""Search-index values extracted from a resource at write time.

For every search parameter the R4 registry defines on a resource type (the common `_tag`,
`_profile`, `_security`, `_source` included; `_id` and `_lastUpdated` are store columns),
`index_values` evaluates the parameter's FHIRPath expression and converts what it finds into
the `...Value` objects of `search.model`, by parameter type and JSON shape
(http://hl7.org/fhir/R4/search.html#ptypes).  Expressions are compiled once per resource type
(`pathexpr`), so a write costs a walk over the JSON, not a FHIRPath interpretation.  Which
parameters can yield anything is decided once per resource *shape* (its type and top-level
members), and equal value objects are shared through bounded caches, since codes, displays,
references and dates recur across the resources of one load.

Extraction never fails on odd content: an element that does not convert (a malformed date, a
string where a Coding belongs) is skipped; validation is a separate step.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from yilian.fhir.definitions import SearchParameterDef, registry
from yilian.fhir.jsontext import DecimalText
from yilian.fhir.search.dates import date_range
from yilian.fhir.search.model import (
    DATE_MAX,
    DATE_MIN,
    CompositeValue,
    DateValue,
    IndexValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
    normalize_string,
)
from yilian.fhir.search.pathexpr import (
    Evaluator,
    choice_stems,
    compile_path,
    reference_type,
    top_level_names,
    uses_resource,
)
from yilian.fhir.search.precision import decimal_range, number_range

__all__ = ["index_values", "values_for"]

# The store keeps these as columns of the resource row, not as index rows.
_COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_CURRENCY_SYSTEM = "urn:iso:std:iso:4217"
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")

Converter = Callable[[str, Any, list[IndexValue]], None]
"""Appends the index values of one FHIRPath result item to the list it is given."""
Extractor = Callable[[dict[str, Any]], list[IndexValue]]

_CACHE = 1 << 14
"""Entries per value cache: enough for a load's recurring codes and references, and a
bounded few MB each however many distinct values stream past (server memory stays flat)."""

# Value objects are immutable and recur across resources (the same LOINC code, status,
# display, practitioner reference), so equal ones are shared: a dict lookup instead of a
# frozen dataclass construction.  Bounded, so an endless stream of distinct values is fine.
_token = lru_cache(maxsize=_CACHE)(TokenValue)
_string = lru_cache(maxsize=_CACHE)(StringValue)
_reference = lru_cache(maxsize=_CACHE)(ReferenceValue)
_date = lru_cache(maxsize=_CACHE)(DateValue)
_uri = lru_cache(maxsize=_CACHE)(UriValue)


# --------------------------------------------------------------------------- converters


@lru_cache(maxsize=1 << 16)
def _normalized(text: str) -> str:
    """`normalize_string`, with an exact shortcut for ASCII (no accents, casefold is lower)
    and a cache, since displays and names repeat across resources."""
    if text.isascii():
        return " ".join(text.lower().split())
    return normalize_string(text)


@lru_cache(maxsize=_CACHE)
def _string_value(param: str, text: str) -> StringValue:
    return StringValue(param, text, _normalized(text))


def _strings(param: str, item: Any, out: list[IndexValue]) -> None:
    """string <- string/markdown, and the text parts of HumanName and Address."""
    if type(item) is str:
        if item:
            out.append(_string_value(param, item))
        return
    if type(item) is not dict:
        return
    parts = _NAME_PARTS if ("family" in item or "given" in item) else _ADDRESS_PARTS
    for key in parts:
        value = item.get(key)
        if value is None:
            continue
        for text in value if type(value) is list else (value,):
            if type(text) is str and text:
                out.append(_string_value(param, text))


def _display(text: Any) -> str | None:
    return _normalized(text) if type(text) is str and text else None


def _coding(param: str, coding: Any) -> TokenValue | None:
    if type(coding) is not dict:
        return None
    system, code = coding.get("system"), coding.get("code")
    if type(code) is not str:
        code = None
    if type(system) is not str:
        system = None
    if code is None and system is None:
        return None
    display = coding.get("display")
    return _token(param, system, code, _normalized(display) if type(display) is str and display else None)


def _tokens(param: str, item: Any, out: list[IndexValue]) -> None:
    """token <- code/id/string/uri/boolean, Coding, CodeableConcept, Identifier, ContactPoint.

    Numbers are not tokens: a bare number here is malformed content and is skipped."""
    kind = type(item)
    if kind is str:
        if item:
            out.append(_token(param, None, item, None))
    elif kind is dict:
        if "coding" in item or ("text" in item and "value" not in item and "code" not in item):
            codings = item.get("coding")
            if type(codings) is list:
                for coding in codings:
                    token = _coding(param, coding)
                    if token is not None:
                        out.append(token)
            text = _display(item.get("text"))
            if text is not None:
                out.append(_token(param, None, None, text))
        elif "value" in item:
            _identifier_or_contact(param, item, out)
        else:
            token = _coding(param, item)
            if token is not None:
                out.append(token)
    elif kind is bool:
        out.append(_token(param, None, "true" if item else "false", None))


def _identifier_or_contact(param: str, item: dict[str, Any], out: list[IndexValue]) -> None:
    value, system = item.get("value"), item.get("system")
    if type(value) is not str or not value:
        return
    if type(system) is not str:
        system = None
    if system in _CONTACT_SYSTEMS and "type" not in item and "assigner" not in item:
        # ContactPoint: its system says phone/email, which is no namespace for the value.
        out.append(_token(param, None, value, None))
        return
    id_type = item.get("type")
    if type(id_type) is not dict:
        out.append(TokenValue(param, system, value, None))
        return
    out.append(TokenValue(param, system, value, _display(id_type.get("text"))))
    codings = id_type.get("coding")
    for coding in codings if type(codings) is list else ():
        if type(coding) is dict and type(coding.get("code")) is str:
            type_system = coding.get("system")
            out.append(
                TokenValue(
                    f"{param}:of-type",
                    type_system if type(type_system) is str else None,
                    f"{coding['code']}|{value}",
                )
            )


@lru_cache(maxsize=_CACHE)
def _reference_text(param: str, text: str) -> ReferenceValue | None:
    if not text or text.startswith("#"):
        return None  # a contained resource is not indexed on its own
    if text.startswith(("urn:", "http://", "https://")) or "|" in text or reference_type(text) is None:
        url, _, version = text.partition("|")
        return ReferenceValue(param, url=url, version=version or None)
    parts = text.split("/")
    return ReferenceValue(param, target_type=parts[0], target_id=parts[1])


def _references(param: str, item: Any, out: list[IndexValue]) -> None:
    """reference <- Reference (literal and logical), canonical, uri, or an inline resource."""
    if type(item) is str:
        value = _reference_text(param, item)
        if value is not None:
            out.append(value)
        return
    if type(item) is not dict:
        return
    rtype = item.get("resourceType")
    if type(rtype) is str:
        rid = item.get("id")
        if type(rid) is str:
            out.append(_reference(param, rtype, rid))
        return
    ref = item.get("reference")
    literal = _reference_text(param, ref) if type(ref) is str else None
    identifier = item.get("identifier")
    if type(identifier) is dict and type(identifier.get("value")) is str:
        system = identifier.get("system")
        base = literal or ReferenceValue(param)
        out.append(
            ReferenceValue(
                param,
                base.target_type,
                base.target_id,
                base.url,
                base.version,
                system if type(system) is str else None,
                identifier["value"],
            )
        )
    elif literal is not None:
        out.append(literal)


def _date_bounds(text: Any) -> tuple[str, str] | None:
    return _cached_date_range(text) if type(text) is str else None


@lru_cache(maxsize=_CACHE)
def _cached_date_range(text: str) -> tuple[str, str] | None:
    """`date_range`, cached: one event's time recurs across its Encounter, Claim, EOB..."""
    try:
        return date_range(text)
    except ValueError:
        return None


def _dates(param: str, item: Any, out: list[IndexValue]) -> None:
    """date <- date/dateTime/instant, Period (open ends), Timing (events and bounds)."""
    if type(item) is str:
        bounds = _cached_date_range(item)
        if bounds is not None:
            out.append(_date(param, bounds[0], bounds[1]))
        return
    if type(item) is not dict:
        return
    bounds = _dict_bounds(item)
    if bounds is not None:
        out.append(_date(param, bounds[0], bounds[1]))


def _dict_bounds(item: dict[str, Any]) -> tuple[str, str] | None:
    """The range of a Period (open ends) or a Timing (events and bounds)."""
    if "start" in item or "end" in item:
        start, end = _date_bounds(item.get("start")), _date_bounds(item.get("end"))
        if start is None and end is None:
            return None
        return (start[0] if start else DATE_MIN, end[1] if end else DATE_MAX)
    events = item.get("event")
    ranges = [b for b in map(_date_bounds, events or ()) if b is not None]
    repeat = item.get("repeat")
    if type(repeat) is dict and type(repeat.get("boundsPeriod")) is dict:
        period = _dict_bounds(repeat["boundsPeriod"])
        if period is not None:
            ranges.append(period)
    if not ranges:
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def _number_bounds(value: Any) -> tuple[float, float] | None:
    kind = type(value)
    if kind is DecimalText:  # the precision its text was written with (`1.50`, `1.0e2`)
        return _cached_text_range(value.text)
    if kind is not int and kind is not float:
        # bool is not a number here; other int/float subclasses are not JSON
        return None
    return _cached_number_range(value)


@lru_cache(maxsize=_CACHE)
def _cached_text_range(text: str) -> tuple[float, float] | None:
    try:
        _, low, high = decimal_range(text)
    except ValueError:  # not finite
        return None
    return low, high


@lru_cache(maxsize=_CACHE, typed=True)  # typed: 1 and 1.0 have different precisions
def _cached_number_range(value: float) -> tuple[float, float] | None:
    try:
        return number_range(value)
    except ValueError:  # not finite
        return None


def _numbers(param: str, item: Any, out: list[IndexValue]) -> None:
    """number <- decimal/integer (range from precision), Quantity value, Range."""
    bounds = _number_bounds(item)
    if bounds is None and type(item) is dict:
        if "value" in item:
            bounds = _number_bounds(item["value"])
        elif "low" in item or "high" in item:
            bounds = _range_bounds(item)
    if bounds is not None:
        out.append(NumberValue(param, bounds[0], bounds[1]))


def _range_bounds(item: dict[str, Any]) -> tuple[float, float] | None:
    low, high = item.get("low"), item.get("high")
    low_b = _number_bounds(low.get("value")) if type(low) is dict else None
    high_b = _number_bounds(high.get("value")) if type(high) is dict else None
    if low_b is None and high_b is None:
        return None
    return (low_b[0] if low_b else -float("inf")), (high_b[1] if high_b else float("inf"))


def _unit(item: Any) -> tuple[str | None, str | None, str | None]:
    if type(item) is not dict:
        return None, None, None
    system, code, unit = item.get("system"), item.get("code"), item.get("unit")
    currency = item.get("currency")
    if type(currency) is str and system is None and code is None:
        system, code = _CURRENCY_SYSTEM, currency
    return (
        system if type(system) is str else None,
        code if type(code) is str else None,
        unit if type(unit) is str else None,
    )


def _quantities(param: str, item: Any, out: list[IndexValue]) -> None:
    """quantity <- Quantity/SimpleQuantity/Money/Duration/Age (precision range), Range."""
    if type(item) is not dict:
        return
    if "value" in item:
        bounds = _number_bounds(item["value"])
        if bounds is not None:
            out.append(QuantityValue(param, bounds[0], bounds[1], *_unit(item)))
    elif "low" in item or "high" in item:
        bounds = _range_bounds(item)
        if bounds is not None:
            low, high = item.get("low"), item.get("high")
            unit = _unit(low if type(low) is dict and "value" in low else high)
            out.append(QuantityValue(param, bounds[0], bounds[1], *unit))


def _uris(param: str, item: Any, out: list[IndexValue]) -> None:
    """uri <- uri/url/canonical/oid/uuid strings."""
    if type(item) is str and item:
        out.append(_uri(param, item))


_CONVERTERS: dict[str, Converter] = {
    "string": _strings,
    "token": _tokens,
    "reference": _references,
    "date": _dates,
    "number": _numbers,
    "quantity": _quantities,
    "uri": _uris,
}


# --------------------------------------------------------------------------- compilation


def _simple(code: str, evaluate: Evaluator, convert: Converter) -> Extractor:
    def extract(resource: dict[str, Any]) -> list[IndexValue]:
        out: list[IndexValue] = []
        for item in evaluate([resource]):
            convert(code, item, out)
        return out

    return extract


def _composite(param: SearchParameterDef) -> Extractor:
    base = compile_path(param.expression, param.resource_type)
    parts = [
        (
            comp.code,
            compile_path(comp.expression, param.resource_type if uses_resource(comp.expression) else None),
            uses_resource(comp.expression),
            _CONVERTERS[comp.type],
        )
        for comp in reversed(param.components)
    ]
    code = param.code

    def extract(resource: dict[str, Any]) -> list[IndexValue]:
        out: list[IndexValue] = []
        for element in base([resource]):
            per_component: list[list[IndexValue]] = []
            # Last component first: it is usually the value, the one most often absent.
            for comp_code, evaluate, from_resource, convert in parts:
                values: list[IndexValue] = []
                for item in evaluate([resource] if from_resource else [element]):
                    convert(comp_code, item, values)
                # A text-only token (CodeableConcept.text) has no code to combine on.
                values = [v for v in values if not _text_only(v)]
                if not values:
                    break
                per_component.append(list(dict.fromkeys(values)))
            else:
                per_component.reverse()
                out.extend(CompositeValue(code, combo) for combo in itertools.product(*per_component))
        return out

    return extract


def _text_only(value: IndexValue) -> bool:
    return type(value) is TokenValue and value.code is None


def _extractor(param: SearchParameterDef) -> Extractor | None:
    if param.code in _COLUMN_PARAMS or not param.expression:
        return None
    if param.type == "composite":
        return _composite(param) if param.components else None
    convert = _CONVERTERS.get(param.type)
    if convert is None:
        return None
    return _simple(param.code, compile_path(param.expression, param.resource_type), convert)


def _requirements(param: SearchParameterDef) -> tuple[frozenset[str], ...] | None:
    """Sets of top-level members of which the resource must have at least one each for the
    parameter to yield anything; () when unknown (always run), None when it never can."""
    names = top_level_names(param.expression, param.resource_type)
    if names is not None and not names:
        return None
    if param.type != "composite" or param.expression != param.resource_type:
        return (names,) if names is not None else ()
    # A composite over the resource itself needs every component present.
    parts = [top_level_names(c.expression, param.resource_type) for c in param.components]
    return tuple(p for p in parts if p is not None)


@cache
def _extractors(resource_type: str) -> tuple[tuple[tuple[frozenset[str], ...], Extractor], ...]:
    """Every parameter's compiled extractor for `resource_type`, built once per process, with
    what the resource must hold for it to be worth running."""
    built: list[tuple[tuple[frozenset[str], ...], Extractor]] = []
    for param in registry().for_type(resource_type).values():
        extractor = _extractor(param)
        requirements = _requirements(param)
        if extractor is not None and requirements is not None:
            built.append((requirements, extractor))
    return tuple(built)


def values_for(param: SearchParameterDef, resource: dict[str, Any]) -> list[IndexValue]:
    """The index values of one parameter (compiled on each call: for tests and tools)."""
    extractor = _extractor(param)
    return list(dict.fromkeys(extractor(resource))) if extractor is not None else []


@lru_cache(maxsize=4096)
def _plan(resource_type: str, keys: tuple[str, ...]) -> tuple[Extractor, ...]:
    """The extractors worth running on a `resource_type` whose top-level JSON members are
    `keys`: resources of one type come in few shapes, so this is decided once per shape
    rather than once per parameter and resource."""
    stems = choice_stems(resource_type)
    present = {stems.get(key, key) for key in keys}
    return tuple(
        extract
        for requirements, extract in _extractors(resource_type)
        if all(not names.isdisjoint(present) for names in requirements)
    )


def index_values(resource: dict[str, Any]) -> list[IndexValue]:
    """Every search-index value of `resource`, without duplicates, in parameter order.

    A resource type the registry does not know still gets the common parameters."""
    rtype = resource.get("resourceType")
    if type(rtype) is not str:
        return []
    out: list[IndexValue] = []
    for extract in _plan(rtype, tuple(resource)):
        out += extract(resource)
    return list(dict.fromkeys(out))
