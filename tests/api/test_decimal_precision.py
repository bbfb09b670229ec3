"""Decimals come back over HTTP as the client wrote them, on both backends: create, read,
vread, update, patch, search, history, transaction, `$import` and `$export`
(http://hl7.org/fhir/R4/datatypes.html#decimal, http://hl7.org/fhir/R4/json.html); and number
and quantity search honour the stored decimal's precision
(http://hl7.org/fhir/R4/search.html#number).

Every check reads the raw response bytes: httpx's `.json()` would parse them to floats and
hide what the server wrote."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.helpers import FHIR_JSON
from tests.bulk.support import ASYNC, kick_off, wait
from tests.serving import auth_headers, running_server

# Texts a float would write differently, and texts it writes as they are.
TEXTS = ["1.50", "0.10", "100.000", "1.0e2", "0.100000000000000005551", "-0.0", "2.5", "1E-7"]
INTEGERS = ["7", "0", "-3"]


def observation_text(texts: list[str], *, oid: str | None = None, subject: str = "Patient/p1") -> str:
    """An Observation, written by hand so the numbers are exactly `texts` (one component
    each, a valueQuantity) plus an extension's valueDecimal and valueInteger components."""
    components = ",".join(
        f'{{"code": {{"text": "c{i}"}}, "valueQuantity": {{"value": {t}, "unit": "mg"}}}}'
        for i, t in enumerate(texts)
    )
    integers = ",".join(
        f'{{"code": {{"text": "i{i}"}}, "valueInteger": {n}}}' for i, n in enumerate(INTEGERS)
    )
    ident = f'"id": "{oid}", ' if oid else ""
    return (
        f'{{"resourceType": "Observation", {ident}"status": "final", "code": {{"text": "x"}}, '
        f'"subject": {{"reference": "{subject}"}}, '
        f'"extension": [{{"url": "http://example.org/d", "valueDecimal": {texts[0]}}}], '
        f'"component": [{components}, {integers}]}}'
    )


def numbers(raw: bytes) -> list[str]:
    """Every `"value"`, `"valueDecimal"` and `"valueInteger"` number in a response, in order."""
    return re.findall(r'"value(?:Decimal|Integer)?":\s*(-?[0-9][0-9.eE+-]*)', raw.decode())


def expected(texts: list[str]) -> list[str]:
    return [texts[0], *texts, *INTEGERS]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, headers=auth_headers()) as c:
        yield c


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def fhir(store_url: str, tmp_path: Path, inbox: Path) -> Iterator[str]:
    with running_server(store_url, bulk_dir=str(tmp_path / "bulk"), import_allowed_dirs=str(inbox)) as base:
        yield base


