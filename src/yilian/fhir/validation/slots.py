"""Per-structure lookup tables from JSON property name to what that property must hold.

The structure table speaks in elements (`value[x]`, `birthDate`); JSON speaks in properties
(`valueQuantity`, `birthDate`, `_birthDate`), see http://hl7.org/fhir/R4/json.html.  A
`SlotTable` is built once per structure on first use and maps every legal property name to
a `Slot`, so validating one property is a single dict lookup; anything not in the table is
an unknown element.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from yilian.fhir.definitions.structures import ElementDef, StructureTable, TypeRef
from yilian.fhir.validation.primitives import PrimitiveCheck, PrimitiveCheckers

__all__ = ["Kind", "Slot", "SlotTable", "SlotTables"]


class Kind:
    """How a slot's value is checked (plain ints: compared on the hot path)."""

    PRIMITIVE = 0
    COMPLEX = 1
    RESOURCE = 2
    EXTENSION_SIBLING = 3


@dataclass(frozen=True, slots=True)
class Slot:
    """One JSON property of one structure.

    `name` is the element name used in FHIRPath locations (`valueQuantity`, and `birthDate`
    for `_birthDate`, because the primitive and its extensions are one node in FHIRPath).
    `choice` is the choice element's prefix (`value`) or "" for ordinary elements.
    """

    name: str
    element: ElementDef
    kind: int
    type_code: str
    many: bool
    choice: str = ""
    targets: frozenset[str] = frozenset()
    codes: frozenset[str] | None = None
    #: the compiled check of a primitive slot's value
    check: PrimitiveCheck | None = None


@dataclass(frozen=True, slots=True)
class SlotTable:
    """The properties of one structure, and which elements are required (min >= 1)."""

    structure: str
    #: a plain dict (read-only by convention): looked up once per JSON property
    slots: dict[str, Slot]
    #: (element, the property names any of which satisfies it)
    required: tuple[tuple[ElementDef, tuple[str, ...]], ...]


def _choice_suffix(code: str) -> str:
    return code[0].upper() + code[1:]


class SlotTables:
    """Builds and caches a `SlotTable` per structure name."""

    def __init__(self, table: StructureTable, checkers: PrimitiveCheckers) -> None:
        self._table = table
        self._checkers = checkers
        self._cache: dict[str, SlotTable] = {}

    def get(self, structure: str) -> SlotTable | None:
        """The slot table of a structure, or None when the structure does not exist."""
        found = self._cache.get(structure)
        if found is None:
            sd = self._table.get(structure)
            if sd is None:
                return None
            found = self._build(structure, sd.elements)
            self._cache[structure] = found
        return found

    def _build(self, structure: str, elements: Mapping[str, ElementDef]) -> SlotTable:
        slots: dict[str, Slot] = {}
        required: list[tuple[ElementDef, tuple[str, ...]]] = []
        for element in elements.values():
            names: list[str] = []
            if element.is_choice:
                prefix = element.base_name
                for t in element.types:
                    names.extend(self._add(slots, prefix + _choice_suffix(t.code), element, t, prefix))
            elif element.types:
                names.extend(self._add(slots, element.name, element, element.types[0], ""))
            if element.min > 0:
                required.append((element, tuple(names)))
        return SlotTable(structure, slots, tuple(required))

    def _add(
        self, slots: dict[str, Slot], name: str, element: ElementDef, t: TypeRef, choice: str
    ) -> list[str]:
        many = element.is_array
        if self._table.is_primitive(t.code):
            codes = element.codes if t.code == "code" else None
            check = self._checkers.get(t.code)
            slots[name] = Slot(name, element, Kind.PRIMITIVE, t.code, many, choice, t.targets, codes, check)
            slots["_" + name] = Slot(name, element, Kind.EXTENSION_SIBLING, "Element", many, choice)
            return [name, "_" + name]
        kind = Kind.RESOURCE if t.code == "Resource" else Kind.COMPLEX
        slots[name] = Slot(name, element, kind, t.code, many, choice, t.targets)
        return [name]
