"""The FHIRPath subset the R4 search parameters use, compiled to closures over JSON.

Search parameters define what they index with FHIRPath (http://hl7.org/fhir/R4/fhirpath.html,
http://hl7.org/fhirpath/N1/).  Index extraction runs on every write, so instead of
interpreting each expression per resource, `compile_path` parses it once into a small AST and
turns that into nested Python closures that walk plain `dict` / `list` JSON.

Supported, because the R4 table uses it: member paths (a leading type name filters the
context), `[n]`, `|`, `and`, `=` / `!=`, string / boolean / number literals, `X as T`,
`X is T`, and the functions `as`, `ofType`, `is`, `where`, `exists`, `empty`, `not`, `first`,
`last`, `extension(url)`, `resolve()`.  JSON spells choice elements with their type
(`valueQuantity`), so `value.as(Quantity)` compiles to a lookup of `valueQuantity`, and a bare
`value` finds whichever `value[x]` is present.  `resolve()` cannot load anything here: it
passes the Reference on, and `resolve() is Patient` reads the type from the reference text.
`%resource` compiles to the input collection: a caller that evaluates relative to an element
(composite components) must pass the resource itself for such an expression
(`uses_resource`).  Anything else raises `UnsupportedPath` when compiled, never when run.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from functools import cache
from typing import Any

from yilian.fhir.definitions import structures
from yilian.fhir.search.pathsyntax import (
    Binary,
    Call,
    Ident,
    Index,
    Literal,
    Node,
    Path,
    UnsupportedPath,
    parse_path,
    top_level_names,
)

__all__ = [
    "Evaluator",
    "UnsupportedPath",
    "choice_stems",
    "compile_path",
    "reference_type",
    "top_level_names",
    "uses_resource",
]

Evaluator = Callable[[list[Any]], list[Any]]

# Type names that may follow a choice element's name in JSON (http://hl7.org/fhir/R4/formats.html#choice).
_CHOICE_TYPE_NAMES = (
    "Base64Binary Boolean Canonical Code Date DateTime Decimal Id Instant Integer Markdown Oid "
    "PositiveInt String Time UnsignedInt Uri Url Uuid Address Age Annotation Attachment "
    "CodeableConcept Coding ContactPoint Count Distance Duration HumanName Identifier Money "
    "Period Quantity Range Ratio Reference SampledData Signature Timing ContactDetail "
    "Contributor DataRequirement Expression ParameterDefinition RelatedArtifact "
    "TriggerDefinition UsageContext Dosage Meta"
)
_CHOICE_TYPES = frozenset(_CHOICE_TYPE_NAMES.split())
_RESOURCE_TYPE_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[^/]+)?$")


# Steps that map an empty collection to an empty one, so a path can stop at the first miss.
_KEEPS_EMPTY: weakref.WeakSet[Evaluator] = weakref.WeakSet()


def _keeps_empty(step: Evaluator) -> Evaluator:
    _KEEPS_EMPTY.add(step)
    return step


# Plain member steps and the member they read, so a chain of them can be fused.
_PLAIN_MEMBERS: weakref.WeakKeyDictionary[Evaluator, str] = weakref.WeakKeyDictionary()


def _identity(items: list[Any]) -> list[Any]:
    return items


# --------------------------------------------------------------------------- runtime helpers


def reference_type(reference: str) -> str | None:
    """The resource type a literal reference names (`Patient/1`, `http://x/fhir/Patient/1`,
    `.../Patient/1/_history/2`), or None (`#contained`, `urn:uuid:...`)."""
    m = _RESOURCE_TYPE_RE.search(reference)
    return m.group(1) if m else None


def _type_of(item: Any) -> str | None:
    """The FHIR type `is` compares: a resource's type, or the type a Reference points at."""
    if type(item) is dict:
        rtype = item.get("resourceType")
        if isinstance(rtype, str):
            return rtype
        ref = item.get("reference")
        if isinstance(ref, str):
            return reference_type(ref)
        ref_type = item.get("type")
        return ref_type if isinstance(ref_type, str) and "reference" not in item else None
    return None


def _shape_is(item: Any, type_name: str) -> bool:
    """Whether a plain (non-choice) JSON value can be of type `type_name`."""
    lowered = type_name.lower()
    if isinstance(item, bool):
        return lowered == "boolean"
    if isinstance(item, int | float):
        return lowered in ("integer", "decimal", "positiveint", "unsignedint")
    if isinstance(item, str):
        return type_name[0].islower() or type_name in ("String", "DateTime", "Date", "Uri", "Code")
    if isinstance(item, dict):
        return not type_name[0].islower() and _type_of(item) in (None, type_name)
    return False


def _flatten_into(out: list[Any], value: Any) -> None:
    if type(value) is list:
        # JSON arrays hold null only where a primitive's extension needs the slot.
        out.extend(v for v in value if v is not None) if None in value else out.extend(value)
    elif value is not None:
        out.append(value)


