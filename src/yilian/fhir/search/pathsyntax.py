"""The syntax of the FHIRPath subset search parameters use: tokens, AST and parser.

http://hl7.org/fhirpath/N1/#grammar, cut down to what the R4 search-parameter expressions
need (see `pathexpr` for the list).  The parser follows FHIRPath operator precedence: `.` and
`[]` bind tightest, then `is` / `as`, then `|`, then `=` / `!=`, then `and`.  `pathexpr`
compiles the AST into closures; `top_level_names` reads it to tell which members of a resource
an expression can start from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Binary",
    "Call",
    "Ident",
    "Index",
    "Literal",
    "Node",
    "Parser",
    "Path",
    "UnsupportedPath",
    "parse_path",
    "top_level_names",
]

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+(?:\.\d+)?)|(?P<id>%?[A-Za-z_]\w*)|(?P<op>!=|[.|()\[\],=]))"
)


class UnsupportedPath(ValueError):
    """An expression uses FHIRPath this compiler does not implement."""


@dataclass(frozen=True, slots=True)
class Ident:
    name: str


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Index:
    index: int


@dataclass(frozen=True, slots=True)
class Path:
    head: Node
    steps: tuple[Ident | Call | Index, ...]


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "|", "and", "=", "!=", "as", "is"
    left: Node
    right: Node


Node = Ident | Literal | Call | Path | Binary


class Parser:
    """Recursive descent over FHIRPath precedence: `.`/`[]`, `is`/`as`, `|`, `=`/`!=`, `and`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN_RE.match(text, pos)
            if m is None:
                raise UnsupportedPath(f"cannot read {text[pos:]!r} in {text!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise UnsupportedPath(f"expected {value or 'more'} in {self.text!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.and_expr()
        if self.peek() is not None:
            raise UnsupportedPath(f"unexpected {self.peek()} in {self.text!r}")
        return node

    def and_expr(self) -> Node:
        node = self.eq_expr()
        while self.peek() == ("id", "and"):
            self.take()
            node = Binary("and", node, self.eq_expr())
        return node

    def eq_expr(self) -> Node:
        node = self.union_expr()
        while (tok := self.peek()) is not None and tok[1] in ("=", "!="):
            self.take()
            node = Binary(tok[1], node, self.union_expr())
        return node

    def union_expr(self) -> Node:
        node = self.type_expr()
        while self.peek() == ("op", "|"):
            self.take()
            node = Binary("|", node, self.type_expr())
        return node

    def type_expr(self) -> Node:
        node = self.path_expr()
        while (tok := self.peek()) is not None and tok in (("id", "as"), ("id", "is")):
            self.take()
            node = Binary(tok[1], node, Ident(self.type_name()))
        return node

    def type_name(self) -> str:
        kind, name = self.take()
        if kind != "id":
            raise UnsupportedPath(f"expected a type name in {self.text!r}")
        if self.peek() == ("op", "."):  # FHIR.Patient / System.String
            self.take()
            name = self.take()[1]
        return name

    def path_expr(self) -> Node:
        head = self.term()
        steps: list[Ident | Call | Index] = []
        while (tok := self.peek()) is not None and tok[1] in (".", "["):
            self.take()
            if tok[1] == "[":
                kind, number = self.take()
                if kind != "num" or not number.isdigit():
                    raise UnsupportedPath(f"only integer indexes are supported in {self.text!r}")
                self.take("]")
                steps.append(Index(int(number)))
                continue
            step = self.invocation()
            if not isinstance(step, Ident | Call):
                raise UnsupportedPath(f"expected a name after '.' in {self.text!r}")
            steps.append(step)
        return Path(head, tuple(steps)) if steps else head

    def term(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise UnsupportedPath(f"unexpected end of {self.text!r}")
        if tok == ("op", "("):
            self.take()
            node = self.and_expr()
            self.take(")")
            return node
        if tok[0] == "str":
            self.take()
            return Literal(re.sub(r"\\(.)", r"\1", tok[1][1:-1]))
        if tok[0] == "num":
            self.take()
            return Literal(float(tok[1]) if "." in tok[1] else int(tok[1]))
        if tok in (("id", "true"), ("id", "false")):
            self.take()
            return Literal(tok[1] == "true")
        return self.invocation()

    def invocation(self) -> Node:
        kind, name = self.take()
        if kind != "id":
            raise UnsupportedPath(f"unexpected {name!r} in {self.text!r}")
        if name in ("%resource", "%rootResource"):
            # The resource being indexed: the caller passes it as the input collection.
            return Ident("Resource")
        if name.startswith("%"):
            raise UnsupportedPath(f"the variable {name} is not supported in {self.text!r}")
        if self.peek() != ("op", "("):
            return Ident(name)
        self.take()
        args: list[Node] = []
        if self.peek() != ("op", ")"):
            if name in ("as", "is", "ofType"):
                args.append(Ident(self.type_name()))
            else:
                args.append(self.and_expr())
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.and_expr())
        self.take(")")
        return Call(name, tuple(args))


def top_level_names(expression: str, root_type: str) -> frozenset[str] | None:
    """The members of a `root_type` resource that `expression` starts from, so a caller can
    skip it when none is present; None when that cannot be told (it may yield something from
    any resource, like `Patient.deceased.exists() and ...` does)."""
    return _top_names(Parser(expression).parse(), root_type)


def _top_names(node: Node, root_type: str) -> frozenset[str] | None:
    if isinstance(node, Binary):
        if node.op == "|":
            left, right = _top_names(node.left, root_type), _top_names(node.right, root_type)
            return None if left is None or right is None else left | right
        return _top_names(node.left, root_type) if node.op == "as" else None
    if isinstance(node, Ident):
        return frozenset({node.name}) if node.name[0].islower() else None
    if not isinstance(node, Path) or not isinstance(node.head, Ident):
        return None
    head = node.head.name
    if head[0].islower():
        first_is_member = True
        name = head
    elif head in (root_type, "Resource", "DomainResource"):
        first = node.steps[0] if node.steps else None
        first_is_member = isinstance(first, Ident)
        name = first.name if isinstance(first, Ident) else ""
    else:
        return frozenset()  # another type's path: never yields anything here
    if not first_is_member:
        return None
    if any(isinstance(step, Call) and step.name in ("exists", "empty", "not", "is") for step in node.steps):
        return None
    return frozenset({name})


def parse_path(expression: str) -> Node:
    """The AST of `expression`; raises UnsupportedPath outside the subset."""
    return Parser(expression).parse()
