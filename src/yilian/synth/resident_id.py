"""The 18-digit resident identity number (居民身份证号码, GB 11643-1999).

Layout: a 6-digit administrative division code, the 8-digit birth date `YYYYMMDD`, a 3-digit
sequence number whose parity gives the sex (odd for men, even for women), and a check
character computed ISO 7064 MOD 11-2 over the first 17 digits (`X` stands for 10).  The
synthetic generator makes numbers with a valid check character so the patient index can rely on
it, and tests can tell a mistyped number from a real one.
"""

from __future__ import annotations

import re

from yilian.alliance.identifiers import RESIDENT_ID_SYSTEM

__all__ = ["RESIDENT_ID_SYSTEM", "check_character", "is_valid_resident_id", "make_resident_id"]


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


def check_character(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def is_valid_resident_id(value: str) -> bool:
    """Whether `value` is 18 characters with a correct check character (a lower-case `x` is
    accepted, as people type it)."""
    value = value.upper()
    return bool(_SHAPE.fullmatch(value)) and check_character(value[:17]) == value[17]


def make_resident_id(division: str, birth_date: str, sequence: int) -> str:
    """Assemble a number from a 6-digit division code, a `YYYY-MM-DD` birth date and a sequence
    number 0-999 (odd for a man, even for a woman)."""
    if len(division) != 6 or not division.isdigit():
        raise ValueError(f"division code must be 6 digits, got {division!r}")
    if not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be 0-999, got {sequence}")
    first17 = division + birth_date.replace("-", "") + f"{sequence:03d}"
    return first17 + check_character(first17)
