"""SMART scope parsing: v2 `cruds`, v1 `read`/`write`/`*`, and what is ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yilian.auth.principal import SmartScope
from yilian.auth.scopes import parse_scope, parse_scopes, scope_string

ALL = frozenset("cruds")


@pytest.mark.parametrize(
    ("text", "context", "rtype", "permissions"),
    [
        ("patient/Observation.rs", "patient", "Observation", "rs"),
        ("user/*.cruds", "user", "*", "cruds"),
        ("system/*.cruds", "system", "*", "cruds"),
        ("user/Patient.c", "user", "Patient", "c"),
        ("patient/Encounter.cud", "patient", "Encounter", "cud"),
        # v1 forms
        ("patient/*.read", "patient", "*", "rs"),
        ("user/Observation.write", "user", "Observation", "cud"),
        ("system/*.*", "system", "*", "cruds"),
        ("user/MedicationRequest.*", "user", "MedicationRequest", "cruds"),
    ],
)
def test_resource_scopes_normalise_to_v2(text: str, context: str, rtype: str, permissions: str) -> None:
    scope = parse_scope(text)
    assert scope == SmartScope(context, rtype, frozenset(permissions))  # type: ignore[arg-type]
    assert parse_scope(scope_string(scope)) == scope


@pytest.mark.parametrize(
    "text",
    [
        "openid",
        "fhirUser",
        "launch/patient",
        "offline_access",
        "*.*",  # no context: refused rather than guessed
        "patient/Observation.sr",  # v2 letters out of order
        "patient/Observation.rr",
        "patient/Observation.x",
        "patient/Observation.",
        "patient/observation.rs",  # not a resource type
        "doctor/*.rs",
        "patient/Observation.rs?category=laboratory",  # granular: dropped, never widened
        "patient/Observation.readwrite",
        "",
    ],
)
def test_other_scopes_are_ignored(text: str) -> None:
    assert parse_scope(text) is None


def test_claim_forms_and_duplicates() -> None:
    claim = "openid fhirUser user/*.rs user/*.read patient/Observation.r  system/*.cruds"
    scopes = parse_scopes(claim)
    assert [scope_string(s) for s in scopes] == ["user/*.rs", "patient/Observation.r", "system/*.cruds"]
    assert parse_scopes(["user/*.rs", 7, None]) == (SmartScope("user", "*", frozenset("rs")),)
    assert parse_scopes(None) == () and parse_scopes(42) == () and parse_scopes({"a": 1}) == ()


def test_covers() -> None:
    (read,) = parse_scopes("user/Observation.read")
    assert read.covers("Observation", "r") and read.covers("Observation", "s")
    assert not read.covers("Observation", "c") and not read.covers("Patient", "r")
    (everything,) = parse_scopes("system/*.*")
    assert all(everything.covers("Patient", p) for p in "cruds")  # type: ignore[arg-type]


@given(st.text(max_size=300))
def test_random_claims_never_crash(claim: str) -> None:
    for scope in parse_scopes(claim):
        assert scope.permissions and scope.permissions <= ALL
        assert scope.context in ("patient", "user", "system")
