"""A piece of SQL text with its positional parameters.

The query builders compose these instead of concatenating strings and parameter lists side by
side, so a parameter can never drift away from its placeholder.  Placeholders are always `?`;
the PostgreSQL adapter rewrites them to psycopg's `%s` when it executes the statement, so the
builders never branch on the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["BatchStatement", "Sql"]

BatchStatement = tuple[str, list[tuple[object, ...]]]
"""A statement and the parameter rows it is executed with (executemany), as every write path
collects them for `Connection.batch`; kept here, below all of them, so none imports another
for its type."""


@dataclass(frozen=True, slots=True)
class Sql:
    """SQL text with `?` placeholders and the parameters for them, in order."""

    text: str
    params: tuple[object, ...] = ()

    def __add__(self, other: Sql | str) -> Sql:
        if isinstance(other, str):
            return Sql(self.text + other, self.params)
        return Sql(self.text + other.text, self.params + other.params)

    def __radd__(self, other: str) -> Sql:
        return Sql(other + self.text, self.params)

    def wrap(self, before: str, after: str) -> Sql:
        return Sql(before + self.text + after, self.params)

    @staticmethod
    def join(separator: str, parts: Iterable[Sql]) -> Sql:
        items = list(parts)
        return Sql(separator.join(p.text for p in items), tuple(x for p in items for x in p.params))

    @staticmethod
    def all_of(parts: Iterable[Sql]) -> Sql:
        """The parts ANDed, each parenthesised; no parts is true."""
        items = list(parts)
        if not items:
            return Sql("1=1")
        return Sql.join(" AND ", (p.wrap("(", ")") for p in items))

    @staticmethod
    def any_of(parts: Iterable[Sql]) -> Sql:
        """The parts ORed, each parenthesised; no parts is false."""
        items = list(parts)
        if not items:
            return Sql("1=0")
        return Sql.join(" OR ", (p.wrap("(", ")") for p in items))
