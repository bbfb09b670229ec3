"""The transaction planner's fast path (fhir.bundle: one regular-expression pass over the
resource's JSON text) gives what the tree walks give: the rewritten copy, the dangling
`urn:` references and the conditional references, over every resource of the Synthea
Bundles and over hand-made edge cases (urns in extensions, contained resources, arrays,
narrative; escapes; keys that look like urns; conditional references)."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
from tests.conftest import SHARED_DATA

from yilian.fhir.bundle import (
    ReferenceMap,
    _conditional_references_walk,
    _local_references_walk,
    _rewrite_walk,
    conditional_references,
    encode,
    local_references,
    rewrite_references,
)

SYNTHEA = SHARED_DATA / "synthea-r4-bundles"


def _check(resource: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Fast path == walk for `resource` under `mapping`; the input is left alone."""
    before = orjson.dumps(resource)
    expected = _rewrite_walk(resource, mapping)
    out, dangling = ReferenceMap(mapping).rewrite(resource)
    assert orjson.dumps(out) == orjson.dumps(expected)
    assert dangling == _local_references_walk(expected)
    raw = encode(resource)
    assert raw is not None
    assert ReferenceMap(mapping).rewrite(resource, raw) == (out, dangling)
    assert conditional_references(resource) == _conditional_references_walk(resource)
    assert conditional_references(resource, raw) == _conditional_references_walk(resource)
    assert local_references(resource) == _local_references_walk(resource)
    assert rewrite_references(resource, mapping) == expected
    assert orjson.dumps(resource) == before
    return out


def _synthea_bundles(limit: int) -> list[dict[str, Any]]:
    files = sorted(SYNTHEA.glob("*.json*"))[:limit]
    if not files:
        pytest.skip(f"no Synthea Bundles in {SYNTHEA}")
    out = []
    for f in files:
        raw = f.read_bytes()
        out.append(orjson.loads(gzip.decompress(raw) if f.suffix == ".gz" else raw))
    return out


def test_synthea_rewrite_equals_the_walk() -> None:
    """Every resource of 6 Synthea Bundles under the full map, and under a map missing every
    third fullUrl (so some references dangle)."""
    checked = dangling = 0
    for bundle in _synthea_bundles(6):
        entries = bundle["entry"]
        full = {e["fullUrl"]: f"{e['resource']['resourceType']}/id-{i}" for i, e in enumerate(entries)}
        partial = {k: v for i, (k, v) in enumerate(full.items()) if i % 3}
        assert ReferenceMap(full)._fast  # Synthea's fullUrls take the fast path
        for entry in entries:
            resource = entry["resource"]
            out = _check(resource, full)
            assert not _local_references_walk(out)
            _check(resource, partial)
            dangling += bool(ReferenceMap(partial).rewrite(resource)[1])
            checked += 1
    assert checked > 1000 and dangling > 100


def test_synthea_with_narratives_and_conditional_references() -> None:
    """The same resources given a narrative linking urns, and conditional references."""
    for bundle in _synthea_bundles(3):
        entries = bundle["entry"]
        mapping = {e["fullUrl"]: f"{e['resource']['resourceType']}/n{i}" for i, e in enumerate(entries)}
        mapping["Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999"] = "Practitioner/p1"
        urns = list(mapping)
        for i, entry in enumerate(entries[:200]):
            resource = dict(entry["resource"])
            link = urns[i % len(urns)]
            resource["text"] = {
                "status": "generated",
                "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{link}">x</a> '
                f"<a href='urn:uuid:unknown'>\"y\"</a>\n\t{link}</div>",
            }
            resource["extension"] = [
                {"url": "http://e/ref", "valueReference": {"reference": urns[(i + 1) % len(urns)]}},
                {"url": "http://e/cond", "valueReference": {"reference": urns[-1]}},
            ]
            _check(resource, mapping)


