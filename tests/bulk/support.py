"""Helpers of the bulk tests: a small alliance over HTTP, kick-off, polling and downloads."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import httpx
import orjson

from yilian.router import FhirRequest, FhirRouter

ASYNC = {"Prefer": "respond-async"}


def patient(pid: str, family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}


def observation(oid: str, subject: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{subject}"},
    }


def encounter(eid: str, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": f"Patient/{subject}"},
    }


def load(client: httpx.Client, base: str, resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        r = client.put(f"{base}/{resource['resourceType']}/{resource['id']}", json=resource)
        assert r.status_code in (200, 201), r.text


def search_ids(client: httpx.Client, base: str, rtype: str, query: dict[str, str] | None = None) -> set[str]:
    found: set[str] = set()
    url: str | None = f"{base}/{rtype}"
    params: dict[str, str] | None = {**(query or {}), "_count": "1000"}
    while url:
        r = client.get(url, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        found |= {
            e["resource"]["id"] for e in body.get("entry", []) if e.get("search", {}).get("mode") == "match"
        }
        url = next((link["url"] for link in body.get("link", []) if link["relation"] == "next"), None)
        params = None
    return found


def kick_off(client: httpx.Client, url: str, params: Any = None) -> str:
    r = client.get(url, params=params, headers=ASYNC)
    assert r.status_code == 202, r.text
    return r.headers["content-location"]


def wait(client: httpx.Client, status_url: str, *, deadline: float = 60) -> httpx.Response:
    """Poll until the job is no longer running (202); return the final answer."""
    end = time.monotonic() + deadline
    while True:
        r = client.get(status_url)
        if r.status_code != 202:
            return r
        assert "x-progress" in r.headers
        if time.monotonic() > end:
            raise AssertionError(f"export still running after {deadline}s: {r.headers}")
        time.sleep(0.1)


def export_ids(client: httpx.Client, manifest: dict[str, Any]) -> dict[str, set[str]]:
    """Download every output file; ids per type (checking each line's type)."""
    out: dict[str, set[str]] = {}
    for item in manifest["output"]:
        r = client.get(item["url"])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [orjson.loads(line) for line in r.content.splitlines() if line.strip()]
        assert len(lines) == item["count"]
        for resource in lines:
            assert resource["resourceType"] == item["type"]
            out.setdefault(item["type"], set()).add(resource["id"])
    return out


def run_export(client: httpx.Client, url: str, params: Any = None) -> dict[str, set[str]]:
    r = wait(client, kick_off(client, url, params))
    assert r.status_code == 200, r.text
    return export_ids(client, r.json())


async def exported_ids(router: FhirRouter, request: FhirRequest) -> dict[str, set[str]]:
    """Kick off `request` (an `$export`) through the router itself, wait for the job, and
    read its files: the ids written, per type.  A refused kick-off raises its OutcomeError."""
    jobs = router.settings.jobs
    assert jobs is not None, "the router needs a JobManager for $export"
    response = await router.handle(replace(request, headers={**request.headers, "prefer": "respond-async"}))
    job_id = response.headers["Content-Location"].rsplit("=", 1)[1]
    for _ in range(600):
        job = await jobs.get(job_id)
        assert job is not None
        if not job.running:
            break
        await asyncio.sleep(0.02)
    assert job.status == "completed", job.message
    found: dict[str, set[str]] = {}
    for item in job.output:
        for line in jobs.file_path(job_id, item["url"]).read_bytes().splitlines():
            found.setdefault(item["type"], set()).add(orjson.loads(line)["id"])
    return found
