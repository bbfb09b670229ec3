"""Assertions the HTTP tests share."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

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


@contextmanager
def serving_app(app: Any) -> Iterator[str]:
    """Run an already built ASGI app under uvicorn in a thread; yield its root URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
