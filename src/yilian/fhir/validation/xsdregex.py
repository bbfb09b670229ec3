"""XML Schema regular expressions, as the R4 definitions write them, turned into Python `re`.

The `regex` extension on each R4 primitive type (http://hl7.org/fhir/R4/datatypes.html) is an
XML Schema regular expression (https://www.w3.org/TR/xmlschema-2/#regexs), and read as a
Python pattern it means something else:

- `\\s` is exactly space, tab, newline and carriage return (XML whitespace), and `\\S` is
  everything else; Python's are Unicode-aware, so its `\\S` refuses the no-break space U+00A0
  and the ideographic space U+3000 that Chinese free text is full of, and the R4 string
  regex `[ \\r\\n\\t\\S]+` turned "张\\u3000伟" away;
- a pattern always matches the whole value (there are no anchors): callers use `fullmatch`,
  and `^` and `$` are ordinary characters;
- `.` is any character but newline and carriage return (Python's lets `\\r` through);
- `\\w` is every character outside the punctuation, separator and "other" categories (so not
  `_`, unlike Python's), `\\i` and `\\c` are the XML name characters, `\\p{Lu}`/`\\P{Lu}` are
  Unicode general categories, all unknown to Python's `re`;
- a character class may subtract another, `[a-z-[aeiou]]`;
- groups only group (they are compiled as `(?:...)`: nothing here reads a capture), and
  `(?`, `*?`, `\\1` and the like are not XML Schema: they are refused instead of being read
  as the Python extensions they look like.

Every character class is computed as a set of code-point ranges and written out as one
explicit Python class, so unions, negation and subtraction need no Python feature at all.
The Unicode tables behind `\\d`, `\\w` and `\\p{..}` are Python's `unicodedata`; they are built
on first use (none of the R4 primitive patterns needs them).  Block escapes (`\\p{IsGreek}`)
are refused: no definition here uses them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import NoReturn

__all__ = ["XSD_SPACE", "XsdRegexError", "compile_xsd", "is_xsd_space", "translate"]

XSD_SPACE = " \t\n\r"
"""XML whitespace (https://www.w3.org/TR/xml/#NT-S), what `\\s` means in XML Schema."""

_MAX = 0x10FFFF
_Ranges = tuple[tuple[int, int], ...]
_SPACE: _Ranges = ((0x9, 0xA), (0xD, 0xD), (0x20, 0x20))
_NOT_LINE_END: _Ranges = ((0x0, 0x9), (0xB, 0xC), (0xE, _MAX))
# XML 1.0 fifth edition NameStartChar (https://www.w3.org/TR/xml/#NT-NameStartChar), which
# XML Schema 1.1 names for `\i`; NameChar adds the characters after it for `\c`.
_NAME_START: _Ranges = (
    (0x3A, 0x3A), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6),
    (0xF8, 0x2FF), (0x370, 0x37D), (0x37F, 0x1FFF), (0x200C, 0x200D), (0x2070, 0x218F),
    (0x2C00, 0x2FEF), (0x3001, 0xD7FF), (0xF900, 0xFDCF), (0xFDF0, 0xFFFD), (0x10000, 0xEFFFF),
)  # fmt: skip
_NAME_MORE: _Ranges = ((0x2D, 0x2E), (0x30, 0x39), (0xB7, 0xB7), (0x300, 0x36F), (0x203F, 0x2040))
# Characters that need a backslash in XML Schema (SingleCharEsc) and what they stand for.
_SINGLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"} | {c: c for c in "\\|.?*+(){}-[]^"}
_METACHARACTERS = frozenset(".\\?*+{}()|[]")


class XsdRegexError(ValueError):
    """The pattern is not an XML Schema regular expression this module can translate."""


def is_xsd_space(text: str) -> bool:
    """True when `text` is non-empty and made only of XML whitespace."""
    return bool(text) and not text.strip(XSD_SPACE)


