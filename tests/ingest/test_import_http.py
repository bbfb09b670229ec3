"""`$import` over real HTTP on both backends: kick-off, polling, the manifest and error file,
re-runs, institution bases, http(s) inputs, and the refusals (path outside the allowed folders,
unreachable URL, missing Prefer, a reader's token) that leave the server serving."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.bulk.support import ASYNC, wait
from tests.serving import auth_headers, dev_issuer, running_server

INSTITUTIONS = (("clinic-a", "Clinic A"), ("clinic-b", "Clinic B"))


def patient(pid: str, family: str = "Li") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}


def observation(oid: str, pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": f"Patient/{pid}"},
    }


def write_ndjson(path: Path, lines: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return path


def params(*inputs: tuple[str, str | None]) -> dict[str, Any]:
    parts = [{"name": "inputFormat", "valueCode": "application/fhir+ndjson"}]
    for url, rtype in inputs:
        part = [{"name": "url", "valueUrl": url}] + ([{"name": "type", "valueCode": rtype}] if rtype else [])
        parts.append({"name": "input", "part": part})
    return {"resourceType": "Parameters", "parameter": parts}


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def fhir(store_url: str, tmp_path: Path, inbox: Path) -> Iterator[str]:
    with running_server(
        store_url, institutions=INSTITUTIONS, bulk_dir=str(tmp_path / "bulk"), import_allowed_dirs=str(inbox)
    ) as base:
        yield base


@pytest.fixture
def client(fhir: str) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, headers=auth_headers()) as c:
        yield c


def run_import(client: httpx.Client, base: str, body: dict[str, Any]) -> httpx.Response:
    r = client.post(f"{base}/$import", json=body, headers=ASYNC)
    assert r.status_code == 202, r.text
    status = r.headers["content-location"]
    assert status.startswith(f"{base}/$import-poll-status?_jobId=")
    return wait(client, status)


def test_import_loads_good_lines_and_reports_bad_ones(client: httpx.Client, fhir: str, inbox: Path) -> None:
    patients = write_ndjson(
        inbox / "Patient.ndjson", [patient("p1"), b"{oops", observation("o0", "p1"), patient("p2")]
    )
    observations = write_ndjson(
        inbox / "obs" / "o.ndjson", [observation("o1", "p1"), observation("o2", "p2")]
    )
    r = run_import(client, fhir, params((patients.as_uri(), None), (str(observations), "Observation")))
    assert r.status_code == 200, r.text
    manifest = r.json()
    assert {o["type"]: o["count"] for o in manifest["output"]} == {"Patient": 2, "Observation": 2}
    [error] = manifest["error"]
    assert error["count"] == 2
    lines = [orjson.loads(x) for x in client.get(error["url"]).content.splitlines()]
    diagnostics = [x["issue"][0]["diagnostics"] for x in lines]
    assert diagnostics[0].startswith(f"{patients.as_uri()} line 2:")
    assert diagnostics[1].startswith(f"{patients.as_uri()} line 3:") and "Observation" in diagnostics[1]
    found = client.get(f"{fhir}/Observation", params={"subject": "Patient/p1"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["o1"]
    # A re-run creates no duplicates and no versions; the manifest still counts what is loaded.
    again = run_import(client, fhir, params((patients.as_uri(), None), (str(observations), "Observation")))
    assert {o["type"]: o["count"] for o in again.json()["output"]} == {"Patient": 2, "Observation": 2}
    history = client.get(f"{fhir}/Patient/p1/_history").json()
    assert history["total"] == 1
    assert client.get(f"{fhir}/Patient", params={"_summary": "count"}).json()["total"] == 2


def test_import_through_an_institution_base_lands_there(client: httpx.Client, fhir: str, inbox: Path) -> None:
    path = write_ndjson(inbox / "a.ndjson", [patient("pa")])
    r = run_import(client, f"{fhir}/clinic-a", params((str(path), None)))
    assert r.status_code == 200, r.text
    assert client.get(f"{fhir}/clinic-a/Patient/pa").status_code == 200
    assert client.get(f"{fhir}/clinic-b/Patient/pa").status_code == 404


def test_http_inputs_are_fetched(client: httpx.Client, fhir: str, tmp_path: Path) -> None:
    served = tmp_path / "served"
    write_ndjson(served / "Patient.ndjson", [patient("ph1"), patient("ph2")])
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/Patient.ndjson"
        r = run_import(client, fhir, params((url, "Patient")))
    finally:
        server.shutdown()
    assert r.status_code == 200, r.text
    counts = {"created": 2, "updated": 0, "unchanged": 0, "refused": 0}
    assert r.json()["output"] == [
        {"type": "Patient", "url": r.json()["output"][0]["url"], "count": 2, "extension": counts}
    ]
    assert client.get(f"{fhir}/Patient/ph2").status_code == 200


def test_an_unreachable_url_fails_the_job_clearly(client: httpx.Client, fhir: str) -> None:
    r = run_import(client, fhir, params(("http://127.0.0.1:9/nothing.ndjson", None)))
    assert r.status_code >= 400
    diagnostics = r.json()["issue"][0]["diagnostics"]
    assert "http://127.0.0.1:9/nothing.ndjson cannot be fetched" in diagnostics
    assert client.get(f"{fhir}/metadata").status_code == 200  # still serving


def test_refusals_at_kick_off(client: httpx.Client, fhir: str, inbox: Path, tmp_path: Path) -> None:
    outside = write_ndjson(tmp_path / "elsewhere.ndjson", [patient("px")])
    r = client.post(f"{fhir}/$import", json=params((str(outside), None)), headers=ASYNC)
    assert r.status_code == 403 and "outside the folders" in r.text
    r = client.post(f"{fhir}/$import", json=params(("file:///etc/passwd", None)), headers=ASYNC)
    assert r.status_code == 403
    sneaky = f"{inbox}/../elsewhere.ndjson"
    assert client.post(f"{fhir}/$import", json=params((sneaky, None)), headers=ASYNC).status_code == 403
    inside = write_ndjson(inbox / "ok.ndjson", [patient("py")])
    assert client.post(f"{fhir}/$import", json=params((str(inside), None))).status_code == 400  # no Prefer
    assert (
        client.post(f"{fhir}/$import", json={"resourceType": "Parameters"}, headers=ASYNC).status_code == 400
    )
    bad_type = params((str(inside), "NoSuchType"))
    assert client.post(f"{fhir}/$import", json=bad_type, headers=ASYNC).status_code == 400
    reader = dev_issuer().issue("clinic-a", "doctor", "user/*.rs", subject="reader")
    r = httpx.post(
        f"{fhir}/clinic-a/$import",
        json=params((str(inside), None)),
        headers={**ASYNC, "Authorization": f"Bearer {reader}"},
    )
    assert r.status_code == 403
    assert client.get(f"{fhir}/Patient/py").status_code == 404


def test_an_import_cancelled_half_way_leaves_whole_batches_and_a_rerun_finishes(
    client: httpx.Client, fhir: str, inbox: Path
) -> None:
    total = 8_000
    big = write_ndjson(inbox / "Patient.ndjson", [patient(f"c{i}", f"F{i}") for i in range(total)])
    r = client.post(f"{fhir}/$import", json=params((big.as_uri(), "Patient")), headers=ASYNC)
    assert r.status_code == 202, r.text
    status = r.headers["content-location"]
    loaded = 0
    for _ in range(600):  # wait until the first batches are in, then cancel
        loaded = client.get(f"{fhir}/Patient", params={"_summary": "count"}).json()["total"]
        if loaded:
            break
        time.sleep(0.05)
    cancelled = client.delete(status)
    assert cancelled.status_code == 202, cancelled.text
    assert client.get(status).status_code == 404  # a cancelled job is gone for polls
    time.sleep(1.0)  # the job stops at its next batch boundary
    after = client.get(f"{fhir}/Patient", params={"_summary": "count"}).json()["total"]
    assert 0 < after < total, "the cancel came too late to stop anything"
    assert after == client.get(f"{fhir}/Patient", params={"_summary": "count"}).json()["total"]
    # every loaded Patient is whole: searchable by its family name, version 1
    some = client.get(f"{fhir}/Patient", params={"_count": "5", "_sort": "_id"}).json()["entry"]
    for entry in some:
        family = entry["resource"]["name"][0]["family"]
        assert client.get(f"{fhir}/Patient", params={"family": family}).json()["total"] >= 1
        assert entry["resource"]["meta"]["versionId"] == "1"
    # the server kept serving, and a re-run loads the rest without duplicates
    rerun = run_import(client, fhir, params((big.as_uri(), "Patient")))
    assert rerun.status_code == 200, rerun.text
    assert client.get(f"{fhir}/Patient", params={"_summary": "count"}).json()["total"] == total
