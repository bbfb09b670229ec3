"""The result parameters of a search: what comes back, not which resources match.

http://hl7.org/fhir/R4/search.html#return: `_sort` (a comma list of parameters, `-` for
descending, #_sort), `_count` (page size, clamped to the server maximum, 0 for a count only,
#count), `_offset` (yilian's paging cursor: the number of matches to skip), `_total`
(#total), `_summary` (#summary), `_elements` (#elements), `_include` / `_revinclude` with
`:iterate` (#include) and `_type` (the types of a system-level search, #all).  `_format` and
`_pretty` belong to the HTTP layer and are ignored here.

`Controls` accumulates them while the parser walks the query in order, then builds the
`SearchRequest`.  Every malformed value is an OutcomeError of kind BAD_REQUEST.
"""

from __future__ import annotations

import re
from typing import Literal, cast

from yilian.fhir.definitions import registry, structures
from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.model import Condition, Include, SearchRequest, SortKey

__all__ = ["CONTROL_PARAMETERS", "Controls", "is_control"]

CONTROL_PARAMETERS = frozenset(
    {"_sort", "_count", "_offset", "_total", "_summary", "_elements", "_type", "_format", "_pretty"}
)
_INCLUDE_NAMES = frozenset(
    {
        "_include",
        "_revinclude",
        *(f"{n}:{m}" for n in ("_include", "_revinclude") for m in ("iterate", "recurse")),
    }
)
_TOTALS = ("none", "estimate", "accurate")
_SUMMARIES = ("true", "false", "count", "text", "data")
_ELEMENT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\[x\])?")
_MAX_INT_DIGITS = 9


def is_control(name: str) -> bool:
    """Whether `name` is a result parameter rather than a selection criterion."""
    return name in CONTROL_PARAMETERS or name in _INCLUDE_NAMES


def _bad(diagnostics: str, name: str) -> OutcomeError:
    return OutcomeError.invalid(diagnostics, [name])


def _resource_type(name: str) -> bool:
    return bool(name) and structures().is_resource_type(name)