def compile_xsd(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled for Python; a value matches when `fullmatch` finds it does."""
    return re.compile(translate(pattern))


def translate(pattern: str) -> str:
    """The Python `re` equivalent of the XML Schema `pattern` (to be used with `fullmatch`)."""
    parser = _Parser(pattern)
    out = parser.regexp()
    if parser.pos != len(pattern):
        parser.fail(f"unexpected {pattern[parser.pos]!r}")
    return out


# ---------------------------------------------------------------------------------------------
# code-point range sets


def _normal(ranges: list[tuple[int, int]]) -> _Ranges:
    """Sorted, merged, non-overlapping ranges."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _complement(ranges: _Ranges) -> _Ranges:
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX:
        out.append((nxt, _MAX))
    return tuple(out)


def _subtract(ranges: _Ranges, removed: _Ranges) -> _Ranges:
    """The code points of `ranges` not in `removed` (both normal)."""
    keep = _complement(removed)
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(ranges) and j < len(keep):
        lo, hi = max(ranges[i][0], keep[j][0]), min(ranges[i][1], keep[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if ranges[i][1] < keep[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


@cache
def _categories() -> dict[str, _Ranges]:
    """Code-point ranges of every Unicode general category, by one- and two-letter name."""
    found: dict[str, list[tuple[int, int]]] = {}
    category = unicodedata.category
    start, current = 0, category("\0")
    for cp in range(1, _MAX + 2):
        name = category(chr(cp)) if cp <= _MAX else ""
        if name != current:
            found.setdefault(current, []).append((start, cp - 1))
            found.setdefault(current[0], []).append((start, cp - 1))
            start, current = cp, name
    return {name: _normal(ranges) for name, ranges in found.items()}


def _category(name: str) -> _Ranges:
    return _categories().get(name, ())


@cache
def _word() -> _Ranges:
    """`\\w`: all of Unicode but punctuation, separators and "other" (P, Z, C)."""
    return _complement(_normal([*_category("P"), *_category("Z"), *_category("C")]))


def _multi_escape(letter: str) -> _Ranges:
    """The set a multi-character escape (`\\s`, `\\d`, `\\w`, `\\i`, `\\c`, upper case negated)."""
    lower = letter.lower()
    if lower == "s":
        base = _SPACE
    elif lower == "d":
        base = _category("Nd")
    elif lower == "w":
        base = _word()
    elif lower == "i":
        base = _NAME_START
    else:
        base = _normal([*_NAME_START, *_NAME_MORE])
    return _complement(base) if letter.isupper() else base


def _code_point(cp: int) -> str:
    """One code point as Python pattern text, the same inside a class and outside."""
    if cp < 0x80 and chr(cp).isalnum():
        return chr(cp)
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _class_text(ranges: _Ranges) -> str:
    """A Python character class matching exactly `ranges` (one matching nothing if empty)."""
    if not ranges:
        return f"[^\\x00-{_code_point(_MAX)}]"
    parts = [_code_point(lo) if lo == hi else f"{_code_point(lo)}-{_code_point(hi)}" for lo, hi in ranges]
    return "[" + "".join(parts) + "]"


# ---------------------------------------------------------------------------------------------
# the parser (https://www.w3.org/TR/xmlschema-2/#regexs, productions [1] to [37])


class _Parser:
    __slots__ = ("pattern", "pos")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0

    def fail(self, why: str) -> NoReturn:
        raise XsdRegexError(f"{why} at offset {self.pos} of the XML Schema regex {self.pattern!r}")

    def peek(self, ahead: int = 0) -> str:
        at = self.pos + ahead
        return self.pattern[at] if at < len(self.pattern) else ""

    def regexp(self) -> str:
        """regExp ::= branch ( '|' branch )*"""
        branches = [self.branch()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.branch())
        return "|".join(branches)

    def branch(self) -> str:
        """branch ::= piece*"""
        pieces: list[str] = []
        while self.peek() not in ("", "|", ")"):
            pieces.append(self.piece())
        return "".join(pieces)

    def piece(self) -> str:
        """piece ::= atom quantifier?"""
        atom = self.atom()
        quantifier = self.quantifier()
        if quantifier and self.peek() and self.peek() in "?*+{":
            self.fail("a quantifier cannot follow a quantifier")
        return atom + quantifier

    def quantifier(self) -> str:
        char = self.peek()
        if char and char in "?*+":
            self.pos += 1
            return char
        if char != "{":
            return ""
        match = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.pattern, self.pos)
        if match is None:
            self.fail("a '{' that does not start a quantity {n}, {n,} or {n,m}")
        low, high = match.group(1), match.group(3)
        if high and int(high) < int(low):
            self.fail(f"the quantity {match.group(0)} has its bounds reversed")
        self.pos = match.end()
        return match.group(0)

    def atom(self) -> str:
        """atom ::= NormalChar | charClass | '(' regExp ')'"""
        char = self.peek()
        if char == "(":
            if self.peek(1) == "?":
                self.fail("'(?' is not XML Schema (groups have no options)")
            self.pos += 1
            inner = self.regexp()
            if self.peek() != ")":
                self.fail("a '(' is never closed")
            self.pos += 1
            return f"(?:{inner})"
        if char == "[":
            return _class_text(self.class_expression())
        if char == ".":
            self.pos += 1
            return _class_text(_NOT_LINE_END)
        if char == "\\":
            single, ranges = self.escape()
            return _code_point(ord(single)) if single else _class_text(ranges)
        if char in _METACHARACTERS:
            self.fail(f"{char!r} must be escaped")
        self.pos += 1
        return _code_point(ord(char))  # ^ and $ are ordinary characters here

    def escape(self) -> tuple[str, _Ranges]:
        """A backslash escape: (the character, ()) or ("", the set it stands for)."""
        letter = self.peek(1)
        self.pos += 2
        if letter in _SINGLE_ESCAPES:
            return _SINGLE_ESCAPES[letter], ()
        if letter and letter in "sSdDwWiIcC":
            return "", _multi_escape(letter)
        if letter in ("p", "P"):
            match = re.compile(r"\{([A-Za-z]{1,2}|Is[A-Za-z0-9-]+)\}").match(self.pattern, self.pos)
            if match is None or match.group(1).startswith("Is") or not _category(match.group(1)):
                self.pos -= 2
                self.fail("only \\p{..} and \\P{..} of a Unicode general category are supported")
            self.pos = match.end()
            ranges = _category(match.group(1))
            return "", _complement(ranges) if letter == "P" else ranges
        self.pos -= 2
        self.fail(f"'\\{letter}' is not an XML Schema escape")

    def class_expression(self) -> _Ranges:
        """charClassExpr ::= '[' charGroup ']', charGroup ::= (posCharGroup | negCharGroup)
        ( '-' charClassExpr )?"""
        self.pos += 1
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        items: list[tuple[int, int]] = []
        first = True
        while True:
            char = self.peek()
            if char == "":
                self.fail("a '[' is never closed")
            if char == "]":
                break
            if char == "-" and self.peek(1) == "[":
                if first:
                    self.fail("a class subtraction needs a class to subtract from")
                self.pos += 1
                subtracted = self.class_expression()
                if self.peek() != "]":
                    self.fail("a class subtraction must end its class")
                self.pos += 1
                return self.group(items, negated, subtracted)
            items.extend(self.class_item(first))
            first = False
        if first:
            self.fail("a character class cannot be empty")
        self.pos += 1
        return self.group(items, negated, ())

    @staticmethod
    def group(items: list[tuple[int, int]], negated: bool, subtracted: _Ranges) -> _Ranges:
        ranges = _normal(items)
        if negated:
            ranges = _complement(ranges)
        return _subtract(ranges, subtracted) if subtracted else ranges

    def class_item(self, first: bool) -> _Ranges:
        """A range `a-z`, one character, or a multi-character escape, inside a class."""
        char = self.peek()
        if char == "-" and not first and self.peek(1) != "]":
            self.fail("a '-' inside a class must be first, last, or between a range's ends")
        if char == "[":
            self.fail("a '[' inside a class must be escaped")
        low = self.class_char()
        if isinstance(low, tuple):
            return low
        if self.peek() == "-" and self.peek(1) not in ("]", "["):
            self.pos += 1
            high = self.class_char()
            if isinstance(high, tuple):
                self.fail("a range cannot end in a multi-character escape")
            if high < low:
                self.fail("a range has its ends reversed")
            return ((low, high),)
        return ((low, low),)

    def class_char(self) -> int | _Ranges:
        """One character of a class (its code point) or a multi-character escape (its set)."""
        char = self.peek()
        if char == "\\":
            single, ranges = self.escape()
            return ord(single) if single else ranges
        self.pos += 1
        return ord(char)
