"""Text with a no-break space (U+00A0) or an ideographic space (U+3000), as Chinese hospital
systems write names and notes, is accepted over HTTP and comes back unchanged, on both
backends: by create, inside a transaction Bundle (with a conditional reference that searches
for such text), and by `$validate`; a string of whitespace alone is a warning, not a 422."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from tests.api.helpers import FHIR_JSON

NAMES = [
    {"text": "张\u3000伟", "family": "张", "given": ["伟"]},
    {"text": "Anna\u00a0Maria", "family": "Maria", "given": ["Anna\u00a0Maria"]},
    {"text": "\u3000\u3000李\u3000四"},
]
IDENTIFIER = {"system": "urn:oid:2.16.840.1.113883.4.642", "value": "门诊\u3000001"}


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(url, content=orjson.dumps(body), headers=FHIR_JSON)


def _patient(**changes: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": NAMES, "gender": "male", **changes}


def test_create_and_read_back_unchanged(fhir: str, client: httpx.Client) -> None:
    base = f"{fhir}/county-hospital"
    created = _post(client, f"{base}/Patient", _patient(identifier=[IDENTIFIER]))
    assert created.status_code == 201, created.text
    assert created.json()["name"] == NAMES
    read = client.get(f"{base}/Patient/{created.json()['id']}")
    assert read.status_code == 200, read.text
    assert read.json()["name"] == NAMES and read.json()["identifier"] == [IDENTIFIER]
    assert "张\u3000伟".encode() in read.content  # the characters themselves, as UTF-8


def test_only_whitespace_is_a_warning_not_a_refusal(fhir: str, client: httpx.Client) -> None:
    created = _post(client, f"{fhir}/county-hospital/Patient", _patient(name=[{"text": " "}]))
    assert created.status_code == 201, created.text
    assert created.json()["name"] == [{"text": " "}]


def test_transaction_with_unicode_spaces(fhir: str, client: httpx.Client) -> None:
    base = f"{fhir}/county-hospital"
    existing = _post(client, f"{base}/Patient", _patient(identifier=[IDENTIFIER]))
    assert existing.status_code == 201, existing.text
    note = "体温正常。\u3000\u3000复查：Anna\u00a0Maria"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:4b1f7d0e-2c55-4f0e-9a8e-1f2d3c4b5a69",
                "resource": _patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "体温\u3000(腋下)"},
                    "subject": {
                        "reference": f"Patient?identifier={IDENTIFIER['system']}|{IDENTIFIER['value']}"
                    },
                    "performer": [{"reference": "urn:uuid:4b1f7d0e-2c55-4f0e-9a8e-1f2d3c4b5a69"}],
                    "note": [{"text": note}],
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = _post(client, base, bundle)
    assert response.status_code == 200, response.text[:2000]
    patient_at, observation_at = (e["response"]["location"] for e in response.json()["entry"])
    patient = client.get(f"{base}/{patient_at.split('/_history')[0]}").json()
    assert patient["name"] == NAMES
    observation = client.get(f"{base}/{observation_at.split('/_history')[0]}").json()
    assert observation["note"] == [{"text": note}]
    assert observation["code"] == {"text": "体温\u3000(腋下)"}
    # the conditional reference found the patient whose identifier holds the ideographic space
    assert observation["subject"] == {"reference": f"Patient/{existing.json()['id']}"}


def test_validate_operation(fhir: str, client: httpx.Client) -> None:
    response = _post(client, f"{fhir}/Patient/$validate", _patient())
    assert response.status_code == 200, response.text
    issues = response.json()["issue"]
    assert [i["severity"] for i in issues] == ["information"], issues
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": _patient()}]}
    response = _post(client, f"{fhir}/Patient/$validate", wrapped)
    assert [i["severity"] for i in response.json()["issue"]] == ["information"], response.text
    doubled = _post(client, f"{fhir}/Patient/$validate", _patient(gender="fe  male"))
    assert [(i["severity"], i["expression"]) for i in doubled.json()["issue"]] == [
        ("error", ["Patient.gender"])
    ]
