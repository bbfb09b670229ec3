"""Assertions the HTTP tests share."""

from __future__ import annotations

from typing import Any

import httpx

INSTITUTIONS = (("county-hospital", "青溪县人民医院"), ("dongshan-thc", "青溪县东山镇卫生院"))
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def history_size(client: httpx.Client, base: str) -> int:
    """How many versions the whole store holds (every write adds one): the witness that a
    rejected request wrote nothing."""
    response = client.get(f"{base}/_history", params={"_count": "1000"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    return int(bundle.get("total", len(bundle.get("entry", []))))


def assert_outcome(response: httpx.Response, status: int, *, contains: str = "") -> dict[str, Any]:
    """`response` is `status` with an OperationOutcome body (and, if given, that text)."""
    assert response.status_code == status, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    assert all(i["severity"] in ("error", "fatal") for i in body["issue"] if i["code"] != "informational")
    text = " ".join(i.get("diagnostics", "") for i in body["issue"])
    assert "Traceback" not in text
    if contains:
        assert contains.lower() in text.lower(), text
    return body


def still_serving(client: httpx.Client, base: str) -> None:
    response = client.get(f"{base}/metadata")
    assert response.status_code == 200, response.text[:500]
    assert response.json()["resourceType"] == "CapabilityStatement"
