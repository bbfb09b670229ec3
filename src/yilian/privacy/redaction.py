"""Keep protected identifiers out of the audit log.

Resident ID numbers and mobile numbers are encrypted at rest (`encryption`), but a search for
one (`Patient?identifier=urn:oid:...|110101...`) would otherwise land in the audit trail's
query entity in plain text.  When identifier encryption is configured, the trail stores the
values of identifier-like search parameters as keyed hashes instead: an auditor can still tell
that two requests looked for the same number, and check a suspected number with the key, but
the log alone does not reveal it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from yilian.privacy.keyring import Keyring

__all__ = ["PROTECTED_PARAMETERS", "query_redactor"]

PROTECTED_PARAMETERS = frozenset({"identifier", "phone", "telecom"})
"""Search parameters whose values may be a resident ID or a mobile number, wherever they sit
in a chain (`subject:Patient.identifier`) or a reverse chain (`_has:...:identifier`)."""


def _protected(name: str) -> bool:
    last = name.split(".")[-1]
    return any(part in PROTECTED_PARAMETERS for part in last.split(":"))


def query_redactor(keyring: Keyring) -> Callable[[str], str]:
    """A function replacing protected values in an urlencoded query by `hmac:<digest>`."""

    def redact(query: str) -> str:
        if not query:
            return query
        pairs = parse_qsl(query, keep_blank_values=True)
        if not any(_protected(name) for name, _ in pairs):
            return query
        out = []
        for name, value in pairs:
            if _protected(name) and value:
                digest = hmac.new(keyring.hmac_key, f"audit-query|{value}".encode(), hashlib.sha256).digest()
                value = "hmac:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
            out.append((name, value))
        return urlencode(out)

    return redact
