"""JSON in and out of FHIR resources, keeping each decimal as it was written.

FHIR decimals are precise to the digits written: `1.50` is not `1.5`, and a server must hand
back what it was sent (http://hl7.org/fhir/R4/datatypes.html#decimal,
http://hl7.org/fhir/R4/json.html).  A JSON parser that makes floats loses that: `1.50`,
`1.0e2` or `0.100000000000000005551` come back as `1.5`, `100.0` and `0.1`.

So `loads` keeps the text of every number a float would not give back, in a `DecimalText`
(a float that remembers its text), and `dumps` writes that text again.  Nearly every
document holds no such number; a scan of its bytes tells, and those documents take orjson
alone both ways, exactly as before.  The scan is conservative: it may send a document down
the careful path for nothing (a string that looks like `: 1.50,`), never the other way.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["DecimalText", "dumps", "keeps_text", "loads"]

# What a number that a float writes differently must show in the text: a fraction ending
# in 0 (other than `X.0`, which orjson writes as it is), 16 or more digits (8 after the
# point or 9 before it), a magnitude under 1e-5 (`0.00000...`), or an exponent.  Each
# pattern starts with a literal byte, so `re` skips to it at C speed.  A match may lie
# inside a string (`"ratio 1.50, ..."`); that only costs a careful parse.
_POINT = re.compile(rb"\.(?:[0-9]+0[\s,}\]]|[0-9]{8}|00000|(?<=[0-9]{9}\.))")
_EXPONENTS = (
    re.compile(rb"e(?<=[0-9]e)[-+]?[0-9]+[\s,}\]]"),
    re.compile(rb"E(?<=[0-9]E)[-+]?[0-9]+[\s,}\]]"),
)


class DecimalText(float):
    """A decimal whose written form a float does not reproduce; `text` is that form.

    It is a float everywhere it is read (validation, search extraction, comparisons), and
    copies keep it whole: it is immutable, so copy and deepcopy return it as it is."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> DecimalText:
        made = super().__new__(cls, text)
        made.text = text
        return made

    def __reduce__(self) -> tuple[type[DecimalText], tuple[str]]:
        return DecimalText, (self.text,)

    def __copy__(self) -> DecimalText:
        return self

    def __deepcopy__(self, memo: object) -> DecimalText:
        return self

    def __repr__(self) -> str:
        return f"DecimalText({self.text!r})"


def keeps_text(text: str) -> bool:
    """Whether a float written by orjson would give `text` back."""
    return orjson.dumps(float(text)) == text.encode()


def _needs_text(raw: bytes) -> bool:
    """Whether `raw` may hold a number that a float would write differently (the careful
    parse then decides number by number)."""
    return _POINT.search(raw) is not None or any(e.search(raw) for e in _EXPONENTS)


def _parse_float(text: str) -> float:
    return float(text) if keeps_text(text) else DecimalText(text)


_CAREFUL = json.JSONDecoder(parse_float=_parse_float)


def loads(data: bytes | str) -> Any:
    """Parse JSON as orjson does (same errors), decimals that a float would change kept as
    `DecimalText`.

    Compact JSON that orjson writes back byte for byte (what the store holds, most NDJSON)
    needs no scan: its numbers came back as they were."""
    parsed = orjson.loads(data)
    raw = data.encode() if isinstance(data, str) else data
    if orjson.dumps(parsed) == raw or not _needs_text(raw):
        return parsed
    return _CAREFUL.decode(data if isinstance(data, str) else data.decode())


def _default(value: Any) -> Any:
    if type(value) is DecimalText:
        return orjson.Fragment(value.text)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any, option: int = 0) -> bytes:
    """orjson.dumps, writing each `DecimalText` as its text (and nothing else differently)."""
    return orjson.dumps(value, default=_default, option=option)
