"""Reference checks: the form of Reference.reference, its target type, contained resources.

http://hl7.org/fhir/R4/references.html#Reference allows a reference to be

- relative, `Type/id` or `Type/id/_history/vid`, with Type a known resource type;
- absolute, any URL (when it ends in `Type/id` the type is checked too);
- local, `#id` naming a resource in the container's `contained` (ref-1), or `#` for the
  container itself;
- a `urn:uuid:` or `urn:oid:` (as used inside Bundles, http://hl7.org/fhir/R4/bundle.html#references);
- conditional, `Type?query`, which a transaction resolves before storing
  (http://hl7.org/fhir/R4/http.html#trules).

When the element restricts its targets (`Reference(Patient|Group)`), the referenced type must
be one of them.  `ContainerScope` carries what the dom-3 invariant needs: the ids of the
contained resources and which of them something refers to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from yilian.fhir.outcome import Issue, IssueSeverity, IssueType
from yilian.fhir.validation.xsdregex import is_xsd_space, translate

__all__ = ["ContainerScope", "check_reference", "contained_ids"]

_ID = r"[A-Za-z0-9\-\.]{1,64}"
_RELATIVE = re.compile(rf"([A-Z][A-Za-z]+)/({_ID})(?:/_history/{_ID})?")
_ABSOLUTE_TAIL = re.compile(rf"/([A-Z][A-Za-z]+)/({_ID})(?:/_history/{_ID})?$")
# Reference.reference is a string; "not whitespace" here is what the R4 uri regex \S* means
# (XML Schema: anything but space, tab, newline, carriage return), so a conditional reference
# may carry a search value with a no-break or ideographic space, as the search itself may.
_NOT_SPACE = translate(r"\S")
_CONDITIONAL = re.compile(rf"([A-Z][A-Za-z]+)\?{_NOT_SPACE}+")
_SCHEME = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:{_NOT_SPACE}+")
_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")


@dataclass(slots=True)
class ContainerScope:
    """The contained resources of one resource, and the local references found in it."""

    contained_ids: dict[str, int] = field(default_factory=dict)
    referenced: set[str] = field(default_factory=set)
    #: ids of contained resources that themselves refer to the container with `#`
    refer_to_container: set[str] = field(default_factory=set)
    #: the id of the contained resource being walked, "" while in the container itself
    current: str = ""


def contained_ids(contained: Any) -> dict[str, int]:
    """The ids of the resources in a `contained` array, with their index (dom-3 names it)."""
    if not isinstance(contained, list):
        return {}
    return {
        item["id"]: i
        for i, item in enumerate(contained)
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    }


def _error(code: IssueType, diagnostics: str, location: str) -> Issue:
    return Issue(code, diagnostics, IssueSeverity.ERROR, (location,))


def check_reference(
    ref: dict[str, object],
    targets: frozenset[str],
    path: str,
    scope: ContainerScope,
    resource_types: frozenset[str],
    issues: list[Issue],
) -> None:
    """Append issues for one Reference object at `path` (its own fields are already checked)."""
    value = ref.get("reference")
    if isinstance(value, str) and value and not is_xsd_space(value):
        found = _referenced_type(value, path, scope, resource_types, issues)
        if found and targets and found not in targets:
            issues.append(
                _error(
                    IssueType.INVALID,
                    f"a reference to {found} is not allowed here; allowed: {', '.join(sorted(targets))}",
                    f"{path}.reference",
                )
            )
    declared = ref.get("type")
    if isinstance(declared, str) and targets and declared in resource_types and declared not in targets:
        issues.append(
            _error(
                IssueType.INVALID,
                f"Reference.type {declared} is not allowed here; allowed: {', '.join(sorted(targets))}",
                f"{path}.type",
            )
        )


def _referenced_type(
    value: str, path: str, scope: ContainerScope, resource_types: frozenset[str], issues: list[Issue]
) -> str:
    """The resource type `value` names ("" when it names none) after checking its form."""
    location = f"{path}.reference"
    if value[0] == "#":
        local = value[1:]
        if not local:
            if scope.current:
                scope.refer_to_container.add(scope.current)
            return ""
        scope.referenced.add(local)
        if local not in scope.contained_ids:
            issues.append(
                _error(IssueType.INVARIANT, f"ref-1: no contained resource has id {local!r}", location)
            )
        return ""
    if value.startswith("urn:uuid:"):
        if _UUID.fullmatch(value) is None:
            issues.append(_error(IssueType.VALUE, f"{value!r} is not a valid urn:uuid", location))
        return ""
    if value.startswith("urn:oid:"):
        if _OID.fullmatch(value) is None:
            issues.append(_error(IssueType.VALUE, f"{value!r} is not a valid urn:oid", location))
        return ""
    match = _RELATIVE.fullmatch(value) or _CONDITIONAL.fullmatch(value)
    if match is not None:
        rtype = match.group(1)
        if rtype not in resource_types:
            issues.append(_error(IssueType.VALUE, f"{rtype!r} is not an R4 resource type", location))
            return ""
        return rtype
    if _SCHEME.fullmatch(value) is not None:
        tail = _ABSOLUTE_TAIL.search(value)
        return tail.group(1) if tail is not None and tail.group(1) in resource_types else ""
    issues.append(
        _error(
            IssueType.VALUE,
            f"{value[:80]!r} is not a reference: expected Type/id, an absolute URL, #id, "
            "urn:uuid: or urn:oid:",
            location,
        )
    )
    return ""
