"""`_summary` and `_elements`: returning part of a resource.

http://hl7.org/fhir/R4/search.html#summary defines the summary modes

- `true`: only the elements marked isSummary in the base definition (plus mandatory ones,
  `id`, `meta` and `resourceType`); inline groups (BackboneElements) are filtered the same
  way one level down, datatypes are kept whole;
- `text`: `text`, `id`, `meta` and the mandatory top-level elements;
- `data`: everything except `text`;
- `false`: the whole resource;

and http://hl7.org/fhir/R4/search.html#elements lets a client name the top-level elements it
wants (`_elements=identifier,value`; a choice element is named without its type, `value`
for `valueQuantity`).  Servers SHOULD return mandatory elements too, so those are kept.
Every projected resource carries the `SUBSETTED` tag so no one mistakes it for the whole.

Both functions are pure: the input is never changed; unchanged sub-objects are shared with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from yilian.fhir.definitions.structures import ElementDef, structures
from yilian.fhir.outcome import OutcomeError

__all__ = ["SUBSETTED", "SUMMARY_MODES", "select_elements", "summarize"]

SUBSETTED: Mapping[str, str] = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
SUMMARY_MODES = ("true", "text", "data", "false")
_ALWAYS = frozenset({"resourceType", "id", "meta"})


@cache
def _properties(structure: str) -> Mapping[str, ElementDef]:
    """JSON property name -> element, for every property a structure allows (incl. `_x`)."""
    sd = structures().get(structure)
    out: dict[str, ElementDef] = {}
    if sd is None:
        return out
    table = structures()
    for element in sd.elements.values():
        if element.is_choice:
            names = [element.base_name + t.code[0].upper() + t.code[1:] for t in element.types]
        else:
            names = [element.name]
        for name, t in zip(names, element.types, strict=False):
            out[name] = element
            if table.is_primitive(t.code):
                out["_" + name] = element
    return out


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    """A copy of `resource` whose meta.tag includes SUBSETTED (once)."""
    meta = resource.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    tags = meta.get("tag")
    tags = list(tags) if isinstance(tags, list) else []
    if not any(
        isinstance(t, dict) and t.get("system") == SUBSETTED["system"] and t.get("code") == SUBSETTED["code"]
        for t in tags
    ):
        tags.append(dict(SUBSETTED))
    meta["tag"] = tags
    out = dict(resource)
    out["meta"] = meta
    return out


def _summary_only(obj: dict[str, Any], structure: str, top: bool) -> dict[str, Any]:
    props = _properties(structure)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        element = props.get(key)
        if element is None:
            if top and key in _ALWAYS:
                out[key] = value
            continue
        if not (element.summary or element.min > 0 or (top and key in _ALWAYS)):
            continue
        nested = element.types[0].code if element.types and element.types[0].is_nested else None
        if nested is None:
            out[key] = value
        elif isinstance(value, list):
            out[key] = [_summary_only(v, nested, False) if isinstance(v, dict) else v for v in value]
        elif isinstance(value, dict):
            out[key] = _summary_only(value, nested, False)
        else:
            out[key] = value
    return out


def summarize(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """The resource as `_summary=mode` returns it (http://hl7.org/fhir/R4/search.html#summary).

    `mode` is `true`, `text`, `data` or `false`; anything else (including `count`, which
    applies to a search Bundle, not a resource) is a client error.
    """
    if mode == "false":
        return dict(resource)
    rtype = resource.get("resourceType")
    props = _properties(rtype) if isinstance(rtype, str) else {}
    if mode == "true":
        kept = _summary_only(resource, rtype, True) if isinstance(rtype, str) else {}
    elif mode == "text":
        kept = {
            k: v
            for k, v in resource.items()
            if k in _ALWAYS or k == "text" or ((e := props.get(k)) is not None and e.min > 0)
        }
    elif mode == "data":
        kept = {k: v for k, v in resource.items() if k != "text"}
    else:
        raise OutcomeError.invalid(
            f"_summary={mode[:40]!r} cannot be applied to a resource; use one of {', '.join(SUMMARY_MODES)}",
            ("_summary",),
        )
    for key in _ALWAYS:
        if key in resource and key not in kept:
            kept[key] = resource[key]
    return _tagged(kept)


def select_elements(resource: dict[str, Any], elements: Sequence[str]) -> dict[str, Any]:
    """The resource with only the named top-level elements (http://hl7.org/fhir/R4/search.html#elements).

    Names are element names (`name`, `value` or `value[x]` for a choice, optionally
    prefixed with the resource type as in `Patient.name`); `id`, `meta`, `resourceType` and
    the mandatory elements are always kept, and `_x` primitive extensions follow `x`.
    """
    rtype = resource.get("resourceType")
    props = _properties(rtype) if isinstance(rtype, str) else {}
    wanted: set[str] = set()
    for raw in elements:
        name = raw.strip()
        if isinstance(rtype, str) and name.startswith(rtype + "."):
            name = name[len(rtype) + 1 :]
        name = name.split(".", 1)[0].removesuffix("[x]")
        if name:
            wanted.add(name)
    kept: dict[str, Any] = {}
    for key, value in resource.items():
        element = props.get(key)
        if (
            key in _ALWAYS
            or key in wanted
            or (element is not None and (element.base_name in wanted or element.min > 0))
        ):
            kept[key] = value
    return _tagged(kept)
