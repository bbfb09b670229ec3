"""Authentication over HTTP, through a real server on each backend.

Every bad token gets 401 with `WWW-Authenticate: Bearer` and an OperationOutcome, writes
nothing, and the server keeps serving; the public documents stay public; `yilian token`
output is accepted; `auth = off` works and says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.helpers import FHIR_JSON, INSTITUTIONS, assert_outcome, still_serving
from tests.auth.forge import bad_tokens
from tests.serving import DEV_KEY_PATH, auth_headers, dev_issuer, running_server
from typer.testing import CliRunner

from yilian.auth.dev_issuer import DevelopmentIssuer
from yilian.cli.main import app

PATIENT = {"resourceType": "Patient", "name": [{"family": "王", "given": ["伟"]}]}


@pytest.fixture
def fhir(store_url: str) -> Iterator[str]:
    with running_server(store_url, institutions=INSTITUTIONS) as base:
        yield base


@pytest.fixture
def anonymous() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


def _count(client: httpx.Client, base: str) -> int:
    response = client.get(f"{base}/Patient", params={"_summary": "count"}, headers=auth_headers())
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def test_no_token_is_401_with_a_challenge(fhir: str, anonymous: httpx.Client) -> None:
    for method, url in (
        ("GET", f"{fhir}/Patient"),
        ("GET", f"{fhir}/county-hospital/Patient"),
        ("GET", f"{fhir}/_history"),
        ("POST", f"{fhir}/county-hospital/Patient"),
        ("DELETE", f"{fhir}/county-hospital/Patient/x"),
        ("GET", f"{fhir}/Patient/x/$everything"),
    ):
        response = anonymous.request(
            method, url, json=PATIENT if method == "POST" else None, headers=FHIR_JSON
        )
        body = assert_outcome(response, 401, contains="bearer token")
        assert body["issue"][0]["code"] == "login"
        assert response.headers["www-authenticate"] == 'Bearer realm="yilian"'
    assert _count(anonymous, fhir) == 0


def test_other_schemes_are_401(fhir: str, anonymous: httpx.Client) -> None:
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Token abc", "bearer"):
        response = anonymous.get(f"{fhir}/Patient", headers={"Authorization": value})
        assert_outcome(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_every_bad_token_is_refused_and_the_server_keeps_serving(
    fhir: str, anonymous: httpx.Client, tmp_path: Path
) -> None:
    other = DevelopmentIssuer(tmp_path / "other.pem")
    tokens = bad_tokens(dev_issuer(), other)
    for name, token in tokens.items():
        if not token:
            continue
        for method in ("GET", "POST"):
            response = anonymous.request(
                method,
                f"{fhir}/county-hospital/Patient",
                json=PATIENT if method == "POST" else None,
                headers={**FHIR_JSON, "Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 401, (name, response.status_code, response.text[:300])
            body = assert_outcome(response, 401)
            challenge = response.headers["www-authenticate"]
            assert challenge.startswith('Bearer realm="yilian", error="invalid_token"'), name
            if len(token) > 20:
                assert token[-20:] not in response.text and token[-20:] not in challenge, name
            assert body["issue"][0]["code"] in ("login", "security")
    assert _count(anonymous, fhir) == 0
    still_serving(anonymous, fhir)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=300))
def test_random_strings_as_tokens(fhir: str, anonymous: httpx.Client, text: str) -> None:
    response = anonymous.get(f"{fhir}/Patient", headers={"Authorization": f"Bearer {text}"})
    assert_outcome(response, 401)


def test_system_token_works(fhir: str) -> None:
    with httpx.Client(timeout=60, headers=auth_headers()) as client:
        created = client.post(f"{fhir}/county-hospital/Patient", json=PATIENT, headers=FHIR_JSON)
        assert created.status_code == 201, created.text
        assert client.get(f"{fhir}/Patient").json()["total"] == 1


def test_metadata_is_public_and_describes_security(fhir: str, anonymous: httpx.Client) -> None:
    for base in (fhir, f"{fhir}/county-hospital"):
        response = anonymous.get(f"{base}/metadata")
        assert response.status_code == 200
        rest = response.json()["rest"][0]
        assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
        assert anonymous.head(f"{base}/metadata").status_code == 200
    assert_outcome(anonymous.post(f"{fhir}/metadata", json={}), 401)


def test_smart_configuration(fhir: str, anonymous: httpx.Client) -> None:
    root = fhir.removesuffix("/fhir")
    documents = [
        anonymous.get(f"{url}/.well-known/smart-configuration")
        for url in (root, fhir, f"{fhir}/county-hospital", f"{fhir}/dongshan-thc")
    ]
    for response in documents:
        assert response.status_code == 200, response.text
        assert response.json() == documents[0].json()
    config = documents[0].json()
    assert config["issuer"] == "urn:yilian:dev-issuer"
    assert config["jwks_uri"] == f"{root}/.well-known/jwks.json"
    assert {"permission-v1", "permission-v2"} <= set(config["capabilities"])
    assert "patient/*.rs" in config["scopes_supported"] and "system/*.cruds" in config["scopes_supported"]
    jwks = anonymous.get(config["jwks_uri"]).json()
    assert jwks == dev_issuer().jwks()
    assert all("d" not in key for key in jwks["keys"])  # never the private part


def test_purpose_header_is_checked(fhir: str) -> None:
    with httpx.Client(timeout=60, headers=auth_headers()) as client:
        assert client.get(f"{fhir}/Patient", headers={"X-Purpose-Of-Use": "treatment"}).status_code == 200
        assert_outcome(
            client.get(f"{fhir}/Patient", headers={"X-Purpose-Of-Use": "marketing"}), 400, contains="purpose"
        )


def test_yilian_token_output_is_accepted(fhir: str, tmp_path: Path, anonymous: httpx.Client) -> None:
    config = tmp_path / "yilian.toml"
    config.write_text(f'dev_issuer_key_path = "{DEV_KEY_PATH}"\n')
    result = CliRunner().invoke(
        app,
        [
            "token",
            "--institution",
            "county-hospital",
            "--role",
            "system",
            "--scopes",
            "system/*.cruds",
            "--ttl",
            "10m",
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token)
    response = anonymous.get(f"{fhir}/county-hospital/Patient", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    patient = CliRunner().invoke(
        app, ["token", "--role", "patient", "--scopes", "patient/*.rs", "--config", str(config)]
    )
    assert patient.exit_code == 2 and "patient" in patient.output
    bad_ttl = CliRunner().invoke(
        app, ["token", "--role", "doctor", "--scopes", "user/*.rs", "--ttl", "forever"]
    )
    assert bad_ttl.exit_code == 2 and "--ttl" in bad_ttl.output


def test_auth_off_works_and_says_so(store_url: str, anonymous: httpx.Client) -> None:
    with running_server(store_url, institutions=INSTITUTIONS, auth="off") as base:
        created = anonymous.post(f"{base}/county-hospital/Patient", json=PATIENT, headers=FHIR_JSON)
        assert created.status_code == 201, created.text
        health = anonymous.get(base.removesuffix("/fhir") + "/healthz").json()
        assert health["auth"] == "off" and "OFF" in health["warning"]
        security = anonymous.get(f"{base}/metadata").json()["rest"][0]["security"]
        assert "AUTHENTICATION IS OFF" in security["description"]
        smart = anonymous.get(f"{base}/.well-known/smart-configuration").json()
        assert smart["capabilities"] == [] and "off" in smart["yilian_authentication"]
