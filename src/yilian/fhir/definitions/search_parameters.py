"""The R4 search-parameter registry: which parameters each resource type has.

Loaded once from `search_parameters.json` (derived from the R4 SearchParameter definitions,
http://hl7.org/fhir/R4/searchparameter-registry.html) into frozen objects.  Every resource type
also has the common parameters of `Resource` (`_id`, `_lastUpdated`, `_tag`, `_profile`,
`_security`, `_source`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import orjson

__all__ = ["ParamType", "SearchParameterDef", "SearchParameterRegistry", "registry"]

ParamType = Literal["string", "token", "date", "reference", "quantity", "number", "uri", "composite"]


@dataclass(frozen=True, slots=True)
class CompositeComponent:
    """One component of a composite parameter: the component parameter's code, type and the
    FHIRPath expression evaluated relative to each element the composite expression selects."""

    code: str
    type: ParamType
    expression: str


@dataclass(frozen=True, slots=True)
class SearchParameterDef:
    """One search parameter as it applies to one resource type."""

    resource_type: str
    code: str
    type: ParamType
    expression: str
    targets: tuple[str, ...] = ()
    components: tuple[CompositeComponent, ...] = ()


class SearchParameterRegistry:
    """Look up search parameters by resource type and code."""

    def __init__(self, table: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._common = {
            code: self._make("Resource", code, e) for code, e in table.get("Resource", {}).items()
        }
        self._by_type: dict[str, dict[str, SearchParameterDef]] = {}
        for rtype, params in table.items():
            if rtype in ("Resource", "DomainResource"):
                continue
            self._by_type[rtype] = {code: self._make(rtype, code, e) for code, e in params.items()}

    @staticmethod
    def _make(rtype: str, code: str, entry: dict[str, Any]) -> SearchParameterDef:
        components = tuple(CompositeComponent(c[0], c[1], c[2]) for c in entry.get("component", []))
        return SearchParameterDef(
            resource_type=rtype,
            code=code,
            type=entry["type"],
            expression=str(entry["expression"]),
            targets=tuple(entry.get("target", ())),
            components=components,
        )

    def get(self, resource_type: str, code: str) -> SearchParameterDef | None:
        """The parameter `code` on `resource_type`, including the common ones, or None."""
        found = self._by_type.get(resource_type, {}).get(code)
        return found if found is not None else self._common.get(code)

    def for_type(self, resource_type: str) -> dict[str, SearchParameterDef]:
        """Every parameter that applies to `resource_type` (common ones first)."""
        return {**self._common, **self._by_type.get(resource_type, {})}

    def common(self) -> dict[str, SearchParameterDef]:
        return dict(self._common)

    def resource_types_with_parameters(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_type))


@cache
def registry() -> SearchParameterRegistry:
    """The R4 registry, parsed once per process."""
    raw = resources.files(__package__).joinpath("search_parameters.json").read_bytes()
    return SearchParameterRegistry(orjson.loads(raw)["resources"])
