"""Search-index values extracted from a resource at write time.

For every search parameter the R4 registry defines on a resource type (the common `_tag`,
`_profile`, `_security`, `_source` included; `_id` and `_lastUpdated` are store columns),
`index_values` evaluates the parameter's FHIRPath expression and converts what it finds into
the `...Value` objects of `search.model`, by parameter type and JSON shape
(http://hl7.org/fhir/R4/search.html#ptypes).  Expressions are compiled once per resource type
(`pathexpr`), so a write costs a walk over the JSON, not a FHIRPath interpretation.

Extraction never fails on odd content: an element that does not convert (a malformed date, a
string where a Coding belongs) is skipped; validation is a separate step.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from typing import Any

from yilian.fhir.definitions import SearchParameterDef, registry
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
from yilian.fhir.search.precision import number_range

__all__ = ["index_values", "values_for"]

# The store keeps these as columns of the resource row, not as index rows.
_COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_CURRENCY_SYSTEM = "urn:iso:std:iso:4217"
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")

Converter = Callable[[str, Any], Iterator[IndexValue]]
Extractor = Callable[[dict[str, Any]], list[IndexValue]]


# --------------------------------------------------------------------------- converters


@lru_cache(maxsize=65536)
def _normalized(text: str) -> str:
    """`normalize_string`, with an exact shortcut for ASCII (no accents, casefold is lower)
    and a cache, since displays and names repeat across resources."""
    if text.isascii():
        return " ".join(text.lower().split())
    return normalize_string(text)


def _strings(param: str, item: Any) -> Iterator[IndexValue]:
    """string <- string/markdown, and the text parts of HumanName and Address."""
    if isinstance(item, str):
        if item:
            yield StringValue(param, item, _normalized(item))
        return
    if not isinstance(item, dict):
        return
    parts = _NAME_PARTS if ("family" in item or "given" in item) else _ADDRESS_PARTS
    for key in parts:
        value = item.get(key)
        for text in value if isinstance(value, list) else (value,):
            if isinstance(text, str) and text:
                yield StringValue(param, text, _normalized(text))


def _display(text: Any) -> str | None:
    return _normalized(text) if isinstance(text, str) and text else None


def _coding(param: str, coding: Any) -> TokenValue | None:
    if not isinstance(coding, dict):
        return None
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(code, str):
        code = None
    if not isinstance(system, str):
        system = None
    if code is None and system is None:
        return None
    return TokenValue(param, system, code, _display(coding.get("display")))


def _tokens(param: str, item: Any) -> Iterator[IndexValue]:
    """token <- code/id/string/uri/boolean, Coding, CodeableConcept, Identifier, ContactPoint.

    Numbers are not tokens: a bare number here is malformed content and is skipped."""
    if isinstance(item, bool):
        yield TokenValue(param, None, "true" if item else "false")
    elif isinstance(item, str):
        if item:
            yield TokenValue(param, None, item)
    elif isinstance(item, dict):
        if "coding" in item or ("text" in item and "value" not in item and "code" not in item):
            for coding in item.get("coding") or ():
                token = _coding(param, coding)
                if token is not None:
                    yield token
            text = _display(item.get("text"))
            if text is not None:
                yield TokenValue(param, None, None, text)
        elif "value" in item:
            yield from _identifier_or_contact(param, item)
        else:
            token = _coding(param, item)
            if token is not None:
                yield token


def _identifier_or_contact(param: str, item: dict[str, Any]) -> Iterator[IndexValue]:
    value, system = item.get("value"), item.get("system")
    if not isinstance(value, str) or not value:
        return
    if not isinstance(system, str):
        system = None
    if system in _CONTACT_SYSTEMS and "type" not in item and "assigner" not in item:
        # ContactPoint: its system says phone/email, which is no namespace for the value.
        yield TokenValue(param, None, value)
        return
    id_type = item.get("type")
    yield TokenValue(
        param, system, value, _display(id_type.get("text")) if isinstance(id_type, dict) else None
    )
    if isinstance(id_type, dict):
        for coding in id_type.get("coding") or ():
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                type_system = coding.get("system")
                yield TokenValue(
                    f"{param}:of-type",
                    type_system if isinstance(type_system, str) else None,
                    f"{coding['code']}|{value}",
                )


def _reference_text(param: str, text: str) -> ReferenceValue | None:
    if not text or text.startswith("#"):
        return None  # a contained resource is not indexed on its own
    if text.startswith(("urn:", "http://", "https://")) or "|" in text or reference_type(text) is None:
        url, _, version = text.partition("|")
        return ReferenceValue(param, url=url, version=version or None)
    parts = text.split("/")
    return ReferenceValue(param, target_type=parts[0], target_id=parts[1])


def _references(param: str, item: Any) -> Iterator[IndexValue]:
    """reference <- Reference (literal and logical), canonical, uri, or an inline resource."""
    if isinstance(item, str):
        value = _reference_text(param, item)
        if value is not None:
            yield value
        return
    if not isinstance(item, dict):
        return
    if isinstance(item.get("resourceType"), str):
        if isinstance(item.get("id"), str):
            yield ReferenceValue(param, target_type=item["resourceType"], target_id=item["id"])
        return
    ref = item.get("reference")
    literal = _reference_text(param, ref) if isinstance(ref, str) else None
    identifier = item.get("identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
        system = identifier.get("system")
        base = literal or ReferenceValue(param)
        yield ReferenceValue(
            param,
            base.target_type,
            base.target_id,
            base.url,
            base.version,
            system if isinstance(system, str) else None,
            identifier["value"],
        )
    elif literal is not None:
        yield literal


def _date_bounds(text: Any) -> tuple[str, str] | None:
    return _cached_date_range(text) if isinstance(text, str) else None


@lru_cache(maxsize=16384)
def _cached_date_range(text: str) -> tuple[str, str] | None:
    """`date_range`, cached: one event's time recurs across its Encounter, Claim, EOB..."""
    try:
        return date_range(text)
    except ValueError:
        return None


