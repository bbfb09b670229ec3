"""Structure validation of one R4 resource in its JSON form.

What is checked (http://hl7.org/fhir/R4/validation.html, "structure" and "cardinality"):

- `resourceType` is a concrete R4 resource type; the resource id matches the `id` type;
- every property is an element of its structure (http://hl7.org/fhir/R4/json.html), with the
  JSON type its datatype needs, an array exactly when the element repeats, the primitive
  formats of http://hl7.org/fhir/R4/datatypes.html, and codes of small REQUIRED bindings;
- required elements are present (min cardinality), choice elements (`value[x]`) carry a known
  type suffix and appear at most once;
- `_name` primitive-extension siblings are objects, or arrays aligned with the primitive array;
- no empty objects, arrays or strings (ele-1), Extension has a url and either a value or
  extensions (ext-1), references have a valid form and allowed target type (ref-1);
- contained resources are validated too and obey dom-2..dom-5; resources inside
  `Bundle.entry.resource` and `Parameters.parameter.resource` are validated as resources;
- nesting deeper than `max_depth` objects yields one issue instead of deeper recursion.

Locations are FHIRPath: `Patient.name[0].given[1]`, `Observation.valueQuantity.value`,
`Bundle.entry[2].resource.ofType(Patient).birthDate`.  All lookups are precomputed per
structure (`SlotTables`) and the regexes compiled once (`PrimitiveCheckers`), so validating a
typical resource is a walk over its JSON with a dict lookup per property.  A resource is
first put through `CleanCheck` (fastpath.py), the same walk without locations; only when it
finds something does the full walk below run to report each issue where it is.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from yilian.fhir.definitions.structures import StructureTable, structures
from yilian.fhir.outcome import Issue, IssueSeverity, IssueType
from yilian.fhir.validation.fastpath import CleanCheck
from yilian.fhir.validation.primitives import Finding, PrimitiveCheckers, json_type_name
from yilian.fhir.validation.references import ContainerScope, check_reference, contained_ids
from yilian.fhir.validation.slots import Kind, Slot, SlotTable, SlotTables

__all__ = ["DEFAULT_MAX_DEPTH", "Validator", "validate_resource", "validator"]

DEFAULT_MAX_DEPTH = 100
_ERROR = IssueSeverity.ERROR
_URI_TYPES = frozenset({"uri", "canonical", "url"})


class Validator:
    """Validates resources against the R4 structure table; build once, call often."""

    def __init__(self, table: StructureTable, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.table = table
        self.max_depth = max_depth
        self.primitives = PrimitiveCheckers(table.primitives)
        self.slots = SlotTables(table, self.primitives)
        self.resource_types = table.resource_types
        self.fast = CleanCheck(self.slots, table.resource_types, max_depth)

    def validate(self, resource: Any) -> list[Issue]:
        """Every issue found in `resource`; never raises, whatever JSON it is given."""
        if self.fast.clean(resource):
            return []
        return self.validate_fully(resource)

    def validate_fully(self, resource: Any) -> list[Issue]:
        """`validate` without the fast path: the walk that locates every issue."""
        run = _Run(self)
        try:
            if not isinstance(resource, dict):
                run.error(
                    IssueType.STRUCTURE,
                    f"a resource must be a JSON object, not {json_type_name(resource)}",
                    "",
                )
            else:
                run.resource(resource, "", 0, None)
        except RecursionError:
            run.too_deep("")
        return run.issues


class _Run:
    """The state of one validation: the issues found so far."""

    __slots__ = ("deep_reported", "issues", "max_depth", "tables", "v")

    def __init__(self, v: Validator) -> None:
        self.v = v
        self.max_depth = v.max_depth
        self.tables = v.slots
        self.issues: list[Issue] = []
        self.deep_reported = False

    def error(self, code: IssueType, diagnostics: str, location: str) -> None:
        self.issues.append(Issue(code, diagnostics, _ERROR, (location,) if location else ()))

    def finding(self, f: Finding, location: str) -> None:
        self.issues.append(Issue(f.code, f.diagnostics, f.severity, (location,)))

    def too_deep(self, location: str) -> None:
        if not self.deep_reported:
            self.deep_reported = True
            self.error(
                IssueType.TOO_COSTLY,
                f"content is nested more than {self.v.max_depth} levels deep; not validated further",
                location,
            )

    # -- resources ---------------------------------------------------------------------------

    def resource(self, obj: dict[str, Any], path: str, depth: int, container: ContainerScope | None) -> None:
        """Validate a resource at `path` ("" at the top); `container` is set for contained ones."""
        rtype = obj.get("resourceType")
        where = path or "Resource"
        if rtype is None:
            self.error(IssueType.REQUIRED, "resourceType is missing", where)
            return
        if not self.v.table.is_resource_type(rtype):
            self.error(IssueType.INVALID, f"{str(rtype)[:80]!r} is not an R4 resource type", where)
            return
        rpath = f"{path}.ofType({rtype})" if path else rtype
        if container is None:
            scope = ContainerScope(contained_ids=contained_ids(obj.get("contained")))
            self.object(obj, rtype, rpath, depth, scope, True)
            self._dom3(obj, rpath, scope)
        else:
            outer, container.current = container.current, str(obj.get("id", ""))
            self.object(obj, rtype, rpath, depth, container, True)
            container.current = outer
            self._contained_rules(obj, rpath)

    def _contained_rules(self, obj: dict[str, Any], rpath: str) -> None:
        """dom-2, dom-4, dom-5 and the id every contained resource needs (http://hl7.org/fhir/R4/domainresource.html)."""
        if "id" not in obj:
            self.error(IssueType.REQUIRED, "a contained resource must have an id", rpath)
        if "contained" in obj:
            self.error(IssueType.INVARIANT, "dom-2: a contained resource must not contain resources", rpath)
        meta = obj.get("meta")
        if isinstance(meta, dict):
            if "versionId" in meta or "lastUpdated" in meta:
                self.error(
                    IssueType.INVARIANT,
                    "dom-4: a contained resource must not have meta.versionId or meta.lastUpdated",
                    f"{rpath}.meta",
                )
            if "security" in meta:
                self.error(
                    IssueType.INVARIANT,
                    "dom-5: a contained resource must not have a security label",
                    f"{rpath}.meta",
                )

    def _dom3(self, obj: dict[str, Any], rpath: str, scope: ContainerScope) -> None:
        """dom-3: each contained resource is referred to from the container or refers to it."""
        for cid, index in scope.contained_ids.items():
            if cid not in scope.referenced and cid not in scope.refer_to_container:
                self.error(
                    IssueType.INVARIANT,
                    f"dom-3: contained resource {cid!r} is not referenced from the resource that contains it",
                    f"{rpath}.contained[{index}]",
                )

    # -- objects -----------------------------------------------------------------------------

    def object(
        self,
        obj: dict[str, Any],
        structure: str,
        path: str,
        depth: int,
        scope: ContainerScope,
        is_resource: bool,
    ) -> None:
        """Validate the properties of one JSON object against a structure."""
        if depth >= self.max_depth:
            self.too_deep(path)
            return
        table = self.tables.get(structure)
        if table is None:  # a structure the table lacks: a generator bug, not a client error
            return
        if not obj:
            self.error(IssueType.INVARIANT, "ele-1: an element must have a value or children", path)
            return
        slots = table.slots
        chosen: dict[str, str] | None = None
        depth += 1
        for key, value in obj.items():
            slot = slots.get(key)
            if slot is None:
                if not (is_resource and key == "resourceType"):
                    self.error(
                        IssueType.STRUCTURE,
                        f"unknown element {str(key)[:80]!r} in {structure}",
                        f"{path}.{key}",
                    )
                continue
            if slot.choice:
                if chosen is None:
                    chosen = {}
                seen = chosen.setdefault(slot.choice, slot.name)
                if seen != slot.name:
                    self.error(
                        IssueType.STRUCTURE,
                        f"only one of {slot.choice}[x] may be present, found {seen} and {slot.name}",
                        f"{path}.{slot.name}",
                    )
                    continue
            if slot.kind == Kind.EXTENSION_SIBLING:
                self.sibling(obj, key, value, slot, f"{path}.{slot.name}", depth, scope)
            elif slot.many:
                self.array(obj, value, slot, f"{path}.{key}", depth, scope)
            elif isinstance(value, list):
                self.error(
                    IssueType.STRUCTURE,
                    f"{key} repeats at most once, so it must not be an array",
                    f"{path}.{key}",
                )
            else:
                self.value(value, slot, f"{path}.{key}", depth, scope)
        if table.required:
            self._required(obj, table, path)
        if structure == "Extension":
            self._extension(obj, path)

    def _required(self, obj: dict[str, Any], table: SlotTable, path: str) -> None:
        for element, names in table.required:
            if not any(n in obj for n in names):
                self.error(
                    IssueType.REQUIRED,
                    f"{element.path} is required (min {element.min})",
                    f"{path}.{element.name}",
                )

    def _extension(self, obj: dict[str, Any], path: str) -> None:
        """ext-1: an Extension has either nested extensions or a value[x], not both, not neither."""
        has_value = any(isinstance(k, str) and k.startswith(("value", "_value")) for k in obj)
        if has_value == ("extension" in obj):
            self.error(
                IssueType.INVARIANT,
                "ext-1: an extension must have either extensions or a value[x], not both",
                path,
            )

    def array(
        self, parent: dict[str, Any], value: Any, slot: Slot, path: str, depth: int, scope: ContainerScope
    ) -> None:
        if not isinstance(value, list):
            self.error(IssueType.STRUCTURE, f"{slot.name} repeats, so it must be a JSON array", path)
            return
        if not value:
            self.error(IssueType.INVARIANT, "ele-1: arrays must not be empty", path)
            return
        element = slot.element
        if element.max is not None and len(value) > element.max:
            self.error(IssueType.STRUCTURE, f"{element.path} allows at most {element.max} values", path)
        if len(value) < element.min:
            self.error(IssueType.REQUIRED, f"{element.path} needs at least {element.min} values", path)
        for i, item in enumerate(value):
            if item is None and slot.kind == Kind.PRIMITIVE:
                ext = parent.get("_" + slot.name)
                if not (isinstance(ext, list) and i < len(ext) and isinstance(ext[i], dict)):
                    self.error(
                        IssueType.STRUCTURE,
                        "null is allowed only with an extension in _" + slot.name,
                        f"{path}[{i}]",
                    )
                continue
            if isinstance(item, list):
                self.error(IssueType.STRUCTURE, "arrays must not be nested", f"{path}[{i}]")
                continue
            self.value(item, slot, f"{path}[{i}]", depth, scope)

    def value(self, value: Any, slot: Slot, path: str, depth: int, scope: ContainerScope) -> None:
        """Validate one (non-array) value of a slot."""
        kind = slot.kind
        if kind == Kind.PRIMITIVE:
            if value is None:
                self.error(IssueType.STRUCTURE, "null is not a valid value", path)
                return
            check = slot.check
            found = check(value) if check is not None else None
            if found is not None:
                self.finding(found, path)
                if found.severity == _ERROR:
                    return
            codes = slot.codes
            if codes is not None and value not in codes:
                self.error(
                    IssueType.CODE_INVALID,
                    f"{str(value)[:80]!r} is not in the required value set {slot.element.value_set}",
                    path,
                )
            elif slot.type_code in _URI_TYPES and value[0] == "#":
                # a local reference in a uri/canonical also counts for dom-3
                scope.referenced.add(value[1:])
            return
        if not isinstance(value, dict):
            self.error(
                IssueType.STRUCTURE, f"{slot.name} must be a JSON object, not {json_type_name(value)}", path
            )
            return
        if kind == Kind.RESOURCE:
            if depth >= self.v.max_depth:
                self.too_deep(path)
            elif slot.element.name == "contained":
                self.resource(value, path, depth, scope)
            else:
                self.resource(value, path, depth, None)
            return
        self.object(value, slot.type_code, path, depth, scope, False)
        if slot.type_code == "Reference":
            check_reference(value, slot.targets, path, scope, self.v.resource_types, self.issues)

    def sibling(
        self,
        parent: dict[str, Any],
        key: str,
        value: Any,
        slot: Slot,
        path: str,
        depth: int,
        scope: ContainerScope,
    ) -> None:
        """A `_name` property: the id and extensions of a primitive (http://hl7.org/fhir/R4/json.html#primitive)."""
        if not slot.many:
            if isinstance(value, dict):
                self.object(value, "Element", path, depth, scope, False)
            else:
                self.error(
                    IssueType.STRUCTURE, f"{key} must be a JSON object, not {json_type_name(value)}", path
                )
            return
        if not isinstance(value, list) or not value:
            self.error(IssueType.STRUCTURE, f"{key} must be a non-empty JSON array of objects or nulls", path)
            return
        values = parent.get(slot.name)
        if isinstance(values, list) and len(values) != len(value):
            self.error(
                IssueType.STRUCTURE,
                f"{key} has {len(value)} entries but {slot.name} has {len(values)}; they must align",
                path,
            )
        for i, item in enumerate(value):
            if item is None:
                continue
            if isinstance(item, dict):
                self.object(item, "Element", f"{path}[{i}]", depth, scope, False)
            else:
                self.error(IssueType.STRUCTURE, f"{key} entries must be objects or null", f"{path}[{i}]")


@cache
def validator(max_depth: int = DEFAULT_MAX_DEPTH) -> Validator:
    """The shared validator for a depth limit, built once per process."""
    return Validator(structures(), max_depth)


def validate_resource(resource: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> list[Issue]:
    """Validate one resource's JSON against the R4 structure definitions.

    Errors are violations of R4 (http://hl7.org/fhir/R4/validation.html); warnings are soft
    problems (leading/trailing whitespace).  Never raises, whatever the input.
    """
    return validator(max_depth).validate(resource)