def _non_negative(name: str, value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise _bad(f"{name} takes a non-negative integer, not {value!r}", name)
    if len(text.lstrip("0")) > _MAX_INT_DIGITS:
        raise _bad(f"{name}={value} is too large", name)
    return int(text)


class Controls:
    """The result parameters seen so far, for the types being searched."""

    def __init__(self, resource_types: tuple[str, ...], *, default_count: int, max_count: int) -> None:
        self.resource_types = resource_types
        self.max_count = max_count
        self.count = min(default_count, max_count)
        self.offset = 0
        self.total: Literal["none", "estimate", "accurate"] = "accurate"
        self.summary: Literal["true", "false", "count", "text", "data"] | None = None
        self.sort: list[SortKey] = []
        self.elements: list[str] = []
        self.includes: list[Include] = []
        self.revincludes: list[Include] = []

    def restrict_types(self, value: str) -> None:
        """`_type=Patient,Observation`: search only these (of the types allowed)."""
        wanted = [t.strip() for t in value.split(",")]
        for rtype in wanted:
            if not _resource_type(rtype):
                raise _bad(f"_type lists {rtype!r}, which is not a resource type", "_type")
        allowed = set(self.resource_types or wanted)  # () searches every type
        restricted = tuple(t for t in dict.fromkeys(wanted) if t in allowed)
        if not restricted:
            # An empty list would read as "every type" downstream: refuse instead.
            raise _bad(
                f"_type={value} names no type this search covers ({', '.join(self.resource_types)})", "_type"
            )
        self.resource_types = restricted

    @property
    def checked_types(self) -> tuple[str, ...]:
        """The types parameters are checked against: `Resource` (the common parameters)
        when every type is searched."""
        return self.resource_types or ("Resource",)

    def apply(self, name: str, value: str) -> None:
        if name in ("_format", "_pretty", "_type"):
            return
        if name in _INCLUDE_NAMES:
            self._include(name, value)
        elif name == "_sort":
            self._sort(value)
        elif name == "_count":
            self.count = min(_non_negative(name, value), self.max_count)
        elif name == "_offset":
            self.offset = _non_negative(name, value)
        elif name == "_total":
            if value not in _TOTALS:
                raise _bad(f"_total takes {', '.join(_TOTALS)}, not {value!r}", name)
            self.total = cast(Literal["none", "estimate", "accurate"], value)
        elif name == "_summary":
            if value not in _SUMMARIES:
                raise _bad(f"_summary takes {', '.join(_SUMMARIES)}, not {value!r}", name)
            self.summary = cast(Literal["true", "false", "count", "text", "data"], value)
        elif name == "_elements":
            self._elements(value)

    def _sort(self, value: str) -> None:
        for item in value.split(","):
            code = item.strip()
            descending = code.startswith("-")
            code = code.removeprefix("-")
            if not code:
                raise _bad(f"_sort has an empty entry in {value!r}", "_sort")
            types = set()
            for rtype in self.checked_types:
                pdef = registry().get(rtype, code)
                if pdef is None:
                    raise _bad(f"_sort: {code!r} is not a search parameter of {rtype}", f"{rtype}?_sort")
                types.add(pdef.type)
            if len(types) > 1:
                raise _bad(f"_sort: {code!r} has different types on the searched types", "_sort")
            if types & {"composite"}:
                raise OutcomeError.not_supported(f"_sort by the composite parameter {code!r}", ["_sort"])
            ptype = types.pop()
            self.sort.append(SortKey(code, ptype, descending))

    def _elements(self, value: str) -> None:
        for item in value.split(","):
            element = item.strip()
            if not _ELEMENT_RE.fullmatch(element):
                raise _bad(f"_elements lists {element!r}, which is not an element name", "_elements")
            if element not in self.elements:
                self.elements.append(element)

    def _include(self, name: str, value: str) -> None:
        """`_include=Source:param[:Target]`, `Source:*`, or `*` (every reference of the types
        searched); `:iterate` (or R3's `:recurse`) applies it to included resources too."""
        base, _, iterate_flag = name.partition(":")
        iterate = bool(iterate_flag)
        reverse = base == "_revinclude"
        if value == "*":
            if reverse:
                raise OutcomeError.not_supported("_revinclude=* is not supported; name Source:param", [name])
            self.includes.extend(Include(t, "*", None, iterate) for t in self.resource_types)
            return
        parts = value.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise _bad(f"{name} takes Source:parameter[:Target], not {value!r}", name)
        source, code = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        if not _resource_type(source):
            raise _bad(f"{name}: {source!r} is not a resource type", name)
        if target is not None and not _resource_type(target):
            raise _bad(f"{name}: {target!r} is not a resource type", name)
        if code != "*":
            pdef = registry().get(source, code)
            if pdef is None:
                raise _bad(f"{name}: {code!r} is not a search parameter of {source}", name)
            if pdef.type != "reference":
                raise _bad(f"{name}: {source}.{code} is a {pdef.type} parameter, not a reference", name)
            if target is not None and pdef.targets and target not in pdef.targets:
                raise _bad(f"{name}: {source}.{code} does not refer to {target}", name)
        include = Include(source, code, target, iterate)
        (self.revincludes if reverse else self.includes).append(include)

    def request(self, conditions: tuple[Condition, ...], ignored: tuple[str, ...]) -> SearchRequest:
        count = 0 if self.summary == "count" else self.count
        return SearchRequest(
            resource_types=self.resource_types,
            conditions=conditions,
            sort=tuple(self.sort),
            count=count,
            offset=self.offset,
            total=self.total,
            summary=self.summary,
            elements=tuple(self.elements),
            includes=tuple(dict.fromkeys(self.includes)),
            revincludes=tuple(dict.fromkeys(self.revincludes)),
            ignored=ignored,
        )
