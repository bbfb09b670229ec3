"""Compact tables derived from the CC0 FHIR R4 definitions (see SOURCES.md beside this file)."""

from yilian.fhir.definitions.search_parameters import SearchParameterDef, SearchParameterRegistry, registry

__all__ = ["SearchParameterDef", "SearchParameterRegistry", "registry"]
