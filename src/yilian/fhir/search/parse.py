"""A FHIR search query, as `(name, value)` pairs, turned into a `SearchRequest`.

Implements http://hl7.org/fhir/R4/search.html: every parameter type, the modifiers, prefixes,
OR by comma and AND by repetition (#combining), escaping (#escaping), chained parameters
(#chaining), reverse chaining with `_has` (#has), and the result parameters `_sort`,
`_count`, `_offset`, `_total`, `_summary`, `_elements`, `_include`, `_revinclude` and `_type`
(`controls`).  `parse_criteria` reads the criteria of a conditional interaction
(http://hl7.org/fhir/R4/http.html#cond-update).

An unknown parameter is an error under strict handling and is dropped (and listed in
`SearchRequest.ignored`) under lenient handling (http://hl7.org/fhir/R4/search.html#errors,
`Prefer: handling`).  A malformed value is always an error.  Every error is an OutcomeError of
kind BAD_REQUEST that names the parameter as `Type?name`.

For a search over several types (system level, or `_type`), a parameter must exist with the
same type on every type searched; its conditions then carry `resource_type` "Resource" unless
one type is searched.  No types at all means every type: only the common parameters
(`_id`, `_lastUpdated`, `_tag`, ...) apply then.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from urllib.parse import parse_qsl

from yilian.fhir.definitions import SearchParameterDef, registry, structures
from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.controls import Controls, is_control
from yilian.fhir.search.model import (
    ChainCriterion,
    Condition,
    Criterion,
    HasCriterion,
    MissingQuery,
    QueryValue,
    SearchRequest,
)
from yilian.fhir.search.parse_values import parse_composite, parse_value, split_escaped

__all__ = ["UnknownParameter", "is_resource_type", "parse_criteria", "parse_search"]

# Modifiers R4 defines per parameter type (http://hl7.org/fhir/R4/search.html#modifiers);
# `missing` applies to all, `:Type` to references.
_MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"exact", "contains"}),
    "token": frozenset({"text", "not", "of-type"}),
    "reference": frozenset({"identifier"}),
    "uri": frozenset({"above", "below"}),
    "date": frozenset(),
    "number": frozenset(),
    "quantity": frozenset(),
    "composite": frozenset(),
}
# Defined by R4 but needing a terminology server or canonical hierarchies we do not have.
_UNSUPPORTED_MODIFIERS: dict[str, frozenset[str]] = {
    "token": frozenset({"above", "below", "in", "not-in"}),
    "reference": frozenset({"above", "below"}),
}
_MAX_DEPTH = 4  # chains and _has nested deeper than this are refused (cost, not semantics)


class UnknownParameter(Exception):
    """A parameter no searched type defines; strict handling turns it into an error."""

    def __init__(self, expression: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.expression = expression
        self.diagnostics = diagnostics


def is_resource_type(name: str) -> bool:
    """Whether `name` is an R4 resource type."""
    return bool(name) and structures().is_resource_type(name)


def _bad(diagnostics: str, expression: str) -> OutcomeError:
    return OutcomeError.invalid(diagnostics, [expression])


def _split_name(name: str) -> tuple[str, str | None]:
    code, colon, modifier = name.partition(":")
    if colon and not modifier:
        raise _bad(f"empty modifier in search parameter {name!r}", name)
    return code, (modifier if colon else None)


def _criterion(
    rtype: str, pdef: SearchParameterDef, modifier: str | None, value: str, name: str
) -> Criterion:
    code, ptype = pdef.code, pdef.type
    expression = f"{rtype}?{name}"
    if modifier == "missing":
        if value not in ("true", "false"):
            raise _bad(f":missing takes true or false, not {value!r} ({expression})", expression)
        return Criterion(rtype, code, ptype, modifier, (MissingQuery(value == "true"),))
    effective = ptype
    if modifier is not None:
        if ptype == "reference" and modifier[0].isupper():
            if not is_resource_type(modifier):
                raise _bad(f"{modifier!r} is not a resource type ({expression})", expression)
            if pdef.targets and modifier not in pdef.targets:
                raise _bad(
                    f"{code} refers to {', '.join(pdef.targets)}, not {modifier} ({expression})",
                    expression,
                )
        elif modifier in _UNSUPPORTED_MODIFIERS.get(ptype, ()):
            raise OutcomeError.not_supported(
                f"the modifier :{modifier} is not supported ({expression})", [expression]
            )
        elif modifier not in _MODIFIERS[ptype]:
            raise _bad(
                f"unknown modifier :{modifier} for the {ptype} parameter {code} ({expression})", expression
            )
        if modifier == "text":
            effective = "string"
        elif modifier == "identifier":
            effective = "token"
    if value == "":
        raise _bad(f"empty value in {expression}", expression)
    values: list[QueryValue] = []
    for part in split_escaped(value, ","):
        if part == "":
            raise _bad(f"empty value in the list {value!r} ({expression})", expression)
        if ptype == "composite":
            values.append(parse_composite(code, pdef.components, part))
        else:
            values.append(parse_value(effective, modifier, code, part))
    return Criterion(rtype, code, effective, modifier, tuple(values))


def _lookup(rtype: str, code: str, name: str) -> SearchParameterDef:
    pdef = registry().get(rtype, code)
    if pdef is None:
        raise UnknownParameter(
            f"{rtype}?{name}", f"unknown search parameter {code!r} for {rtype} ({rtype}?{name})"
        )
    return pdef


def _has(rtype: str, name: str, value: str, depth: int) -> HasCriterion:
    """`_has:Observation:patient:code=x` (http://hl7.org/fhir/R4/search.html#has)."""
    parts = name.split(":", 3)
    expression = f"{rtype}?{name}"
    if len(parts) != 4 or not all(parts[1:]):
        raise _bad(f"_has takes _has:Type:reference:parameter, not {name!r}", expression)
    _, source, ref_code, inner_name = parts
    if not is_resource_type(source):
        raise _bad(f"{source!r} is not a resource type ({expression})", expression)
    ref = _lookup(source, ref_code, f"{ref_code} (in {name})")
    if ref.type != "reference":
        raise _bad(
            f"{source}.{ref_code} is a {ref.type} parameter, not a reference ({expression})", expression
        )
    if ref.targets and rtype not in ref.targets:
        raise _bad(f"{source}.{ref_code} does not refer to {rtype} ({expression})", expression)
    inner = _condition(source, inner_name, value, depth + 1)
    return HasCriterion(rtype, source, ref_code, inner)


def _chain(
    rtype: str, pdef: SearchParameterDef, modifier: str | None, rest: str, value: str, depth: int
) -> Condition:
    """`subject:Patient.name=x` (http://hl7.org/fhir/R4/search.html#chaining)."""
    expression = f"{rtype}?{pdef.code}{':' + modifier if modifier else ''}.{rest}"
    if pdef.type != "reference":
        raise _bad(f"{pdef.code} is a {pdef.type} parameter and cannot be chained ({expression})", expression)
    if not rest:
        raise _bad(f"a chain needs a parameter after '.' ({expression})", expression)
    if modifier is not None:
        if not is_resource_type(modifier):
            raise _bad(f"a chain takes a resource type modifier, not :{modifier} ({expression})", expression)
        if pdef.targets and modifier not in pdef.targets:
            raise _bad(
                f"{pdef.code} refers to {', '.join(pdef.targets)}, not {modifier} ({expression})", expression
            )
        candidates: tuple[str, ...] = (modifier,)
    elif pdef.targets:
        candidates = pdef.targets
    else:
        raise _bad(
            f"{pdef.code} may refer to any type: name one, as {pdef.code}:Type.{rest} ({expression})",
            expression,
        )
    inner: Condition | None = None
    targets: list[str] = []
    unknown: UnknownParameter | None = None
    for target in candidates:
        try:
            found = _condition(target, rest, value, depth + 1)
        except UnknownParameter as exc:
            unknown = unknown or exc
            continue
        if inner is None:
            inner = found
        targets.append(target)
    if inner is None:
        assert unknown is not None
        raise UnknownParameter(
            expression,
            f"no type {pdef.code} refers to ({', '.join(candidates)}) has the parameter in {expression}",
        )
    return ChainCriterion(rtype, pdef.code, tuple(targets), inner)


def _condition(rtype: str, name: str, value: str, depth: int = 0) -> Condition:
    """One parameter occurrence on one resource type."""
    if depth > _MAX_DEPTH:
        raise _bad(
            f"chains and _has may nest at most {_MAX_DEPTH} levels ({rtype}?{name})", f"{rtype}?{name}"
        )
    if name.startswith("_has:") or name == "_has":
        return _has(rtype, name, value, depth)
    head, dot, rest = name.partition(".")
    code, modifier = _split_name(head)
    pdef = _lookup(rtype, code, name)
    if dot:
        return _chain(rtype, pdef, modifier, rest, value, depth)
    return _criterion(rtype, pdef, modifier, value, name)


def _condition_for_types(rtypes: Sequence[str], name: str, value: str) -> Condition:
    """One parameter occurrence over every searched type (all must define it alike)."""
    first = _condition(rtypes[0], name, value)
    if len(rtypes) == 1:
        return first if rtypes[0] != "Resource" else dataclasses.replace(first, resource_type="Resource")
    kind = first.type if isinstance(first, Criterion) else type(first).__name__
    for rtype in rtypes[1:]:
        other = _condition(rtype, name, value)
        other_kind = other.type if isinstance(other, Criterion) else type(other).__name__
        if other_kind != kind:
            raise _bad(f"{name} means different things on {rtypes[0]} and {rtype}; search them apart", name)
    return dataclasses.replace(first, resource_type="Resource")


def parse_search(
    resource_types: Sequence[str],
    params: Sequence[tuple[str, str]],
    *,
    strict: bool = True,
    default_count: int = 20,
    max_count: int = 1000,
) -> SearchRequest:
    """Parse a search over `resource_types` (one for a type-level search, several or all for
    a system-level one) with the query `params` in order.

    Raises OutcomeError (BAD_REQUEST) on malformed values, and on unknown parameters when
    `strict`; under lenient handling those are listed in `ignored` instead."""
    rtypes = tuple(resource_types)
    for rtype in rtypes:
        if not is_resource_type(rtype):
            raise _bad(f"{rtype!r} is not a resource type", rtype)
    controls = Controls(rtypes, default_count=default_count, max_count=max_count)
    for name, value in params:
        if name == "_type":
            controls.restrict_types(value)
    rtypes = controls.checked_types
    conditions: list[Condition] = []
    ignored: list[str] = []
    for name, value in params:
        if is_control(name):
            controls.apply(name, value)
            continue
        try:
            conditions.append(_condition_for_types(rtypes, name, value))
        except UnknownParameter as exc:
            if strict:
                raise OutcomeError.not_supported(exc.diagnostics, [exc.expression]) from None
            ignored.append(name)
    return controls.request(tuple(conditions), tuple(ignored))


def parse_criteria(resource_type: str, query: str | Sequence[tuple[str, str]]) -> tuple[Condition, ...]:
    """The conditions of a conditional interaction (`If-None-Exist: identifier=x|y`,
    `PUT Patient?identifier=...`): strict, and only selection parameters.

    `query` is a query string (with or without a leading `?`) or its pairs.  `_format` and
    `_pretty` are ignored; any other result parameter is an error, and so is an empty query,
    since a condition that selects everything is never what a client means."""
    if isinstance(query, str):
        pairs = parse_qsl(query.strip().removeprefix("?"), keep_blank_values=True)
    else:
        pairs = list(query)
    pairs = [(k, v) for k, v in pairs if k not in ("_format", "_pretty")]
    if not is_resource_type(resource_type):
        raise _bad(f"{resource_type!r} is not a resource type", resource_type)
    if not pairs:
        raise OutcomeError.invalid(
            f"a conditional interaction needs search criteria, e.g. {resource_type}?identifier=system|value"
        )
    conditions: list[Condition] = []
    for name, value in pairs:
        if is_control(name):
            raise _bad(
                f"{name} controls search results and cannot be a condition ({resource_type}?{name})", name
            )
        try:
            conditions.append(_condition(resource_type, name, value))
        except UnknownParameter as exc:
            raise OutcomeError.not_supported(exc.diagnostics, [exc.expression]) from None
    return tuple(conditions)
