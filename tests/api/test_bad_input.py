"""The issue's "Bad input" list, end to end through real HTTP requests on both backends.

Every case checks the status, that the body is an OperationOutcome saying what was wrong, that
nothing was written (the store's history is as long as before) and that the server still
answers afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import orjson
import pytest
from tests.api.helpers import FHIR_JSON, assert_outcome, history_size, still_serving
from tests.serving import auth_headers

PATIENT = {"resourceType": "Patient", "name": [{"family": "王", "given": ["秀英"]}], "gender": "female"}


def _post(client: httpx.Client, url: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(url, content=content, headers={**FHIR_JSON, **headers})


class Unchanged:
    """Context manager: the store's history length is the same after the block."""

    def __init__(self, client: httpx.Client, base: str) -> None:
        self.client, self.base = client, base

    def __enter__(self) -> None:
        self.before = history_size(self.client, self.base)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert history_size(self.client, self.base) == self.before, "a rejected request wrote something"
            still_serving(self.client, self.base)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"resourceType": "Patient", "gender": "female"', "line 1"),
        (b'{"resourceType": "Patient",\n "gender": female}', "line 2"),
        (b"", None),  # an empty create body is a client error too (no resource)
        (b"\x00\x01", "line 1"),
    ],
)
def test_malformed_json(fhir: str, client: httpx.Client, raw: bytes, where: str | None) -> None:
    with Unchanged(client, fhir):
        response = _post(client, f"{fhir}/Patient", raw)
        body = assert_outcome(response, 400)
        if where:
            assert where in body["issue"][0]["diagnostics"]


def test_body_that_is_not_utf8(fhir: str, client: httpx.Client) -> None:
    raw = '{"resourceType": "Patient", "name": [{"text": "王秀英"}]}'.encode("gb18030")
    with Unchanged(client, fhir):
        assert_outcome(_post(client, f"{fhir}/county-hospital/Patient", raw), 400, contains="UTF-8")


def test_body_that_is_not_an_object(fhir: str, client: httpx.Client) -> None:
    with Unchanged(client, fhir):
        assert_outcome(_post(client, f"{fhir}/Patient", [PATIENT]), 400, contains="JSON object")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/fhir+xml", "application/x-www-form-urlencoded", None],
)
def test_wrong_content_type(fhir: str, client: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    with Unchanged(client, fhir):
        response = client.post(f"{fhir}/Patient", content=orjson.dumps(PATIENT), headers=headers)
        assert_outcome(response, 415, contains="application/fhir+json")


def test_non_utf8_charset_is_415(fhir: str, client: httpx.Client) -> None:
    with Unchanged(client, fhir):
        response = _post(
            client, f"{fhir}/Patient", PATIENT, **{"Content-Type": "application/fhir+json; charset=gbk"}
        )
        assert_outcome(response, 415, contains="charset")


def test_charset_parameter_is_allowed(fhir: str, client: httpx.Client) -> None:
    response = _post(
        client, f"{fhir}/Patient", PATIENT, **{"Content-Type": "application/json; charset=UTF-8"}
    )
    assert response.status_code == 201, response.text


def test_form_search_only_on_search(fhir: str, client: httpx.Client) -> None:
    with Unchanged(client, fhir):
        response = client.put(
            f"{fhir}/Patient/x",
            content=b"family=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert_outcome(response, 415)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_unknown_resource_type(fhir: str, client: httpx.Client, method: str) -> None:
    with Unchanged(client, fhir):
        response = client.request(
            method,
            f"{fhir}/Pateint/1" if method != "POST" else f"{fhir}/Pateint",
            content=orjson.dumps({"resourceType": "Pateint"}),
            headers=FHIR_JSON,
        )
        assert_outcome(response, 404, contains="Pateint")


def test_unknown_resource_type_in_body(fhir: str, client: httpx.Client) -> None:
    with Unchanged(client, fhir):
        response = _post(client, f"{fhir}/Patient", {"resourceType": "Pateint"})
        assert response.status_code in (400, 422)
        assert_outcome(response, response.status_code, contains="Pateint")


def test_unknown_search_parameter_strict_and_lenient(fhir: str, client: httpx.Client) -> None:
    url = f"{fhir}/Patient"
    with Unchanged(client, fhir):
        strict = client.get(url, params={"shoe-size": "42"}, headers={"Prefer": "handling=strict"})
        assert_outcome(strict, 400, contains="shoe-size")
        lenient = client.get(url, params={"shoe-size": "42"}, headers={"Prefer": "handling=lenient"})
        assert lenient.status_code == 200
        assert lenient.json()["resourceType"] == "Bundle"


def test_strict_handling_as_the_server_default(serve: Callable[..., AbstractContextManager[str]]) -> None:
    with serve(default_handling="strict") as base, httpx.Client(headers=auth_headers()) as client:
        assert_outcome(client.get(f"{base}/Patient", params={"shoe-size": "42"}), 400, contains="shoe-size")
        assert (
            client.get(
                f"{base}/Patient", params={"shoe-size": "42"}, headers={"Prefer": "handling=lenient"}
            ).status_code
            == 200
        )


def test_body_id_disagrees_with_url(fhir: str, client: httpx.Client) -> None:
    with Unchanged(client, fhir):
        response = client.put(
            f"{fhir}/Patient/abc", content=orjson.dumps({**PATIENT, "id": "xyz"}), headers=FHIR_JSON
        )
        assert_outcome(response, 400, contains="xyz")
        missing = client.put(f"{fhir}/Patient/abc", content=orjson.dumps(PATIENT), headers=FHIR_JSON)
        assert_outcome(missing, 400)
    assert client.get(f"{fhir}/Patient/abc").status_code == 404


def test_oversized_body(serve: Callable[..., AbstractContextManager[str]]) -> None:
    big = {
        **PATIENT,
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "字" * 6000 + "</div>",
        },
    }
    raw = orjson.dumps(big)
    assert len(raw) > 16 * 1024
    with serve(max_body_bytes=16 * 1024) as base, httpx.Client(timeout=60, headers=auth_headers()) as client:
        with Unchanged(client, base):
            assert_outcome(_post(client, f"{base}/Patient", raw), 413, contains="16384")
            # Without a Content-Length (chunked), the limit still holds while streaming.
            chunked = client.post(
                f"{base}/Patient", content=iter([raw[:8000], raw[8000:]]), headers=FHIR_JSON
            )
            assert_outcome(chunked, 413)
        # A body under the limit is accepted by the same server.
        small = _post(client, f"{base}/Patient", PATIENT)
        assert small.status_code == 201, small.text


def test_absurd_nesting_is_refused_without_recursion(fhir: str, client: httpx.Client) -> None:
    deep = b'{"resourceType": "Patient", "extension": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with Unchanged(client, fhir):
        assert_outcome(_post(client, f"{fhir}/Patient", deep), 400, contains="deeper than 100")
        objects = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
        assert_outcome(_post(client, f"{fhir}/Patient", objects), 400, contains="deeper than 100")
    # Brackets inside strings are text, not nesting.
    created = _post(client, f"{fhir}/Patient", {**PATIENT, "name": [{"text": "[" * 500}]})
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    "params",
    [{"_offset": "abc"}, {"_offset": "-1"}, {"_count": "abc"}, {"_count": "-5"}],
)
def test_invalid_paging_parameters(fhir: str, client: httpx.Client, params: dict[str, str]) -> None:
    with Unchanged(client, fhir):
        assert_outcome(client.get(f"{fhir}/Patient", params=params), 400, contains=next(iter(params)))


