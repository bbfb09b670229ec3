"""Resources exported from another FHIR server carry that server's `meta.versionId` and
`meta.lastUpdated`.  They are valid as sent; the server validates them as sent and then sets
the two elements it owns, on every write path, on both backends.  A `meta` that held only those
two is dropped rather than stored empty (an empty object breaks ele-1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.api.helpers import FHIR_JSON
from typer.testing import CliRunner

from yilian.cli.main import app

FOREIGN = {"versionId": "7", "lastUpdated": "2019-03-04T05:06:07.123+08:00"}
TAGGED = {**FOREIGN, "source": "http://his.example.cn/fhir", "tag": [{"system": "urn:t", "code": "x"}]}


def _patient(meta: dict[str, Any], pid: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Patient", "meta": dict(meta), "gender": "female"}
    if pid:
        body["id"] = pid
    return body


def _assert_server_meta(resource: dict[str, Any], version: str, kept: dict[str, Any]) -> None:
    meta = resource["meta"]
    assert meta["versionId"] == version, meta
    assert meta["lastUpdated"] != FOREIGN["lastUpdated"] and meta["lastUpdated"] > "2024", meta
    assert {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")} == kept


@pytest.mark.parametrize("meta", [FOREIGN, TAGGED], ids=["only-server-elements", "with-source-and-tag"])
def test_create_and_update_accept_a_foreign_meta(
    fhir: str, client: httpx.Client, meta: dict[str, Any]
) -> None:
    kept = {k: v for k, v in meta.items() if k not in FOREIGN}
    created = client.post(f"{fhir}/Patient", json=_patient(meta), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    body = created.json()
    _assert_server_meta(body, "1", kept)
    read = client.get(f"{fhir}/Patient/{body['id']}").json()
    _assert_server_meta(read, "1", kept)
    assert read["meta"] == body["meta"]

    changed = {**_patient(meta, body["id"]), "gender": "male"}
    updated = client.put(f"{fhir}/Patient/{body['id']}", json=changed, headers=FHIR_JSON)
    assert updated.status_code == 200, updated.text
    _assert_server_meta(updated.json(), "2", kept)

    as_create = client.put(f"{fhir}/Patient/from-his-1", json=_patient(meta, "from-his-1"), headers=FHIR_JSON)
    assert as_create.status_code == 201, as_create.text
    _assert_server_meta(as_create.json(), "1", kept)

    conditional = client.post(
        f"{fhir}/Patient",
        json={**_patient(meta), "identifier": [{"system": "urn:his", "value": "c-1"}]},
        headers={**FHIR_JSON, "If-None-Exist": "identifier=urn:his|c-1"},
    )
    assert conditional.status_code == 201, conditional.text
    _assert_server_meta(conditional.json(), "1", kept)
    cond_update = client.put(
        f"{fhir}/Patient",
        params={"identifier": "urn:his|c-1"},
        json={**_patient(meta), "identifier": [{"system": "urn:his", "value": "c-1"}], "gender": "male"},
        headers=FHIR_JSON,
    )
    assert cond_update.status_code == 200, cond_update.text
    _assert_server_meta(cond_update.json(), "2", kept)


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_bundle_entries_accept_a_foreign_meta(fhir: str, client: httpx.Client, kind: str) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {
                "fullUrl": "urn:uuid:0b7c4b36-1d0e-4c8e-9a55-000000000001",
                "resource": _patient(FOREIGN),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": _patient(TAGGED, f"his-{kind}"),
                "request": {"method": "PUT", "url": f"Patient/his-{kind}"},
            },
        ],
    }
    response = client.post(fhir, json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201", "201"], entries
    first = client.get(f"{fhir}/{entries[0]['response']['location'].split('/_history')[0]}").json()
    _assert_server_meta(first, "1", {})
    second = client.get(f"{fhir}/Patient/his-{kind}").json()
    _assert_server_meta(second, "1", {k: v for k, v in TAGGED.items() if k not in FOREIGN})


def test_bulk_import_accepts_a_foreign_meta(store_url: str, tmp_path: Path) -> None:
    lines = [_patient(FOREIGN, "bulk-1"), _patient(TAGGED, "bulk-2")]
    (tmp_path / "Patient.ndjson").write_bytes(b"\n".join(orjson.dumps(r) for r in lines) + b"\n")
    errors = tmp_path / "errors.ndjson"
    result = CliRunner().invoke(
        app, ["import", str(tmp_path / "Patient.ndjson"), "--db", store_url, "--errors", str(errors)]
    )
    assert result.exit_code == 0, result.output
    assert not errors.exists() or errors.read_bytes().strip() == b"", errors.read_text()
    exported = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", str(exported), "--db", store_url])
    assert result.exit_code == 0, result.output
    found = {
        r["id"]: r
        for r in map(orjson.loads, (exported / "Patient.ndjson").read_bytes().splitlines())
        if r["id"].startswith("bulk-")
    }
    _assert_server_meta(found["bulk-1"], "1", {})
    _assert_server_meta(found["bulk-2"], "1", {k: v for k, v in TAGGED.items() if k not in FOREIGN})
