"""The clean-resource fast path: "does this resource have no issue at all?", answered cheaply.

Almost every resource a server ingests is valid, and for a valid resource the full validator
(`validator._Run`) spends most of its time on what only an issue needs: a FHIRPath location
string built for every property, a scope object, an issue list.  `CleanCheck` walks the same
JSON against the same slot tables and the same rules, but carries no locations and stops at
the first doubt.  When it answers True the resource has no issue (errors *and* warnings), so
the validator returns `[]` at once; when it answers False the full validator runs and reports
every issue with its location, exactly as before.  The fast path only ever has to be
conservative: anything rare or intricate (`_name` primitive extensions, nulls in arrays,
nesting near the depth limit) answers False.  Contained resources are common (Synthea's
ExplanationOfBenefit carries its Coverage and ServiceRequest), so their rules (dom-2..dom-5,
ref-1) are checked here too, with the same `ContainerScope` bookkeeping.

Primitive checks of short strings that passed are remembered (codes, systems, dates and ids
recur across resources), so a repeated value costs one set lookup instead of a regex.
"""

from __future__ import annotations

from typing import Any

from yilian.fhir.definitions.structures import ElementDef
from yilian.fhir.outcome import Issue
from yilian.fhir.validation.references import ContainerScope, check_reference, contained_ids
from yilian.fhir.validation.slots import Kind, Slot, SlotTable, SlotTables

__all__ = ["CleanCheck"]

_URI_TYPES = frozenset({"uri", "canonical", "url"})
_SIBLING = Kind.EXTENSION_SIBLING

_Entry = tuple[Slot, int, bool, str, "set[str] | None", "frozenset[str] | None", bool, int, int]
"""One JSON property: slot, kind, many, choice prefix, the passed strings of its primitive
type, its required codes, whether it is a uri (local references), max and min count."""
_Compiled = tuple[dict[str, _Entry], tuple[tuple[ElementDef, tuple[str, ...]], ...], bool]
"""One structure: its properties, its required elements, whether it is Extension."""
_MEMO_MAX_LEN = 100
"""Only strings up to this length are remembered (never narratives or attachments)."""
_MEMO_MAX_SIZE = 1 << 14
"""Entries per primitive type before that type's memory is dropped and starts again (a few
MB at most, so a long import keeps a flat footprint)."""


