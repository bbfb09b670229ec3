"""The range a decimal's written precision implies, for number and quantity search.

http://hl7.org/fhir/R4/search.html#number: "the precision of the search value is
significant": `100` matches anything in `[99.5, 100.5)`, `100.00` anything in
`[99.995, 100.005)`, and `1e2` anything in `[50, 150)`.  Both sides use the same rule: the
parser on the text the client wrote, the extractor on the text the resource holds (a number
a float would write differently, such as `1.50`, keeps its text: `fhir.jsontext`; any other is
the shortest text that reproduces it).
The model treats the ranges as inclusive at both ends.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

__all__ = ["decimal_range", "number_range"]

_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")


def decimal_range(text: str) -> tuple[float, float, float]:
    """`(value, low, high)` for a decimal written as `text`.  Raises ValueError on text that
    is not a finite decimal."""
    if _DECIMAL_RE.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a decimal number")
    number = Decimal(text)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite decimals have an integer exponent
    try:
        half = Decimal(5).scaleb(exponent - 1)
        bounds = float(number), float(number - half), float(number + half)
    except ArithmeticError:
        raise ValueError(f"{text!r} is out of range") from None
    if not all(map(math.isfinite, bounds)):
        raise ValueError(f"{text!r} is out of range")
    return bounds


def number_range(value: int | float) -> tuple[float, float]:
    """`(low, high)` for a number parsed from JSON (an int is precise to the unit)."""
    if isinstance(value, int):
        return value - 0.5, value + 0.5
    _, low, high = decimal_range(repr(value))
    return low, high