@cache
def _choice_names() -> frozenset[str]:
    """Every name that is a choice element (`value[x]`) somewhere in R4: only these need a
    look for `valueQuantity` etc. when the plain name is absent."""
    table = structures()
    return frozenset(
        element.base_name
        for name in table.names()
        if (structure := table.get(name)) is not None
        for element in structure.elements.values()
        if element.is_choice
    )


@cache
def choice_stems(type_name: str) -> dict[str, str]:
    """The JSON keys of `type_name`'s choice elements mapped to the element name
    (`valueQuantity` -> `value`)."""
    structure = structures().get(type_name)
    stems: dict[str, str] = {}
    for element in structure.elements.values() if structure is not None else ():
        if element.is_choice:
            for t in element.types:
                stems[element.base_name + t.code[0].upper() + t.code[1:]] = element.base_name
    return stems


def _member(name: str) -> Evaluator:
    prefix_len = len(name)

    def plain(items: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if type(item) is dict:
                value = item.get(name)
                if value is not None:
                    _flatten_into(out, value)
        return out

    def choice(items: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if type(item) is not dict:
                continue
            value = item.get(name)
            if value is not None:
                _flatten_into(out, value)
                continue
            for key, found in item.items():  # a choice element, spelt valueQuantity etc.
                if key.startswith(name) and key[prefix_len:] in _CHOICE_TYPES:
                    _flatten_into(out, found)
        return out

    if name in _choice_names():
        return _keeps_empty(choice)
    _PLAIN_MEMBERS[plain] = name
    return _keeps_empty(plain)


def _choice_member(name: str, type_name: str) -> Evaluator:
    key = name + type_name[0].upper() + type_name[1:]

    def step(items: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if type(item) is not dict:
                continue
            value = item.get(key)
            if value is not None:
                _flatten_into(out, value)
                continue
            plain = item.get(name)  # not a choice element after all: check the JSON shape
            if plain is not None:
                _flatten_into(
                    out, [v for v in (plain if type(plain) is list else [plain]) if _shape_is(v, type_name)]
                )
        return out

    return _keeps_empty(step)


def _truthy(items: list[Any]) -> bool:
    return len(items) == 1 and items[0] is True if items and isinstance(items[0], bool) else bool(items)


# --------------------------------------------------------------------------- compiler


class _Compiler:
    def __init__(self, text: str, root_type: str | None) -> None:
        self.text = text
        self.root_type = root_type

    def node(self, node: Node, at_root: bool) -> Evaluator:
        if isinstance(node, Path):
            return self.path(node, at_root)
        if isinstance(node, Ident):
            return self.head_ident(node.name, at_root)
        if isinstance(node, Literal):
            constant = [node.value]
            return lambda items: constant
        if isinstance(node, Call):
            return self.call(node)
        return self.binary(node, at_root)

    def head_ident(self, name: str, at_root: bool) -> Evaluator:
        if name[0].isupper():  # a type name: filters the context (`Patient.name`)
            if name in ("Resource", "DomainResource"):
                return _identity
            if at_root and self.root_type is not None:
                return _identity if name == self.root_type else (lambda items: [])
            return lambda items: [i for i in items if type(i) is dict and i.get("resourceType") == name]
        return _member(name)

    def path(self, node: Path, at_root: bool) -> Evaluator:
        steps: list[Evaluator] = [self.node(node.head, at_root)]
        previous: Node | Index = node.head
        for step in node.steps:
            if isinstance(step, Ident):
                steps.append(_member(step.name))
            elif isinstance(step, Index):
                steps.append(_index(step.index))
            elif step.name in ("as", "ofType") and isinstance(previous, Ident) and previous.name[0].islower():
                # `value.as(Quantity)` is the JSON member `valueQuantity`
                steps[-1] = _choice_member(previous.name, self.type_arg(step))
            else:
                steps.append(self.call(step))
            previous = step
        return _chain(steps)

    def type_arg(self, call: Call) -> str:
        if len(call.args) != 1 or not isinstance(call.args[0], Ident):
            raise UnsupportedPath(f"{call.name}() needs one type name in {self.text!r}")
        return call.args[0].name

    def call(self, call: Call) -> Evaluator:
        """The function `call` applied to its input collection."""
        name, args = call.name, call.args
        if name in ("as", "ofType"):
            type_name = self.type_arg(call)
            return _keeps_empty(lambda items: [i for i in items if _shape_is(i, type_name)])
        if name == "is":
            type_name = self.type_arg(call)
            return lambda items: [len(items) == 1 and _type_of(items[0]) == type_name]
        if name == "where":
            if len(args) != 1:
                raise UnsupportedPath(f"where() needs one argument in {self.text!r}")
            criteria = self.node(args[0], False)
            return _keeps_empty(lambda items: [i for i in items if _truthy(criteria([i]))])
        if name == "extension":
            if len(args) != 1 or not isinstance(args[0], Literal):
                raise UnsupportedPath(f"extension() needs a url literal in {self.text!r}")
            url = args[0].value
            get_ext = _member("extension")
            return _keeps_empty(
                lambda items: [e for e in get_ext(items) if type(e) is dict and e.get("url") == url]
            )
        if args:
            raise UnsupportedPath(f"{name}() takes no arguments in {self.text!r}")
        simple: dict[str, Evaluator] = {
            "exists": lambda items: [bool(items)],
            "empty": lambda items: [not items],
            "not": lambda items: [not items[0]] if len(items) == 1 and isinstance(items[0], bool) else [],
            "first": lambda items: items[:1],
            "last": lambda items: items[-1:],
            "resolve": _identity,
        }
        if name not in simple:
            raise UnsupportedPath(f"the function {name}() is not supported in {self.text!r}")
        return _keeps_empty(simple[name]) if name in ("first", "last", "resolve") else simple[name]

    def binary(self, node: Binary, at_root: bool) -> Evaluator:
        if node.op in ("as", "is"):
            if not isinstance(node.right, Ident):
                raise UnsupportedPath(f"{node.op} needs a type name in {self.text!r}")
            call = Call(node.op, (node.right,))
            if isinstance(node.left, Path | Ident):
                path = node.left if isinstance(node.left, Path) else Path(node.left, ())
                return self.path(Path(path.head, (*path.steps, call)), at_root)
            return _chain([self.node(node.left, at_root), self.call(call)])
        left = self.node(node.left, at_root)
        right = self.node(node.right, at_root)
        if node.op == "|":
            return lambda items: left(items) + right(items)
        if node.op == "and":
            return lambda items: _and(left(items), right(items))
        negate = node.op == "!="
        return lambda items: _equals(left(items), right(items), negate)


def _chain(steps: list[Evaluator]) -> Evaluator:
    """Run `steps` one after the other; stop early once the collection is empty and every
    remaining step maps empty to empty (all but `exists`, `empty`, `is`, literals)."""
    steps = _fuse_members([s for s in steps if s is not _identity])
    if not steps:
        return _identity
    if len(steps) == 1:
        return steps[0]
    preserving = [s in _KEEPS_EMPTY for s in steps]
    stop_at = [all(preserving[i:]) for i in range(len(steps))]
    plan = list(zip(steps, stop_at, strict=True))

    def run(items: list[Any]) -> list[Any]:
        for step, can_stop in plan:
            if not items and can_stop:
                return items
            items = step(items)
        return items

    return run


def _fuse_members(steps: list[Evaluator]) -> list[Evaluator]:
    """Merge runs of plain member steps (`name.given`) into one loop, saving a call per step."""
    out: list[Evaluator] = []
    run: list[str] = []
    for step in [*steps, None]:
        name = _PLAIN_MEMBERS.get(step) if step is not None else None
        if name is not None:
            run.append(name)
            continue
        if len(run) == 1:
            out.append(_member(run[0]))
        elif run:
            out.append(_member_path(tuple(run)))
        run = []
        if step is not None:
            out.append(step)
    return out


def _member_path(names: tuple[str, ...]) -> Evaluator:
    def walk(items: list[Any]) -> list[Any]:
        for name in names:
            out: list[Any] = []
            for item in items:
                if type(item) is dict:
                    value = item.get(name)
                    if value is not None:
                        _flatten_into(out, value)
            if not out:
                return out
            items = out
        return items

    return _keeps_empty(walk)


def _index(index: int) -> Evaluator:
    return _keeps_empty(lambda items: items[index : index + 1])


def _and(left: list[Any], right: list[Any]) -> list[Any]:
    """Three-valued `and` (http://hl7.org/fhirpath/N1/#boolean-logic)."""
    lval = _truthy(left) if left else None
    rval = _truthy(right) if right else None
    if lval is False or rval is False:
        return [False]
    if lval is None or rval is None:
        return []
    return [True]


def _equals(left: list[Any], right: list[Any], negate: bool) -> list[Any]:
    if not left or not right:
        return []
    same = len(left) == len(right) and all(
        a == b and type(a) is type(b) for a, b in zip(left, right, strict=True)
    )
    return [same != negate]


def uses_resource(expression: str) -> bool:
    """Whether `expression` starts from `%resource` rather than from its input."""
    return expression.lstrip().startswith(("%resource", "%rootResource"))


def compile_path(expression: str, root_type: str | None = None) -> Evaluator:
    """Compile `expression` into a function from an input collection to the output one.

    With `root_type`, a leading type name is resolved now (`Observation.code` on a Patient
    compiles to nothing).  Raises UnsupportedPath for FHIRPath outside the subset."""
    tree = parse_path(expression)
    return _Compiler(expression, root_type).node(tree, True)