class CleanCheck:
    """Whether a resource is free of issues, without locating any (see the module docstring)."""

    __slots__ = ("_passed", "_resource_types", "_table", "_tables", "max_depth")

    def __init__(self, tables: SlotTables, resource_types: frozenset[str], max_depth: int) -> None:
        self._tables = tables
        self._resource_types = resource_types
        self._table: dict[str, _Compiled | None] = {}
        self.max_depth = max_depth
        # type code -> short strings whose primitive check found nothing
        self._passed: dict[str, set[str]] = {}

    def clean(self, resource: Any) -> bool:
        """True only when the full validator would report no issue for `resource`."""
        if type(resource) is not dict:
            return False
        try:
            return self._resource(resource, 0, None)
        except RecursionError:
            return False

    def _structure(self, name: str) -> _Compiled | None:
        try:
            return self._table[name]
        except KeyError:
            table = self._tables.get(name)
            found = self._table[name] = None if table is None else self._compile(table)
            return found

    def _compile(self, table: SlotTable) -> _Compiled:
        """The slots of one structure as tuples: what the walk reads, unpacked in one go."""
        entries: dict[str, _Entry] = {}
        for key, slot in table.slots.items():
            primitive = slot.kind == Kind.PRIMITIVE
            passed = self._passed.setdefault(slot.type_code, set()) if primitive else None
            element = slot.element
            entries[key] = (
                slot,
                slot.kind,
                slot.many,
                slot.choice,
                passed,
                slot.codes,
                primitive and slot.type_code in _URI_TYPES,
                element.max if element.max is not None else 1 << 62,
                element.min,
            )
        return entries, table.required, table.structure == "Extension"

    def _resource(self, obj: dict[str, Any], depth: int, container: ContainerScope | None) -> bool:
        rtype = obj.get("resourceType")
        if type(rtype) is not str or rtype not in self._resource_types:
            return False
        if container is not None:
            return self._contained(obj, rtype, depth, container)
        contained = obj.get("contained")
        scope = ContainerScope(contained_ids=contained_ids(contained) if contained is not None else {})
        if not self._object(obj, rtype, depth, scope, True):
            return False
        # dom-3: each contained resource is referred to from the container or refers to it
        return all(cid in scope.referenced or cid in scope.refer_to_container for cid in scope.contained_ids)

    def _contained(self, obj: dict[str, Any], rtype: str, depth: int, scope: ContainerScope) -> bool:
        """A contained resource: an id, no resources of its own (dom-2), no versionId,
        lastUpdated (dom-4) or security label (dom-5)."""
        if "id" not in obj or "contained" in obj:
            return False
        meta = obj.get("meta")
        if type(meta) is dict and ("versionId" in meta or "lastUpdated" in meta or "security" in meta):
            return False
        outer, scope.current = scope.current, str(obj.get("id", ""))
        ok = self._object(obj, rtype, depth, scope, True)
        scope.current = outer
        return ok

    def _object(
        self, obj: dict[str, Any], structure: str, depth: int, scope: ContainerScope, is_resource: bool
    ) -> bool:
        if depth >= self.max_depth or not obj:
            return False
        compiled = self._structure(structure)
        if compiled is None:
            return True  # the full validator skips a structure the table lacks
        entries, required, is_extension = compiled
        chosen: dict[str, str] | None = None
        depth += 1
        items: list[Any] | tuple[Any]
        for key, value in obj.items():
            entry = entries.get(key)
            if entry is None:
                if is_resource and key == "resourceType":
                    continue
                return False
            slot, kind, many, choice, passed, codes, uri, most, least = entry
            if choice:
                if chosen is None:
                    chosen = {}
                if chosen.setdefault(choice, slot.name) != slot.name:
                    return False
            if kind == _SIBLING:
                return False
            if many:
                if type(value) is not list or not value or not least <= len(value) <= most:
                    return False
                items = value
            elif type(value) is list:
                return False
            else:
                items = (value,)
            for item in items:
                if passed is not None and type(item) is str and item in passed:
                    # a string this primitive type has passed before: only the slot's own rules
                    if codes is not None and item not in codes:
                        return False
                    if uri and item[0] == "#":
                        scope.referenced.add(item[1:])  # a local reference counts for dom-3
                    continue
                if item is None or type(item) is list or not self._value(item, slot, depth, scope):
                    return False
        for _element, names in required:
            for n in names:
                if n in obj:
                    break
            else:
                return False
        if is_extension:
            has_value = any(type(k) is str and k.startswith(("value", "_value")) for k in obj)
            if has_value == ("extension" in obj):
                return False
        return True

    def _value(self, value: Any, slot: Slot, depth: int, scope: ContainerScope) -> bool:
        kind = slot.kind
        if kind == Kind.PRIMITIVE:
            if value is None:
                return False
            if type(value) is str and len(value) <= _MEMO_MAX_LEN:
                passed = self._passed.get(slot.type_code)
                if passed is None:
                    passed = self._passed[slot.type_code] = set()
                if value not in passed:
                    check = slot.check
                    if check is not None and check(value) is not None:
                        return False
                    if len(passed) >= _MEMO_MAX_SIZE:
                        passed.clear()
                    passed.add(value)
            else:
                check = slot.check
                if check is not None and check(value) is not None:
                    return False
            codes = slot.codes
            if codes is not None:
                return value in codes
            if slot.type_code in _URI_TYPES and value[0] == "#":
                scope.referenced.add(value[1:])  # a local reference in a uri counts for dom-3
            return True
        if type(value) is not dict:
            return False
        if kind == Kind.RESOURCE:
            if depth >= self.max_depth:
                return False
            return self._resource(value, depth, scope if slot.element.name == "contained" else None)
        if not self._object(value, slot.type_code, depth, scope, False):
            return False
        if slot.type_code == "Reference":
            issues: list[Issue] = []
            check_reference(value, slot.targets, "", scope, self._resource_types, issues)
            return not issues
        return True