def _dates(param: str, item: Any) -> Iterator[IndexValue]:
    """date <- date/dateTime/instant, Period (open ends), Timing (events and bounds)."""
    if isinstance(item, str):
        bounds = _date_bounds(item)
        if bounds is not None:
            yield DateValue(param, *bounds)
        return
    if not isinstance(item, dict):
        return
    if "start" in item or "end" in item:
        start, end = _date_bounds(item.get("start")), _date_bounds(item.get("end"))
        if start is not None or end is not None:
            yield DateValue(param, start[0] if start else DATE_MIN, end[1] if end else DATE_MAX)
        return
    ranges = [b for b in map(_date_bounds, item.get("event") or ()) if b is not None]
    repeat = item.get("repeat")
    if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
        ranges.extend(_dates_of_period(repeat["boundsPeriod"]))
    if ranges:
        yield DateValue(param, min(r[0] for r in ranges), max(r[1] for r in ranges))


def _dates_of_period(period: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for value in _dates("", period):
        assert isinstance(value, DateValue)
        yield value.low, value.high


def _number_bounds(value: Any) -> tuple[float, float] | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return number_range(value)
    except ValueError:  # not finite
        return None


def _numbers(param: str, item: Any) -> Iterator[IndexValue]:
    """number <- decimal/integer (range from precision), Quantity value, Range."""
    bounds = _number_bounds(item)
    if bounds is None and isinstance(item, dict):
        if "value" in item:
            bounds = _number_bounds(item["value"])
        elif "low" in item or "high" in item:
            bounds = _range_bounds(item)
    if bounds is not None:
        yield NumberValue(param, *bounds)


def _range_bounds(item: dict[str, Any]) -> tuple[float, float] | None:
    low, high = item.get("low"), item.get("high")
    low_b = _number_bounds(low.get("value")) if isinstance(low, dict) else None
    high_b = _number_bounds(high.get("value")) if isinstance(high, dict) else None
    if low_b is None and high_b is None:
        return None
    return (low_b[0] if low_b else -float("inf")), (high_b[1] if high_b else float("inf"))


def _unit(item: Any) -> tuple[str | None, str | None, str | None]:
    if not isinstance(item, dict):
        return None, None, None
    system, code, unit = item.get("system"), item.get("code"), item.get("unit")
    currency = item.get("currency")
    if isinstance(currency, str) and system is None and code is None:
        system, code = _CURRENCY_SYSTEM, currency
    return (
        system if isinstance(system, str) else None,
        code if isinstance(code, str) else None,
        unit if isinstance(unit, str) else None,
    )


def _quantities(param: str, item: Any) -> Iterator[IndexValue]:
    """quantity <- Quantity/SimpleQuantity/Money/Duration/Age (precision range), Range."""
    if not isinstance(item, dict):
        return
    if "value" in item:
        bounds = _number_bounds(item["value"])
        if bounds is not None:
            yield QuantityValue(param, *bounds, *_unit(item))
    elif "low" in item or "high" in item:
        bounds = _range_bounds(item)
        if bounds is not None:
            low, high = item.get("low"), item.get("high")
            unit = _unit(low if isinstance(low, dict) and "value" in low else high)
            yield QuantityValue(param, *bounds, *unit)


def _uris(param: str, item: Any) -> Iterator[IndexValue]:
    """uri <- uri/url/canonical/oid/uuid strings."""
    if isinstance(item, str) and item:
        yield UriValue(param, item)


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
        found = evaluate([resource])
        if not found:
            return []
        out: list[IndexValue] = []
        for item in found:
            out.extend(convert(code, item))
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
        for comp in param.components
    ]
    code = param.code

    def extract(resource: dict[str, Any]) -> list[IndexValue]:
        out: list[IndexValue] = []
        for element in base([resource]):
            per_component: list[list[IndexValue]] = []
            # Last component first: it is usually the value, the one most often absent.
            for comp_code, evaluate, from_resource, convert in reversed(parts):
                found = evaluate([resource] if from_resource else [element])
                # A text-only token (CodeableConcept.text) has no code to combine on.
                values = [v for item in found for v in convert(comp_code, item) if not _text_only(v)]
                if not values:
                    break
                per_component.append(list(dict.fromkeys(values)))
            else:
                per_component.reverse()
                out.extend(CompositeValue(code, combo) for combo in itertools.product(*per_component))
        return out

    return extract


def _text_only(value: IndexValue) -> bool:
    return isinstance(value, TokenValue) and value.code is None


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


def index_values(resource: dict[str, Any]) -> list[IndexValue]:
    """Every search-index value of `resource`, without duplicates, in parameter order.

    A resource type the registry does not know still gets the common parameters."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return []
    stems = choice_stems(rtype)
    present = {stems.get(key, key) for key in resource}
    out: list[IndexValue] = []
    for requirements, extract in _extractors(rtype):
        if all(not names.isdisjoint(present) for names in requirements):
            out.extend(extract(resource))
    return list(dict.fromkeys(out))
