"""The raw-body checks on their own: depth scan, media types, UTF-8, negotiation."""

from __future__ import annotations

import pytest

from yilian.api.body import BodyLimits, check_depth, parse_body
from yilian.api.negotiation import negotiate
from yilian.fhir.outcome import Outcome, OutcomeError

LIMITS = BodyLimits(max_bytes=1 << 20, max_depth=5)


def test_depth_counts_nesting_not_brackets_in_strings() -> None:
    check_depth(b'{"a": "[[[[[[[[[[{{{{{{{{", "b": [[[1]]]}', 5)
    check_depth(b'{"a": "\\"[[[[[[[[[[[", "b": [1]}', 5)  # an escaped quote does not end the string
    with pytest.raises(OutcomeError) as err:
        check_depth(b"[" * 6 + b"]" * 6, 5)
    assert err.value.kind is Outcome.BAD_REQUEST
    check_depth(b"[" * 5 + b"]" * 5, 5)
    check_depth(b"[[]]" * 100, 5)  # many siblings, shallow


def test_depth_scan_stops_early_on_huge_input() -> None:
    with pytest.raises(OutcomeError, match="deeper than 5"):
        check_depth(b"[" * 5_000_000, 5)


@pytest.mark.parametrize(
    ("content_type", "method", "is_search", "ok"),
    [
        ("application/fhir+json", "POST", False, True),
        ("application/json; charset=utf-8", "PUT", False, True),
        ("Application/FHIR+JSON; fhirVersion=4.0", "POST", False, True),
        ("application/json-patch+json", "PATCH", False, True),
        ("application/json-patch+json", "POST", False, False),
        ("application/x-www-form-urlencoded", "POST", True, True),
        ("application/fhir+json", "POST", True, False),
        ("text/plain", "POST", False, False),
    ],
)
def test_media_types(content_type: str, method: str, is_search: bool, ok: bool) -> None:
    raw = b"a=1" if "form" in content_type else (b"[]" if method == "PATCH" else b"{}")
    if ok:
        parse_body(raw, content_type, method=method, is_search=is_search, limits=LIMITS)
    else:
        with pytest.raises(OutcomeError) as err:
            parse_body(raw, content_type, method=method, is_search=is_search, limits=LIMITS)
        assert err.value.kind is Outcome.UNSUPPORTED_MEDIA_TYPE


def test_form_fields_become_query_items() -> None:
    parsed = parse_body(
        b"family=%E7%8E%8B&gender=female&name=",
        "application/x-www-form-urlencoded",
        method="POST",
        is_search=True,
        limits=LIMITS,
    )
    assert parsed.form == [("family", "王"), ("gender", "female"), ("name", "")]


def test_byte_order_mark_is_tolerated_and_invalid_utf8_named() -> None:
    assert parse_body(
        b'\xef\xbb\xbf{"a": 1}', "application/json", method="POST", is_search=False, limits=LIMITS
    ).json == {"a": 1}
    with pytest.raises(OutcomeError, match="byte 7"):
        parse_body(b'{"a": "\xff"}', "application/json", method="POST", is_search=False, limits=LIMITS)


@pytest.mark.parametrize(
    ("query", "accept", "ok"),
    [
        ([], "", True),
        ([], "application/fhir+json", True),
        ([], "application/json;q=0.5, text/html", True),
        ([], "application/fhir+json;q=0", False),
        ([("_format", "json")], "application/xml", True),  # _format overrides Accept
        ([("_format", "application/fhir+xml")], "", False),
        ([("_format", "turtle")], "", False),
    ],
)
def test_negotiation(query: list[tuple[str, str]], accept: str, ok: bool) -> None:
    headers = {"accept": accept} if accept else {}
    if ok:
        negotiate(query, headers)
    else:
        with pytest.raises(OutcomeError) as err:
            negotiate(query, headers)
        assert err.value.kind is Outcome.NOT_ACCEPTABLE


def test_pretty_must_be_boolean() -> None:
    assert negotiate([("_pretty", "true")], {}).pretty
    with pytest.raises(OutcomeError):
        negotiate([("_pretty", "yes")], {})
