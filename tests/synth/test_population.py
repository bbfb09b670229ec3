"""The benchmark population: deterministic, streaming, referentially whole, valid R4."""

from __future__ import annotations

import hashlib
import types
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from yilian.fhir.validation.validator import validate_resource
from yilian.synth.population import RESOURCE_TYPES, records, write_ndjson
from yilian.synth.resident_id import RESIDENT_ID_SYSTEM, is_valid_resident_id
from yilian.synth.sample import INSTITUTIONS


def _digest(patients: int, seed: int) -> str:
    h = hashlib.sha256()
    for record in records(patients, seed):
        h.update(orjson.dumps(record.resources, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        out = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return out + [r for k, v in value.items() if k != "reference" for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def test_same_seed_same_output_and_another_seed_differs() -> None:
    assert _digest(20, 7) == _digest(20, 7)
    assert _digest(20, 7) != _digest(20, 8)


def test_records_stream_and_slices_match_the_whole() -> None:
    stream = records(10_000)
    assert isinstance(stream, types.GeneratorType)  # nothing generated until asked
    whole = list(records(12, seed=3))
    tail = list(records(4, seed=3, start=8))
    assert [r.resources for r in whole[8:]] == [r.resources for r in tail]


def test_sizes_institutions_and_identifiers() -> None:
    recs = list(records(60))
    sizes = [len(r.resources) for r in recs]
    assert min(sizes) >= 25 and max(sizes) <= 41
    assert {r.institution.code for r in recs} == {i.code for i in INSTITUTIONS}
    types_seen = Counter(res["resourceType"] for r in recs for res in r.resources)
    assert set(types_seen) == set(RESOURCE_TYPES) and types_seen["Patient"] == 60
    ids = [res["id"] for r in recs for res in r.resources]
    assert len(ids) == len(set(ids))
    for r in recs:
        patient = r.resources[0]
        assert patient["resourceType"] == "Patient" and r.patient_id == patient["id"]
        resident = [i["value"] for i in patient["identifier"] if i["system"] == RESIDENT_ID_SYSTEM]
        assert len(resident) == 1 and is_valid_resident_id(resident[0])
        assert patient["telecom"][0]["value"].startswith("1") and len(patient["telecom"][0]["value"]) == 11


def test_references_resolve_inside_the_record() -> None:
    for record in records(30, seed=11):
        known = {f"{r['resourceType']}/{r['id']}" for r in record.resources}
        for resource in record.resources[1:]:
            refs = _references(resource)
            assert f"Patient/{record.patient_id}" in refs
            assert set(refs) <= known, set(refs) - known


def test_bundle_uses_urn_uuid_references_only() -> None:
    record = next(records(1, seed=5))
    bundle = record.bundle()
    assert bundle["type"] == "transaction" and len(bundle["entry"]) == len(record.resources)
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert all(u.startswith("urn:uuid:") for u in full_urls)
    for entry in bundle["entry"]:
        assert "id" not in entry["resource"]
        assert entry["request"] == {"method": "POST", "url": entry["resource"]["resourceType"]}
        assert set(_references(entry["resource"])) <= full_urls


def test_every_generated_resource_validates() -> None:
    for record in records(40, seed=2026):
        for resource in record.resources:
            errors = validate_resource(resource)
            assert not errors, (resource["resourceType"], errors)
        for entry in record.bundle()["entry"]:
            assert not validate_resource(entry["resource"])


def test_ndjson_files_one_per_type(tmp_path: Path) -> None:
    files = write_ndjson(tmp_path, 15, seed=4)
    assert set(files) == set(RESOURCE_TYPES)
    total = 0
    for rtype, (path, count) in files.items():
        lines = path.read_bytes().splitlines()
        assert len(lines) == count > 0
        assert {orjson.loads(line)["resourceType"] for line in lines} == {rtype}
        total += count
    assert total == sum(len(r.resources) for r in records(15, seed=4))
