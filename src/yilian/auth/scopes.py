"""SMART on FHIR scopes: the `scope` claim of a token, parsed into `SmartScope` values.

SMART App Launch v2 (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html)
writes a resource scope as `context/Type.permissions`, where context is `patient`, `user` or
`system`, Type a resource type or `*`, and permissions a non-empty subset of `cruds` in that
order (`patient/Observation.rs`, `user/*.cruds`).  v1 (still issued by many servers) writes
`read`, `write` or `*` instead: `read` is `rs`, `write` is `cud` and `*` is all five, so
`patient/*.read`, `user/Observation.write` and `system/*.*` all parse.

Decision on anything else: a scope string that is not a resource scope is **ignored**, never
refused.  A token legitimately carries scopes this server does not enforce (`openid`,
`fhirUser`, `launch/patient`, `offline_access`), and OAuth lets a resource server honour a
subset of what was granted; ignoring a malformed scope can only ever grant *less*.  For the
same reason a v2 scope with a search restriction (`patient/Observation.rs?category=laboratory`)
is dropped rather than widened to the whole type, since SmartScope cannot carry the filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal, cast, get_args

from yilian.auth.principal import Permission, SmartScope

__all__ = ["PERMISSIONS", "parse_scope", "parse_scopes", "scope_string"]

PERMISSIONS: tuple[Permission, ...] = cast(tuple[Permission, ...], get_args(Permission))
"""The v2 permission letters in their canonical order."""

_CONTEXTS: dict[str, Literal["patient", "user", "system"]] = {
    "patient": "patient",
    "user": "user",
    "system": "system",
}
_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]{1,5})$")
_V1: dict[str, frozenset[Permission]] = {
    "read": frozenset(("r", "s")),
    "write": frozenset(("c", "u", "d")),
    "*": frozenset(PERMISSIONS),
}
_V2 = re.compile(r"^c?r?u?d?s?$")
MAX_SCOPES = 200
"""A token listing more scopes than this is cut short: no real client needs more, and the
bound keeps a hostile claim from costing unbounded parsing."""


def parse_scope(text: str) -> SmartScope | None:
    """One scope string as a SmartScope, or None when it is not a resource scope."""
    match = _SCOPE.fullmatch(text)
    if match is None:
        return None
    context, resource_type, letters = match.groups()
    permissions = _V1.get(letters)
    if permissions is None:
        if not letters or not _V2.fullmatch(letters):
            return None
        permissions = frozenset(cast(Permission, letter) for letter in letters)
    return SmartScope(
        context=_CONTEXTS[context],
        resource_type=resource_type,
        permissions=permissions,
    )


def parse_scopes(claim: object) -> tuple[SmartScope, ...]:
    """The resource scopes of a `scope` claim: a space-separated string (RFC 8693 section 4.2)
    or, as some issuers send it, a list of strings.  Duplicates are merged; order is kept."""
    if isinstance(claim, str):
        items: Iterable[object] = claim.split()
    elif isinstance(claim, list | tuple):
        items = claim
    else:
        return ()
    found: dict[SmartScope, None] = {}
    for i, item in enumerate(items):
        if i >= MAX_SCOPES:
            break
        if isinstance(item, str):
            scope = parse_scope(item)
            if scope is not None:
                found[scope] = None
    return tuple(found)


def scope_string(scope: SmartScope) -> str:
    """The v2 text of a scope (`patient/Observation.rs`), for logs and token requests."""
    letters = "".join(p for p in PERMISSIONS if p in scope.permissions)
    return f"{scope.context}/{scope.resource_type}.{letters}"
