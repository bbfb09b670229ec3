"""Pure pieces under the router: transaction planning (`fhir.bundle`) and JSON Patch (`fhir.patch`)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from yilian.fhir.bundle import (
    conditional_references,
    parse_bundle,
    rewrite_references,
    split_url,
    transaction_order,
)
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.fhir.patch import apply_patch
from yilian.router.headers import http_date, parse_version_tag, prefer_handling, prefer_return


def _entry(method: str, url: str, resource: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"request": {"method": method, "url": url}}
    if resource is not None:
        out["resource"] = resource
    return out


def test_transaction_order_follows_the_spec() -> None:
    plan = parse_bundle(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                _entry("GET", "Patient"),
                _entry("PUT", "Patient/1", {"resourceType": "Patient", "id": "1"}),
                _entry("POST", "Patient", {"resourceType": "Patient"}),
                _entry("DELETE", "Patient/2"),
                _entry("PATCH", "Patient/3", []),
                _entry("POST", "Patient", {"resourceType": "Patient"}),
            ],
        },
        max_entries=10,
    )
    assert [e.index for e in transaction_order(plan.entries)] == [3, 2, 5, 1, 4, 0]


def test_patch_entries_decode_binary() -> None:
    doc = [{"op": "remove", "path": "/gender"}]
    binary = {"resourceType": "Binary", "data": base64.b64encode(orjson.dumps(doc)).decode()}
    plan = parse_bundle(
        {"resourceType": "Bundle", "type": "batch", "entry": [_entry("PATCH", "Patient/1", binary)]},
        max_entries=5,
    )
    assert plan.entries[0].patch == doc
    with pytest.raises(OutcomeError) as caught:
        parse_bundle(
            {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [_entry("PATCH", "Patient/1", {"resourceType": "Parameters"})],
            },
            max_entries=5,
        )
    assert "Bundle.entry[0].resource" in caught.value.issues[0].expression


def test_duplicate_full_urls_are_rejected() -> None:
    entry = {**_entry("POST", "Patient", {"resourceType": "Patient"}), "fullUrl": "urn:uuid:1"}
    with pytest.raises(OutcomeError) as caught:
        parse_bundle(
            {"resourceType": "Bundle", "type": "transaction", "entry": [entry, entry]}, max_entries=5
        )
    assert "Bundle.entry[1].fullUrl" in str(caught.value)


def test_rewrite_references_everywhere_and_leaves_input_alone() -> None:
    resource = {
        "resourceType": "Observation",
        "subject": {"reference": "urn:uuid:p"},
        "performer": [{"reference": "Practitioner?identifier=x|1"}],
        "extension": [{"url": "u", "valueUri": "urn:uuid:p"}],
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><a href="urn:uuid:p">p</a></div>',
        },
        "note": [{"text": "urn:uuid:p stays in free text"}],
    }
    mapping = {"urn:uuid:p": "Patient/1", "Practitioner?identifier=x|1": "Practitioner/9"}
    out = rewrite_references(resource, mapping)
    assert out["subject"]["reference"] == "Patient/1"
    assert out["performer"][0]["reference"] == "Practitioner/9"
    assert out["extension"][0]["valueUri"] == "Patient/1"
    assert 'href="Patient/1"' in out["text"]["div"]
    assert out["note"][0]["text"] == "urn:uuid:p stays in free text"
    assert resource["subject"]["reference"] == "urn:uuid:p"
    assert conditional_references(resource) == {"Practitioner?identifier=x|1"}


def test_split_url() -> None:
    assert split_url("Patient?identifier=a%7Cb") == (("Patient",), [("identifier", "a|b")])
    assert split_url("http://h/fhir/Patient/1", "http://h/fhir") == (("Patient", "1"), [])
    with pytest.raises(OutcomeError):
        split_url("http://elsewhere/Patient/1", "http://h/fhir")


def test_json_patch_errors() -> None:
    resource = {"resourceType": "Patient", "id": "1", "gender": "male"}
    assert (
        apply_patch(resource, [{"op": "replace", "path": "/gender", "value": "female"}])["gender"] == "female"
    )
    assert resource["gender"] == "male"
    for bad in (
        {},
        [1],
        [{"op": "jump", "path": "/x"}],
        [{"op": "add", "path": "/x"}],
        [{"op": "move", "path": "/x"}],
    ):
        with pytest.raises(OutcomeError) as caught:
            apply_patch(resource, bad)
        assert caught.value.kind is Outcome.BAD_REQUEST
    with pytest.raises(OutcomeError) as caught:
        apply_patch(resource, [{"op": "test", "path": "/gender", "value": "female"}])
    assert caught.value.kind is Outcome.UNPROCESSABLE
    for protected in ("/id", "/resourceType"):
        with pytest.raises(OutcomeError):
            apply_patch(resource, [{"op": "replace", "path": protected, "value": "X"}])


def test_headers() -> None:
    assert parse_version_tag('W/"12"') == 12 and parse_version_tag('"3"') == 3
    with pytest.raises(OutcomeError):
        parse_version_tag('W/"abc"')
    assert prefer_return({"prefer": "return=minimal"}) == "minimal"
    assert prefer_return({"prefer": "handling=strict, return=OperationOutcome"}) == "OperationOutcome"
    assert prefer_return({}) == "representation"
    assert prefer_handling({"prefer": "handling=strict"}, "lenient") is True
    assert prefer_handling({}, "strict") is True and prefer_handling({}, "lenient") is False
    assert http_date("2026-11-23T01:02:03.456789+00:00") == "Mon, 23 Nov 2026 01:02:03 GMT"
