"""Checking the 18-digit resident identity number (居民身份证号码, GB 11643-1999).

Layout: a 6-digit administrative division code, the 8-digit birth date `YYYYMMDD`, a 3-digit
sequence number whose parity gives the sex (odd for men, even for women), and a check
character computed ISO 7064 MOD 11-2 over the first 17 digits (`X` stands for 10).  Every feed
that receives a resident ID checks it here, so a mistyped number is reported where it arrives
instead of linking the wrong people in the patient index; the synthetic generator makes its
numbers with the same check character.
"""

from __future__ import annotations

import re

__all__ = ["check_character", "is_valid_resident_id"]


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
