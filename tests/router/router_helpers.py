"""A tiny client for router tests: builds `FhirRequest`s the way the api layer does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from yilian.fhir.outcome import OutcomeError
from yilian.router import FhirRequest, FhirResponse, FhirRouter
from yilian.router.status import status_code

BASE = "http://test.local/fhir"


class Client:
    def __init__(self, router: FhirRouter) -> None:
        self.router = router

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        partition: str | None = None,
        query: Sequence[tuple[str, str]] = (),
    ) -> FhirRequest:
        parts = urlsplit(url)
        base = f"{BASE}/{partition}" if partition else BASE
        return FhirRequest(
            method=method,
            path=tuple(p for p in parts.path.split("/") if p),
            partition=partition,
            query=[*parse_qsl(parts.query, keep_blank_values=True), *query],
            headers={k.lower(): v for k, v in (headers or {}).items()},
            body=body,
            base_url=base,
        )

    async def call(self, method: str, url: str, body: Any = None, **kw: Any) -> FhirResponse:
        return await self.router.handle(self.request(method, url, body, **kw))

    async def status(self, method: str, url: str, body: Any = None, **kw: Any) -> int:
        """The HTTP status the request would get (errors included)."""
        try:
            return status_code((await self.call(method, url, body, **kw)).outcome)
        except OutcomeError as error:
            return status_code(error.kind)

    async def fails(self, expected: int, method: str, url: str, body: Any = None, **kw: Any) -> OutcomeError:
        """Assert the request raises an OutcomeError with HTTP status `expected`; return it."""
        with pytest.raises(OutcomeError) as caught:
            await self.call(method, url, body, **kw)
        assert status_code(caught.value.kind) == expected, caught.value.to_resource()
        return caught.value

    async def create(self, resource: dict[str, Any], **kw: Any) -> dict[str, Any]:
        response = await self.call("POST", resource["resourceType"], resource, **kw)
        assert response.body is not None
        return response.body

    async def search(self, url: str, **kw: Any) -> dict[str, Any]:
        response = await self.call("GET", url, **kw)
        assert response.body is not None and response.body["type"] == "searchset"
        return response.body


def patient(family: str = "Li", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["Wei"]}], **extra}


def observation(subject: str, code: str = "8867-4", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
        **extra,
    }


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") == mode
    ]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((x["url"] for x in bundle.get("link", []) if x["relation"] == relation), None)


def relative(url: str) -> str:
    """A link URL as a path+query relative to the base (what the api layer would route)."""
    assert url.startswith(BASE + "/") or url == BASE, url
    return url[len(BASE) :].lstrip("/")