def test_rest_interactions_keep_decimal_text(client: httpx.Client, fhir: str) -> None:
    created = client.post(f"{fhir}/Observation", content=observation_text(TEXTS), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    assert numbers(created.content) == expected(TEXTS)
    oid = created.json()["id"]

    read = client.get(f"{fhir}/Observation/{oid}")
    assert numbers(read.content) == expected(TEXTS)
    assert numbers(client.get(f"{fhir}/Observation/{oid}/_history/1").content) == expected(TEXTS)
    pretty = client.get(f"{fhir}/Observation/{oid}", params={"_pretty": "true"})
    assert numbers(pretty.content) == expected(TEXTS)

    later = ["3.140", "2.0e1", "0.000"]
    updated = client.put(
        f"{fhir}/Observation/{oid}", content=observation_text(later, oid=oid), headers=FHIR_JSON
    )
    assert updated.status_code == 200, updated.text
    assert numbers(client.get(f"{fhir}/Observation/{oid}").content) == expected(later)

    patched = client.patch(
        f"{fhir}/Observation/{oid}",
        content='[{"op": "replace", "path": "/component/1/valueQuantity/value", "value": 9.90}]',
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    after_patch = ["3.140", "9.90", "0.000"]
    assert numbers(patched.content) == expected(after_patch)
    assert numbers(client.get(f"{fhir}/Observation/{oid}").content) == expected(after_patch)

    search = client.get(f"{fhir}/Observation", params={"_id": oid})
    assert numbers(search.content) == expected(after_patch)
    history = client.get(f"{fhir}/Observation/{oid}/_history")
    assert numbers(history.content) == expected(after_patch) + expected(later) + expected(TEXTS)
    assert numbers(client.get(f"{fhir}/Observation/_history").content) == numbers(history.content)
    assert numbers(client.get(f"{fhir}/Observation/{oid}/_history/1").content) == expected(TEXTS)


def test_transaction_and_batch_entries_keep_decimal_text(client: httpx.Client, fhir: str) -> None:
    patient_url = "urn:uuid:7c9e6679-7425-40de-944e-07fc1f90ae7e"
    bundle = (
        '{"resourceType": "Bundle", "type": "transaction", "entry": ['
        f'{{"fullUrl": "{patient_url}", "resource": {{"resourceType": "Patient"}}, '
        '"request": {"method": "POST", "url": "Patient"}}, '
        f'{{"resource": {observation_text(TEXTS, subject=patient_url)}, '
        '"request": {"method": "POST", "url": "Observation"}}]}'
    )
    headers = {**FHIR_JSON, "Prefer": "return=representation"}
    response = client.post(fhir, content=bundle, headers=headers)
    assert response.status_code == 200, response.text
    assert numbers(response.content) == expected(TEXTS)
    location = response.json()["entry"][1]["response"]["location"]
    oid = location.split("/")[1]
    stored = client.get(f"{fhir}/Observation/{oid}")
    assert numbers(stored.content) == expected(TEXTS)
    assert '"reference":"Patient/' in stored.text  # the urn:uuid was rewritten, the numbers kept

    batch = (
        '{"resourceType": "Bundle", "type": "batch", "entry": ['
        f'{{"request": {{"method": "GET", "url": "Observation/{oid}"}}}}, '
        f'{{"resource": {observation_text(["4.20"])}, '
        '"request": {"method": "POST", "url": "Observation"}}]}'
    )
    answered = client.post(fhir, content=batch, headers=headers)
    assert answered.status_code == 200, answered.text
    assert numbers(answered.content) == expected(TEXTS) + expected(["4.20"])


def test_import_and_export_keep_decimal_text(client: httpx.Client, fhir: str, inbox: Path) -> None:
    lines = [
        observation_text(TEXTS, oid="imported-1").replace("\n", " "),
        observation_text(["5.50"], oid="imported-2"),
    ]
    (inbox / "Observation.ndjson").write_text("\n".join(lines) + "\n")
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
            {"name": "input", "part": [{"name": "url", "valueUrl": str(inbox / "Observation.ndjson")}]},
        ],
    }
    kicked = client.post(f"{fhir}/$import", json=body, headers=ASYNC)
    assert kicked.status_code == 202, kicked.text
    done = wait(client, kicked.headers["content-location"])
    assert done.status_code == 200, done.text
    assert done.json()["error"] == [] or all(e["count"] == 0 for e in done.json()["error"])
    assert numbers(client.get(f"{fhir}/Observation/imported-1").content) == expected(TEXTS)
    assert numbers(client.get(f"{fhir}/Observation/imported-2").content) == expected(["5.50"])

    finished = wait(client, kick_off(client, f"{fhir}/$export", {"_type": "Observation"}))
    assert finished.status_code == 200, finished.text
    [output] = finished.json()["output"]
    exported = client.get(output["url"]).content.splitlines()
    by_id = {re.search(rb'"id":"([^"]+)"', line)[1]: line for line in exported}  # type: ignore[index]
    assert numbers(by_id[b"imported-1"]) == expected(TEXTS)
    assert numbers(by_id[b"imported-2"]) == expected(["5.50"])


def test_quantity_and_number_search_use_the_stored_precision(client: httpx.Client, fhir: str) -> None:
    """search.html#number: `1.50` stands for [1.495, 1.505), `1.5` for [1.45, 1.55); a value
    matches when the search range holds its whole range."""
    ids = {}
    for text in ("1.50", "1.5", "100.000", "1.0e2"):
        body = (
            '{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, '
            f'"valueQuantity": {{"value": {text}, "system": "http://unitsofmeasure.org", "code": "mg"}}}}'
        )
        r = client.post(f"{fhir}/Observation", content=body, headers=FHIR_JSON)
        assert r.status_code == 201, r.text
        ids[r.json()["id"]] = text

    def found(value: str) -> set[str]:
        r = client.get(f"{fhir}/Observation", params={"value-quantity": value, "_count": "50"})
        assert r.status_code == 200, r.text
        return {ids[e["resource"]["id"]] for e in r.json().get("entry", [])}

    assert found("1.50") == {"1.50"}
    assert found("1.5") == {"1.50", "1.5"}
    assert found("1.500") == set()
    assert found("1.50|http://unitsofmeasure.org|mg") == {"1.50"}
    assert found("100") == {"100.000"}
    assert found("100.000") == {"100.000"}
    assert found("1e2") == {"100.000", "1.0e2"}
    risk = (
        '{"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": "Patient/p1"}, '
        '"prediction": [{"probabilityDecimal": 0.10}]}'
    )
    assert client.post(f"{fhir}/RiskAssessment", content=risk, headers=FHIR_JSON).status_code == 201
    for query, hits in (("0.10", 1), ("0.1", 1), ("0.100", 0)):
        r = client.get(f"{fhir}/RiskAssessment", params={"probability": query})
        assert r.status_code == 200, r.text
        assert len(r.json().get("entry", [])) == hits, query


_DECIMAL = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}.{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.integers(1, 10**12).map(str)),
    st.text("0123456789", min_size=1, max_size=22),
    st.one_of(st.just(""), st.integers(-20, 20).map(lambda e: f"e{e}")),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_DECIMAL, min_size=1, max_size=4))
def test_any_decimal_text_survives_create_and_read(client: httpx.Client, fhir: str, texts: list[str]) -> None:
    created = client.post(f"{fhir}/Observation", content=observation_text(texts), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    read = client.get(f"{fhir}/Observation/{created.json()['id']}")
    assert numbers(read.content) == expected(texts)
