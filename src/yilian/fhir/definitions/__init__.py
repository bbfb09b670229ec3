"""Compact tables derived from the CC0 FHIR R4 definitions (see SOURCES.md beside this file)."""

from yilian.fhir.definitions.search_parameters import SearchParameterDef, SearchParameterRegistry, registry
from yilian.fhir.definitions.structures import ElementDef, StructureDef, StructureTable, TypeRef, structures

__all__ = [
    "ElementDef",
    "SearchParameterDef",
    "SearchParameterRegistry",
    "StructureDef",
    "StructureTable",
    "TypeRef",
    "registry",
    "structures",
]
