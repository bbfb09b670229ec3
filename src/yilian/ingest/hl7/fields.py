"""Reading fields out of python-hl7's parse tree, the same way at every depth.

python-hl7 (https://python-hl7.readthedocs.io) builds a tree whose shape depends on the text:
a field without separators is a plain string, one with `^` a list of components, one with `~`
a list of repetitions.  `Seg` hides that: every field is a list of repetitions, every
repetition a list of components, every component a list of subcomponents, each leaf
unescaped (python-hl7's `unescape`, so `\\F\\` is `|` again) and stripped.  HL7's explicit
null `""` reads as empty.  Numbering is HL7's: `seg.get(3, 1)` is PID-3.1; for MSH, field 1
is the field separator, as in the standard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hl7.util import unescape

__all__ = ["Rep", "Seg"]


class Rep:
    """One repetition of a field: components of subcomponents."""

    __slots__ = ("components",)

    def __init__(self, components: Sequence[Sequence[str]]) -> None:
        self.components = tuple(tuple(c) for c in components)

    def get(self, component: int = 1, subcomponent: int = 1) -> str:
        """Component `component` (1-based), subcomponent `subcomponent`, or ''."""
        if component < 1 or component > len(self.components):
            return ""
        subs = self.components[component - 1]
        return subs[subcomponent - 1] if 0 < subcomponent <= len(subs) else ""

    def subs(self, component: int) -> tuple[str, ...]:
        if component < 1 or component > len(self.components):
            return ()
        return self.components[component - 1]

    @property
    def empty(self) -> bool:
        return not any(s for c in self.components for s in c)


def _leaves(node: Any) -> list[Any]:
    """python-hl7's children of a container, or the leaf string as a one-item list."""
    return list(node) if isinstance(node, list) else [node]


class Seg:
    """A segment of a parsed message, with its position among segments of its name
    (`index`, 1-based) for error locations like `OBX[2]-5`."""

    __slots__ = ("_esc", "_reps", "_segment", "index", "name", "total")

    def __init__(self, segment: Any, index: int = 1, total: int = 1) -> None:
        self._segment = segment
        self._esc = str(getattr(segment, "esc", "\\") or "\\")
        self._reps: dict[int, list[Rep]] = {}  # a mapping reads the same fields many times
        self.name = str(segment[0]).strip()
        self.index = index
        self.total = total

    def _escaped(self, text: str) -> str:
        value = (str(unescape(self._segment, text)) if self._esc in text else text).strip()
        return "" if value == '""' else value

    def reps(self, field: int) -> list[Rep]:
        """Field `field` as repetitions (none when it is absent or empty)."""
        cached = self._reps.get(field)
        if cached is None:
            cached = self._reps[field] = self._read(field)
        return cached

    def _read(self, field: int) -> list[Rep]:
        if field < 1 or field >= len(self._segment):
            return []
        if self.name in ("MSH", "BHS", "FHS") and field in (1, 2):
            return [Rep([[str(self._segment[field])]])]
        node = self._segment[field]
        repetitions = list(node) if len(node) and isinstance(node[0], list) else [node]
        out = []
        for rep in repetitions:
            components = [[self._escaped(str(s)) for s in _leaves(c)] for c in _leaves(rep)]
            r = Rep(components)
            if not r.empty:
                out.append(r)
        return out

    def rep(self, field: int, repetition: int = 1) -> Rep:
        reps = self.reps(field)
        return reps[repetition - 1] if 0 < repetition <= len(reps) else Rep([])

    def get(self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1) -> str:
        """The (unescaped, stripped) value at `field.component.subcomponent`, or ''."""
        return self.rep(field, repetition).get(component, subcomponent)

    def raw(self, field: int) -> str:
        """Field `field` as it stands in the message, escapes and separators included."""
        if field < 1 or field >= len(self._segment):
            return ""
        return str(self._segment[field])

    @property
    def size(self) -> int:
        """The number of the last field present."""
        return len(self._segment) - 1

    def where(self, field: int, component: int | None = None) -> str:
        """An error location: `PID-7`, `OBX[2]-5`, `PID-3.4`."""
        name = f"{self.name}[{self.index}]" if self.total > 1 else self.name
        return f"{name}-{field}" + (f".{component}" if component else "")
