"""`$import-upload` over real HTTP on both backends: a file sent in chunks and imported (ids
kept, problems named by the client's file name, counts in the manifest, the job's input bytes
in its progress), and what is refused: a chunk at the wrong offset, a chunk over the body
limit, someone else's upload, a token that may not import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from tests.bulk.support import ASYNC, wait
from tests.serving import auth_headers, dev_issuer, running_server

from yilian.bulk.jobs import BulkJob
from yilian.store.factory import open_repository

OCTETS = {"Content-Type": "application/octet-stream"}
LIMIT = 4096


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "male"}


@pytest.fixture
def fhir(store_url: str, tmp_path: Path) -> Iterator[str]:
    with running_server(
        store_url,
        institutions=(("clinic-a", "Clinic A"),),
        bulk_dir=str(tmp_path / "bulk"),
        max_body_bytes=LIMIT,
    ) as base:
        yield base


@pytest.fixture
def client(fhir: str) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, headers=auth_headers()) as c:
        yield c


def upload(client: httpx.Client, base: str, name: str, data: bytes, chunk: int) -> str:
    r = client.post(f"{base}/$import-upload", params={"name": name}, content=b"", headers=OCTETS)
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    for start in range(0, len(data), chunk):
        r = client.post(f"{url}&offset={start}", content=data[start : start + chunk], headers=OCTETS)
        assert r.status_code == 200, r.text
    return url


def kickoff(client: httpx.Client, base: str, *urls: str) -> httpx.Response:
    inputs = [{"name": "input", "part": [{"name": "url", "valueUrl": u}]} for u in urls]
    return client.post(
        f"{base}/$import", json={"resourceType": "Parameters", "parameter": inputs}, headers=ASYNC
    )


def load_job(url: str, job_id: str) -> BulkJob:
    async def run() -> dict[str, Any] | None:
        repo = open_repository(url)
        await repo.open()
        try:
            return await repo.load_job(job_id)
        finally:
            await repo.close()

    document = anyio.run(run)
    assert document is not None
    return BulkJob.from_json(document)


def test_a_file_sent_in_chunks_imports_with_its_ids(client: httpx.Client, fhir: str, store_url: str) -> None:
    lines = [orjson.dumps(patient(f"u{i}")) for i in range(200)]
    lines[100] = b"{broken"
    data = b"\n".join(lines) + b"\n"
    assert len(data) > LIMIT  # more than one request body could hold
    url = upload(client, fhir, "/home/me/Patient.ndjson", data, LIMIT // 2 + 7)  # chunks cut mid-line
    r = kickoff(client, fhir, url)
    assert r.status_code == 202, r.text
    status = r.headers["content-location"]
    manifest = wait(client, status).json()
    [output] = manifest["output"]
    assert output["extension"] == {"created": 199, "updated": 0, "unchanged": 0, "refused": 0}
    [error] = manifest["error"]
    [outcome] = [orjson.loads(x) for x in client.get(error["url"]).content.splitlines()]
    assert outcome["issue"][0]["diagnostics"].startswith("/home/me/Patient.ndjson line 101:")
    assert client.get(f"{fhir}/Patient/u199").json()["gender"] == "male"
    job = load_job(store_url, status.rsplit("=", 1)[1])
    assert (job.bytes_done, job.bytes_total) == (len(data), len(data))
    assert job.progress_text().endswith(f"; {len(data)} of {len(data)} bytes")
    # an upload is imported once: the job took it
    assert kickoff(client, fhir, url).status_code == 400
    again = wait(
        client,
        kickoff(client, fhir, upload(client, fhir, "P.ndjson", data, LIMIT)).headers["content-location"],
    )
    assert again.json()["output"][0]["extension"] == {
        "created": 0,
        "updated": 0,
        "unchanged": 199,
        "refused": 0,
    }


def test_what_an_upload_refuses(client: httpx.Client, fhir: str) -> None:
    url = upload(client, fhir, "Patient.ndjson", b"", 1)
    assert client.post(f"{url}&offset=0", content=b"abc", headers=OCTETS).status_code == 200
    retried = client.post(f"{url}&offset=0", content=b"abc", headers=OCTETS)
    assert retried.status_code == 409 and "holds 3 bytes" in retried.text
    too_big = client.post(f"{url}&offset=3", content=b"x" * (LIMIT + 1), headers=OCTETS)
    assert too_big.status_code == 413
    odd = client.post(f"{fhir}/$import-upload", params={"name": "notes.txt"}, content=b"", headers=OCTETS)
    assert odd.status_code == 400
    other = dev_issuer().issue(None, "system", "system/*.cruds", subject="someone-else")
    theirs = {"Authorization": f"Bearer {other}"}
    assert httpx.post(f"{url}&offset=3", content=b"d", headers={**OCTETS, **theirs}).status_code == 404
    r = httpx.post(
        f"{fhir}/$import",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "input", "part": [{"name": "url", "valueUrl": url}]}],
        },
        headers={**ASYNC, **theirs},
    )
    assert r.status_code == 400 and "names no upload of yours" in r.text
    reader = dev_issuer().issue("clinic-a", "doctor", "user/*.rs", subject="reader")
    r = httpx.post(
        f"{fhir}/clinic-a/$import-upload",
        params={"name": "Patient.ndjson"},
        content=b"",
        headers={**OCTETS, "Authorization": f"Bearer {reader}"},
    )
    assert r.status_code == 403