def test_transaction_with_one_bad_entry_writes_nothing(fhir: str, client: httpx.Client) -> None:
    good = {
        "fullUrl": "urn:uuid:0b9b5a4e-1f4e-4a53-9a43-3d8e7c1f0a01",
        "resource": PATIENT,
        "request": {"method": "POST", "url": "Patient"},
    }
    observation = {
        "fullUrl": "urn:uuid:0b9b5a4e-1f4e-4a53-9a43-3d8e7c1f0a02",
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "血压"},
            "subject": {"reference": "urn:uuid:0b9b5a4e-1f4e-4a53-9a43-3d8e7c1f0a01"},
        },
        "request": {"method": "POST", "url": "Observation"},
    }
    bad = {
        "fullUrl": "urn:uuid:0b9b5a4e-1f4e-4a53-9a43-3d8e7c1f0a03",
        "resource": {"resourceType": "Patient", "birthDate": "not-a-date"},
        "request": {"method": "POST", "url": "Patient"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [good, observation, bad]}
    with Unchanged(client, fhir):
        response = _post(client, f"{fhir}/county-hospital", bundle)
        assert 400 <= response.status_code < 500
        body = assert_outcome(response, response.status_code)
        assert any(
            "birthDate" in " ".join(i.get("expression", [])) + i.get("diagnostics", "") for i in body["issue"]
        )
    assert client.get(f"{fhir}/Patient").json().get("total", 0) == 0


def test_unregistered_institution(fhir: str, client: httpx.Client) -> None:
    with Unchanged(client, fhir):
        assert_outcome(client.get(f"{fhir}/no-such-clinic/Patient"), 404, contains="no-such-clinic")
        assert_outcome(
            _post(client, f"{fhir}/no-such-clinic/Patient", PATIENT), 404, contains="no-such-clinic"
        )
        assert_outcome(client.get(f"{fhir}/no-such-clinic/metadata"), 404)


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"_format": "xml"}, {}),
        ({}, {"Accept": "application/fhir+xml"}),
        ({}, {"Accept": "text/html;q=1, */*;q=0"}),
    ],
)
def test_formats_other_than_json_are_406(
    fhir: str, client: httpx.Client, params: dict[str, str], headers: dict[str, str]
) -> None:
    assert_outcome(client.get(f"{fhir}/metadata", params=params, headers=headers), 406)


def test_unknown_path_outside_fhir_is_an_outcome(fhir: str, client: httpx.Client) -> None:
    root = fhir.removesuffix("/fhir")
    assert_outcome(client.get(f"{root}/nothing-here"), 404)
    assert_outcome(client.post(f"{root}/healthz"), 405)
    assert_outcome(client.get(f"{fhir}/Patient/bad$id"), 400)
