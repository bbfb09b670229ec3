"""`$export` over real HTTP on both backends: kick-off, polling, manifest, download, the
parameters, Patient and Group level, cancel, and bad input that leaves the server serving."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.bulk.support import (
    ASYNC,
    encounter,
    export_ids,
    kick_off,
    load,
    observation,
    patient,
    run_export,
    search_ids,
    wait,
)
from tests.serving import auth_headers, dev_issuer, running_server

TYPES = ("Patient", "Observation", "Encounter")


@pytest.fixture
def bulk_dir(tmp_path: Path) -> Path:
    return tmp_path / "bulk"


@pytest.fixture
def fhir(store_url: str, bulk_dir: Path) -> Iterator[str]:
    with running_server(store_url, bulk_dir=str(bulk_dir)) as base:
        yield base


@pytest.fixture
def client(fhir: str) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, headers=auth_headers()) as c:
        resources = [patient(f"p{i}", f"Fam{i}") for i in range(5)]
        resources += [observation(f"o{i}", f"p{i % 5}", "1234-5" if i % 2 else "999-9") for i in range(23)]
        resources += [encounter(f"e{i}", f"p{i % 3}") for i in range(7)]
        resources.append(
            {
                "resourceType": "Group",
                "id": "g1",
                "type": "person",
                "actual": True,
                "member": [{"entity": {"reference": "Patient/p1"}}, {"entity": {"reference": "Patient/p2"}}],
            }
        )
        resources.append({"resourceType": "Group", "id": "g-empty", "type": "person", "actual": True})
        load(c, fhir, resources)
        yield c


def test_system_export_equals_search(client: httpx.Client, fhir: str, bulk_dir: Path) -> None:
    status = kick_off(client, f"{fhir}/$export")
    assert status.startswith(f"{fhir}/$export-poll-status?_jobId=")
    r = wait(client, status)
    assert r.status_code == 200, r.text
    manifest = r.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].startswith(f"{fhir}/$export")
    assert manifest["transactionTime"]
    assert manifest["error"] == []
    got = export_ids(client, manifest)
    for rtype in (*TYPES, "Group"):
        assert got[rtype] == search_ids(client, fhir, rtype), rtype
    # Files are the owner's only: without a token, 401; a stranger's token, 404.
    url = manifest["output"][0]["url"]
    assert httpx.get(url).status_code == 401
    stranger = dev_issuer().issue("clinic-x", "doctor", "user/*.rs", subject="stranger")
    assert httpx.get(url, headers={"Authorization": f"Bearer {stranger}"}).status_code == 404
    assert client.get(url.rsplit("/", 1)[0] + "/..%2Fx.ndjson").status_code == 404
    # DELETE removes the files; the job is gone for polls and downloads.
    job = status.rsplit("=", 1)[1]
    assert (bulk_dir / job).is_dir()
    assert client.delete(status).status_code == 202
    assert not (bulk_dir / job).exists()
    assert client.get(status).status_code == 404
    assert client.get(url).status_code == 404


def test_type_since_and_type_filter(client: httpx.Client, fhir: str) -> None:
    got = run_export(client, f"{fhir}/$export", {"_type": "Observation,Encounter"})
    assert set(got) == {"Observation", "Encounter"}
    assert got["Encounter"] == search_ids(client, fhir, "Encounter")

    filtered = run_export(
        client,
        f"{fhir}/$export",
        [
            ("_type", "Observation,Patient"),
            ("_typeFilter", "Observation?code=http://loinc.org|1234-5"),
            ("_typeFilter", "Observation?subject=Patient/p0"),
        ],
    )
    expected = search_ids(client, fhir, "Observation", {"code": "http://loinc.org|1234-5"})
    expected |= search_ids(client, fhir, "Observation", {"subject": "Patient/p0"})
    assert filtered["Observation"] == expected and len(expected) < 23
    assert filtered["Patient"] == search_ids(client, fhir, "Patient")

    time.sleep(0.01)
    cut = client.get(f"{fhir}/Observation/o3").json()["meta"]["lastUpdated"]
    load(client, fhir, [observation("o3", "p3", "555-5"), observation("o-new", "p4", "555-5")])
    since = run_export(client, f"{fhir}/$export", {"_since": cut, "_type": "Observation"})
    assert since["Observation"] == search_ids(client, fhir, "Observation", {"_lastUpdated": f"ge{cut}"})
    assert {"o3", "o-new"} <= since["Observation"] and "o1" not in since["Observation"]


def test_patient_and_group_level(client: httpx.Client, fhir: str) -> None:
    everyone = run_export(client, f"{fhir}/Patient/$export")
    assert everyone["Group"] == {"g1"}  # Group.member puts g1 in p1's compartment; g-empty is in none
    for rtype in TYPES:
        assert everyone[rtype] == search_ids(client, fhir, rtype)
    group = run_export(client, f"{fhir}/Group/g1/$export", {"_type": "Patient,Observation,Encounter"})
    assert group["Patient"] == {"p1", "p2"}
    assert group["Observation"] == search_ids(
        client, fhir, "Observation", {"subject": "Patient/p1,Patient/p2"}
    )
    assert group["Encounter"] == search_ids(client, fhir, "Encounter", {"subject": "Patient/p1,Patient/p2"})


def test_bad_input_is_a_clear_4xx(client: httpx.Client, fhir: str) -> None:
    def outcome(r: httpx.Response, status: int, text: str) -> None:
        assert r.status_code == status, r.text
        body = r.json()
        assert body["resourceType"] == "OperationOutcome"
        assert text in body["issue"][0]["diagnostics"]

    outcome(client.get(f"{fhir}/$export"), 400, "respond-async")
    outcome(client.get(f"{fhir}/$export", params={"_type": "Nope"}, headers=ASYNC), 400, "Nope")
    outcome(client.get(f"{fhir}/$export", params={"_since": "yesterday"}, headers=ASYNC), 400, "_since")
    outcome(
        client.get(f"{fhir}/$export", params={"_typeFilter": "code=1"}, headers=ASYNC), 400, "_typeFilter"
    )
    outcome(
        client.get(f"{fhir}/$export", params={"_typeFilter": "Observation?bogus=1"}, headers=ASYNC),
        400,
        "bogus",
    )
    outcome(
        client.get(f"{fhir}/$export", params={"_outputFormat": "text/csv"}, headers=ASYNC),
        400,
        "_outputFormat",
    )
    outcome(client.get(f"{fhir}/$export", params={"patient": "p1"}, headers=ASYNC), 400, "patient")
    outcome(
        client.get(f"{fhir}/Patient/$export", params={"_type": "Organization"}, headers=ASYNC),
        400,
        "compartment",
    )
    outcome(client.get(f"{fhir}/Group/nope/$export", headers=ASYNC), 404, "nope")
    outcome(client.get(f"{fhir}/Group/g-empty/$export", headers=ASYNC), 400, "no Patient members")
    outcome(client.get(f"{fhir}/Observation/$export", headers=ASYNC), 404, "$export")
    outcome(client.get(f"{fhir}/$export-poll-status", params={"_jobId": "0" * 32}), 404, "no bulk data job")
    outcome(client.get(f"{fhir}/$export-poll-status"), 400, "_jobId")
    # Someone else's job is not theirs to see or cancel.
    status = kick_off(client, f"{fhir}/$export", {"_type": "Patient"})
    other = dev_issuer().issue("clinic-x", "doctor", "user/*.rs", subject="someone-else")
    headers = {"Authorization": f"Bearer {other}"}
    assert httpx.get(status, headers=headers).status_code == 404
    assert httpx.delete(status, headers=headers).status_code == 404
    assert wait(client, status).status_code == 200
    # Still serving.
    assert client.get(f"{fhir}/Patient/p1").status_code == 200