CASES: list[tuple[str, dict[str, Any]]] = [
    (
        "extension, contained, narrative, arrays",
        {
            "resourceType": "Observation",
            "text": {"status": "generated", "div": '<div><a href="urn:uuid:p">p</a> urn:uuid:p</div>'},
            "contained": [
                {"resourceType": "Specimen", "id": "s", "subject": {"reference": "urn:uuid:p"}},
                {
                    "resourceType": "Provenance",
                    "id": "v",
                    "text": {"div": "<div><a href='urn:uuid:e'>e</a></div>"},
                    "target": [{"reference": "urn:uuid:e"}, {"reference": "#s"}],
                },
            ],
            "extension": [
                {"url": "http://e", "valueReference": {"reference": "urn:uuid:p"}},
                {"url": "http://e", "extension": [{"url": "in", "valueUri": "urn:uuid:e"}]},
                {"url": "http://e", "valueCanonical": "urn:uuid:e"},
            ],
            "meta": {"profile": ["urn:uuid:p", "http://p"]},
            "subject": {"reference": "urn:uuid:p", "display": "urn:uuid:p"},
            "focus": [{"reference": "urn:uuid:gone"}, {"reference": "urn:oid:1.2.3"}],
            "note": [{"text": "see urn:uuid:p"}],
            "valueAttachment": {"url": "urn:uuid:e", "title": "urn:uuid:p?x=1"},
        },
    ),
    (
        "conditional references and absolute fullUrls",
        {
            "resourceType": "Encounter",
            "subject": {"reference": "Patient?identifier=http://x|1&name=a%20b"},
            "participant": [
                {"individual": {"reference": "Practitioner?identifier=n|2"}},
                {"individual": {"reference": "http://other/fhir/Practitioner/7"}},
                {"individual": {"reference": "Practitioner/7?_format=json"}},
                {"individual": {"reference": "practitioner?identifier=n|2"}},
            ],
            "serviceProvider": {"reference": "http://example.org/fhir/Organization/o1"},
            "location": [{"location": {"reference": 'Location?name="quoted"'}}],
            "identifier": [{"system": "http://x?y", "value": "Patient?identifier=q"}],
        },
    ),
    (
        "escapes, unicode, keys and values that only look like references",
        {
            "resourceType": "Basic",
            "code": {"text": 'a "quoted" \\ urn:uuid:p, "reference":"urn:uuid:p"'},
            "subject": {"reference": 'urn:uuid:we"ird'},
            "author": {"reference": "urn:uuid:ünïcode"},
            "extension": [
                {"url": "urn:uuid:p", "valueString": "urn:uuid:p\\"},
                {"url": "x", "valueString": "\u2028urn:uuid:p"},
                {"url": "y", "valueReference": {"reference": "urn:uuid:e\n"}},
            ],
            "modifierExtension": [{"url": "u", "valueInteger": 1, "valueDecimal": 1.5e300}],
            "urn:uuid:p": "a key, not a value",
            "reference": "urn:uuid:p",
            "div": "urn:uuid:e",
        },
    ),
    (
        "JSON text of references inside strings and keys",
        {
            "resourceType": "Basic",
            "code": {
                "coding": [
                    {"code": '"urn:uuid:p"', "display": 'x","reference":"urn:uuid:p'},
                    {"code": '{"div":"<a href=\\"urn:uuid:p\\">"}', "display": '"div":"urn:uuid:p"'},
                ],
                "text": '["urn:uuid:p",{"reference":"Practitioner?identifier=n|2"}]',
            },
            'x"reference': "urn:uuid:p",
            'x"div': '<a href="urn:uuid:p">',
            "extension": [{"url": "u", "valueString": 'a\\"urn:uuid:p'}],
            "contained": [{"resourceType": "Basic", "text": {"div": '<a href="urn:uuid:p">p</a>'}}],
        },
    ),
    ("nothing to rewrite", {"resourceType": "Patient", "active": True, "name": [{"family": "Ng"}]}),
]

