"""The validator's clean-resource fast path (fhir/validation/fastpath.py) never hides an issue:
whenever it calls a resource clean, the full walk finds nothing, and `validate_resource`
reports exactly what the full walk reports, over Synthea and thousands of damaged copies."""

from __future__ import annotations

import copy
import gzip
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from yilian.fhir.outcome import IssueType
from yilian.fhir.validation import validate_resource, validator


def _synthea(shared_data: Path, bundles: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((shared_data / "synthea-r4-bundles").glob("*.json.gz"))[:bundles]:
        bundle = orjson.loads(gzip.decompress(path.read_bytes()))
        out.append(bundle)
        out.extend(entry["resource"] for entry in bundle["entry"])
    return out


def _damage(resource: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy with one to three random changes of the kinds clients get wrong."""
    damaged = copy.deepcopy(resource)
    nodes: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            nodes.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(damaged)
    for _ in range(rng.randint(1, 3)):
        node = rng.choice(nodes)
        if not node:
            continue
        key = rng.choice(list(node))
        replacements: list[Any] = [
            "",
            [],
            {},
            12.5,
            [node[key]],
            None,
            "2023-02-30",
            " padded ",
            "#nowhere",
            {"reference": "#nowhere"},
            True,
        ]
        match rng.randrange(4):
            case 0:
                del node[key]
            case 1:
                node["unknown" + key] = 1
            case 2:
                node["_" + key] = {"extension": [{"url": "http://example.org/x"}]}
            case _:
                node[key] = rng.choice(replacements)
    return damaged


@pytest.mark.shared_data
def test_every_synthea_resource_takes_the_fast_path(shared_data: Path) -> None:
    """Speed depends on it: valid resources (contained ones included) never fall back."""
    fast = validator().fast
    resources = _synthea(shared_data, 10)
    assert any("contained" in r for r in resources)
    slow = [r.get("resourceType") for r in resources if not fast.clean(r)]
    assert slow == []


@pytest.mark.shared_data
def test_fast_path_agrees_with_the_full_walk_on_damaged_resources(shared_data: Path) -> None:
    v = validator()
    rng = random.Random(20240604)
    originals = [r for r in _synthea(shared_data, 3) if r["resourceType"] != "Bundle"]
    clean_count = 0
    for _ in range(3000):
        damaged = _damage(rng.choice(originals), rng)
        full = v.validate_fully(damaged)
        if v.fast.clean(damaged):
            clean_count += 1
            assert full == [], damaged
        assert validate_resource(damaged) == full
    # Some damage is harmless (a deleted optional element): the fast path still answers.
    assert 0 < clean_count < 3000


def _eob_with_contained(reference: str) -> dict[str, Any]:
    return {
        "resourceType": "Claim",
        "status": "active",
        "type": {"coding": [{"code": "oral"}]},
        "use": "claim",
        "patient": {"reference": "Patient/1"},
        "created": "2020-01-01",
        "provider": {"reference": "Organization/1"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": reference}}],
        "contained": [
            {
                "resourceType": "Coverage",
                "id": "cov",
                "status": "active",
                "beneficiary": {"reference": "Patient/1"},
                "payor": [{"display": "Payer"}],
            }
        ],
    }


def test_contained_rules_on_the_fast_path() -> None:
    fast = validator().fast
    referenced = _eob_with_contained("#cov")
    assert fast.clean(referenced)
    assert validate_resource(referenced) == []
    unreferenced = _eob_with_contained("Coverage/9")
    assert not fast.clean(unreferenced)
    issues = validate_resource(unreferenced)
    assert [(i.code, i.expression) for i in issues] == [(IssueType.INVARIANT, ("Claim.contained[0]",))]
    dangling = _eob_with_contained("#other")
    assert not fast.clean(dangling)
    assert any("ref-1" in i.diagnostics for i in validate_resource(dangling))
