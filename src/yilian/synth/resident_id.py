"""The 18-digit resident identity number (居民身份证号码, GB 11643-1999).

Layout: a 6-digit administrative division code, the 8-digit birth date `YYYYMMDD`, a 3-digit
sequence number whose parity gives the sex (odd for men, even for women), and a check
character computed ISO 7064 MOD 11-2 over the first 17 digits (`X` stands for 10).  The
synthetic generator makes numbers with a valid check character so the patient index can rely on
it, and tests can tell a mistyped number from a real one.  The check itself lives in
`alliance.resident_id`, where the feeds that receive these numbers can reach it.
"""

from __future__ import annotations

from yilian.alliance.identifiers import RESIDENT_ID_SYSTEM
from yilian.alliance.resident_id import check_character, is_valid_resident_id

__all__ = ["RESIDENT_ID_SYSTEM", "check_character", "is_valid_resident_id", "make_resident_id"]


def make_resident_id(division: str, birth_date: str, sequence: int) -> str:
    """Assemble a number from a 6-digit division code, a `YYYY-MM-DD` birth date and a sequence
    number 0-999 (odd for a man, even for a woman)."""
    if len(division) != 6 or not division.isdigit():
        raise ValueError(f"division code must be 6 digits, got {division!r}")
    if not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be 0-999, got {sequence}")
    first17 = division + birth_date.replace("-", "") + f"{sequence:03d}"
    return first17 + check_character(first17)