MAPPINGS: list[dict[str, str]] = [
    {},
    {"urn:uuid:p": "Patient/1", "urn:uuid:e": "Encounter/2", "urn:uuid:ünïcode": "Practitioner/3"},
    {
        "urn:uuid:p": "Patient/1",
        "Practitioner?identifier=n|2": "Practitioner/9",
        "http://example.org/fhir/Organization/o1": "Organization/o1",
        'Location?name="quoted"': "Location/l",
    },
    {'urn:uuid:we"ird': "Patient/w", "urn:uuid:e\n": "Encounter/n", "urn:uuid:p": "Patient/1"},
]


@pytest.mark.parametrize("case", CASES, ids=[name for name, _ in CASES])
@pytest.mark.parametrize("mapping", MAPPINGS, ids=["empty", "urns", "mixed", "escaped-keys"])
def test_edge_cases_equal_the_walk(case: tuple[str, dict[str, Any]], mapping: dict[str, str]) -> None:
    _check(case[1], mapping)


def test_edge_case_results() -> None:
    """What the rewrite does, spelled out (the walk agrees, as above)."""
    resource = CASES[0][1]
    out, dangling = ReferenceMap({"urn:uuid:p": "Patient/1", "urn:uuid:e": "Encounter/2"}).rewrite(resource)
    assert out["contained"][0]["subject"]["reference"] == "Patient/1"
    assert out["contained"][1]["target"][0]["reference"] == "Encounter/2"
    assert out["contained"][1]["text"]["div"] == "<div><a href='Encounter/2'>e</a></div>"
    assert out["text"]["div"] == '<div><a href="Patient/1">p</a> urn:uuid:p</div>'
    assert out["extension"][0]["valueReference"]["reference"] == "Patient/1"
    assert out["extension"][1]["extension"][0]["valueUri"] == "Encounter/2"
    assert out["extension"][2]["valueCanonical"] == "Encounter/2"
    assert out["meta"]["profile"] == ["Patient/1", "http://p"]
    assert out["subject"] == {"reference": "Patient/1", "display": "Patient/1"}
    assert out["note"][0]["text"] == "see urn:uuid:p"
    assert out["valueAttachment"] == {"url": "Encounter/2", "title": "urn:uuid:p?x=1"}
    assert dangling == {"urn:uuid:gone", "urn:oid:1.2.3"}
    assert conditional_references(CASES[1][1]) == {
        "Patient?identifier=http://x|1&name=a%20b",
        "Practitioner?identifier=n|2",
        'Location?name="quoted"',
    }
    weird = CASES[2][1]
    out, dangling = ReferenceMap(MAPPINGS[3]).rewrite(weird)
    assert out["subject"]["reference"] == "Patient/w"
    assert out["extension"][2]["valueReference"]["reference"] == "Encounter/n"
    assert out["reference"] == "Patient/1" and out["urn:uuid:p"] == "a key, not a value"
    assert dangling == {"urn:uuid:ünïcode"}


def test_what_orjson_cannot_write_takes_the_walk() -> None:
    resource = {"resourceType": "Basic", "subject": {"reference": "urn:uuid:p"}, "big": 2**70}
    assert encode(resource) is None
    out, dangling = ReferenceMap({"urn:uuid:p": "Patient/1"}).rewrite(resource)
    assert out["subject"]["reference"] == "Patient/1" and out["big"] == 2**70 and not dangling
    assert local_references(resource) == {"urn:uuid:p"}
    assert conditional_references({**resource, "x": {"reference": "Patient?a=b"}}) == {"Patient?a=b"}


def test_the_copy_is_independent() -> None:
    resource = {"resourceType": "Basic", "meta": {"tag": [{"code": "a"}]}}
    out, _ = ReferenceMap({}).rewrite(resource)
    out["meta"]["tag"][0]["code"] = "b"
    assert resource["meta"]["tag"][0]["code"] == "a"
