"""Header values reach the router as the client wrote them: UTF-8 where valid (a Chinese
break-the-glass reason), Latin-1 otherwise, repeated names joined."""

from __future__ import annotations

from starlette.requests import Request

from yilian.api.request import request_headers


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/fhir/Patient", "headers": headers})


def test_utf8_values_are_decoded_as_utf8() -> None:
    reason = "患者昏迷，急诊抢救"
    headers = request_headers(
        _request([(b"X-Break-Glass-Reason", reason.encode()), (b"x-purpose-of-use", b"emergency")])
    )
    assert headers["x-break-glass-reason"] == reason
    assert headers["x-purpose-of-use"] == "emergency"


def test_latin1_values_and_repeated_names() -> None:
    headers = request_headers(
        _request([(b"x-note", "café".encode("latin-1")), (b"accept", b"a"), (b"Accept", b"b")])
    )
    assert headers["x-note"] == "café"
    assert headers["accept"] == "a, b"
