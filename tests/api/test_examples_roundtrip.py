"""Official R4 examples (and Synthea resources) go in over HTTP and come back unchanged apart
from `id` and `meta.versionId`/`meta.lastUpdated`, on both backends."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.api.helpers import FHIR_JSON
from tests.fhir.test_validation import MODIFIED_EXAMPLES

pytestmark = pytest.mark.shared_data


def _without_server_fields(resource: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in resource.items() if k != "id"}
    meta = {k: v for k, v in out.pop("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        out["meta"] = meta
    return out


def _round_trip(client: httpx.Client, base: str, resource: dict[str, Any]) -> dict[str, Any]:
    rtype = resource["resourceType"]
    created = client.post(f"{base}/{rtype}", content=orjson.dumps(resource), headers=FHIR_JSON)
    assert created.status_code == 201, (rtype, created.text[:2000])
    read = client.get(f"{base}/{rtype}/{created.json()['id']}")
    assert read.status_code == 200
    body: dict[str, Any] = read.json()
    assert body == created.json()
    return body


def test_official_examples_come_back_unchanged(fhir: str, client: httpx.Client, shared_data: Path) -> None:
    files = sorted((shared_data / "fhirpath-r4-tests" / "input-json").glob("*.json"))
    valid = [f for f in files if f.name not in MODIFIED_EXAMPLES]
    assert len(valid) >= 7
    for path in valid:
        example = orjson.loads(path.read_bytes())
        stored = _round_trip(client, f"{fhir}/county-hospital", example)
        assert _without_server_fields(stored) == _without_server_fields(example), path.name
    for name in MODIFIED_EXAMPLES:  # these truly violate R4 and are refused, nothing stored
        example = orjson.loads((shared_data / "fhirpath-r4-tests" / "input-json" / name).read_bytes())
        refused = client.post(
            f"{fhir}/{example['resourceType']}", content=orjson.dumps(example), headers=FHIR_JSON
        )
        assert refused.status_code in (400, 422), (name, refused.text[:500])


def test_synthea_resources_come_back_unchanged(fhir: str, client: httpx.Client, shared_data: Path) -> None:
    path = sorted((shared_data / "synthea-r4-bundles").glob("*.json.gz"))[0]
    bundle = orjson.loads(gzip.decompress(path.read_bytes()))
    seen: set[str] = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] in seen or "urn:uuid:" in orjson.dumps(resource).decode():
            continue  # one of each type that stands alone (no urn:uuid references to resolve)
        seen.add(resource["resourceType"])
        stored = _round_trip(client, fhir, resource)
        assert _without_server_fields(stored) == _without_server_fields(resource)
    assert {"Patient", "Organization", "Practitioner"} <= seen
