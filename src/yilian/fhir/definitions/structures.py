"""The R4 structure table: which elements each resource and datatype has, and their rules.

Loaded once from `structures.json` (derived from the R4 StructureDefinitions, see
http://hl7.org/fhir/R4/structuredefinition.html and SOURCES.md) into frozen objects.  The
validator (`yilian.fhir.validation`) and `_summary` projection (`yilian.fhir.projection`)
read it; neither needs the 40 MB of full definitions at run time.

A *structure* is a resource type (`Patient`), a complex datatype (`HumanName`) or a nested
group of elements that the spec defines inline (`Patient.contact`, `Timing.repeat`); nested
groups are keyed by their path, and `contentReference`s (`Questionnaire.item.item`) point at
the structure they reuse (`Questionnaire.item`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import orjson

__all__ = ["ElementDef", "StructureDef", "StructureTable", "TypeRef", "structures"]


@dataclass(frozen=True, slots=True)
class TypeRef:
    """One allowed type of an element (http://hl7.org/fhir/R4/elementdefinition.html#type).

    `code` is a primitive or complex type code, `Resource`, or the key of a nested structure
    (a dotted path such as `Patient.contact`).  `targets` restricts `Reference` and
    `canonical` to these resource types; empty means any.
    """

    code: str
    targets: frozenset[str] = frozenset()

    @property
    def is_nested(self) -> bool:
        """True when the type is an inline group (BackboneElement or contentReference)."""
        return "." in self.code


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One element of a structure: name, cardinality, types, summary flag, required codes.

    `name` is the element name as the spec writes it (`value[x]` for a choice).  `max` is
    None for `*`.  `codes` holds the codes of a REQUIRED binding to a small closed value set
    (http://hl7.org/fhir/R4/terminologies.html#required), else None.
    """

    path: str
    name: str
    min: int
    max: int | None
    types: tuple[TypeRef, ...]
    summary: bool
    value_set: str | None = None
    codes: frozenset[str] | None = None

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")

    @property
    def is_array(self) -> bool:
        """True when the JSON form is an array (max above 1), http://hl7.org/fhir/R4/json.html."""
        return self.max is None or self.max > 1

    @property
    def base_name(self) -> str:
        """The name without `[x]`: the JSON prefix of a choice element's properties."""
        return self.name[:-3] if self.is_choice else self.name


@dataclass(frozen=True, slots=True)
class StructureDef:
    """A resource type, complex datatype or inline group, with its elements in spec order."""

    name: str
    elements: Mapping[str, ElementDef]

    @property
    def required(self) -> tuple[ElementDef, ...]:
        return tuple(e for e in self.elements.values() if e.min > 0)


class StructureTable:
    """Every R4 structure, the resource type names and the primitive-type regexes."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.resource_types: frozenset[str] = frozenset(raw["resourceTypes"])
        #: primitive type code -> the regex of its `value` (http://hl7.org/fhir/R4/datatypes.html)
        self.primitives: Mapping[str, str] = MappingProxyType(dict(raw["primitives"]))
        self.value_sets: Mapping[str, frozenset[str]] = MappingProxyType(
            {k: frozenset(v) for k, v in raw["valuesets"].items()}
        )
        self._structures: dict[str, StructureDef] = {}
        for key, rows in raw["structures"].items():
            elements = {name: self._element(key, name, row) for name, row in rows.items()}
            self._structures[key] = StructureDef(key, MappingProxyType(elements))

    def _element(self, key: str, name: str, row: list[Any]) -> ElementDef:
        types = tuple(self._type(t) for t in row[2])
        value_set = row[4] if len(row) > 4 else None
        return ElementDef(
            path=f"{key}.{name}",
            name=name,
            min=int(row[0]),
            max=None if row[1] == "*" else int(row[1]),
            types=types,
            summary=bool(row[3]),
            value_set=value_set,
            codes=self.value_sets.get(value_set) if value_set else None,
        )

    @staticmethod
    def _type(text: str) -> TypeRef:
        code, _, rest = text.partition("(")
        return TypeRef(code, frozenset(rest.rstrip(")").split("|")) if rest else frozenset())

    def get(self, name: str) -> StructureDef | None:
        """The structure called `name` (`Patient`, `HumanName`, `Patient.contact`), or None."""
        return self._structures.get(name)

    def is_resource_type(self, name: object) -> bool:
        """True for a concrete R4 resource type name (not `Resource` or `DomainResource`)."""
        return isinstance(name, str) and name in self.resource_types

    def is_primitive(self, code: str) -> bool:
        return code in self.primitives

    def names(self) -> tuple[str, ...]:
        return tuple(self._structures)


@cache
def structures() -> StructureTable:
    """The R4 structure table, parsed once per process."""
    raw = resources.files(__package__).joinpath("structures.json").read_bytes()
    return StructureTable(orjson.loads(raw))
