"""`.well-known/smart-configuration` sends clients only to endpoints the trusted issuer has.

The issuer's discovery document is served by a real HTTP server on 127.0.0.1; an issuer that
cannot be reached leaves the server starting and advertising no grant it cannot back.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.serving import running_server

from yilian.config import IssuerSetting, SettingsError, load_settings

CODE_NEEDS = ("authorization_endpoint", "token_endpoint", "code_challenge_methods_supported")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'yilian.sqlite'}"


def _smart(base: str) -> dict[str, Any]:
    root = base.removesuffix("/fhir")
    with httpx.Client(timeout=30) as client:
        documents = [
            client.get(f"{url}/.well-known/smart-configuration") for url in (root, base, f"{base}/x")
        ]
    for response in documents:
        assert response.status_code == 200, response.text
        assert response.json() == documents[0].json()
    document: dict[str, Any] = documents[0].json()
    return document


def _assert_valid(document: dict[str, Any]) -> None:
    """What SMART App Launch 2.x asks of the document, whatever is offered."""
    assert isinstance(document["capabilities"], list)
    assert isinstance(document["grant_types_supported"], list)
    grants = set(document["grant_types_supported"])
    if "authorization_code" in grants:
        assert document["authorization_endpoint"].startswith("http")
        assert "S256" in document["code_challenge_methods_supported"]
        assert "plain" not in document["code_challenge_methods_supported"]
    else:
        assert "authorization_endpoint" not in document
        assert "code_challenge_methods_supported" not in document
        assert not {"launch-ehr", "launch-standalone", "client-public"} & set(document["capabilities"])
    if grants:
        assert document["token_endpoint"].startswith("http")
    else:
        assert "token_endpoint" not in document


@contextmanager
def identity_provider(path: str, metadata: dict[str, Any] | None) -> Iterator[str]:
    """A real HTTP server publishing `metadata` at `{issuer}/.well-known/openid-configuration`
    (issuer = `http://127.0.0.1:PORT{path}`, filled in when `metadata` names none); yields
    the issuer.  `metadata` None answers 404."""
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if metadata is None or self.path != f"{path}/.well-known/openid-configuration":
                self.send_error(404)
                return
            body = json.dumps({"issuer": state["issuer"], **metadata}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["issuer"] = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["issuer"]
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_with_only_the_development_issuer_no_grant_is_advertised(db_url: str) -> None:
    with running_server(db_url) as base:
        document = _smart(base)
    _assert_valid(document)
    assert document["grant_types_supported"] == []
    assert document["issuer"] == "urn:yilian:dev-issuer"
    assert document["jwks_uri"] == base.removesuffix("/fhir") + "/.well-known/jwks.json"
    assert {"permission-v1", "permission-v2"} <= set(document["capabilities"])
    assert "yilian token" in document["yilian_tokens"]


def test_endpoints_named_in_the_settings_are_advertised(db_url: str) -> None:
    issuer = IssuerSetting(
        "https://sso.example.cn/realms/alliance",
        jwks_url="https://sso.example.cn/realms/alliance/certs",
        authorization_endpoint="https://sso.example.cn/realms/alliance/auth",
        token_endpoint="https://sso.example.cn/realms/alliance/token",
        token_endpoint_auth_methods_supported=("private_key_jwt",),
        discovery=False,
    )
    with running_server(db_url, issuers=(issuer,)) as base:
        document = _smart(base)
    _assert_valid(document)
    assert document["issuer"] == issuer.issuer
    assert document["jwks_uri"] == issuer.jwks_url
    assert document["authorization_endpoint"] == issuer.authorization_endpoint
    assert document["token_endpoint"] == issuer.token_endpoint
    assert document["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "client-confidential-asymmetric" in document["capabilities"]
    assert document["yilian_trusted_issuers"] == [issuer.issuer, "urn:yilian:dev-issuer"]


def test_a_token_endpoint_alone_offers_client_credentials_only(db_url: str) -> None:
    issuer = IssuerSetting(
        "https://sso.example.cn/realms/backend",
        jwks_url="https://sso.example.cn/realms/backend/certs",
        token_endpoint="https://sso.example.cn/realms/backend/token",
        discovery=False,
    )
    with running_server(db_url, issuers=(issuer,)) as base:
        document = _smart(base)
    _assert_valid(document)
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["token_endpoint"] == issuer.token_endpoint


def test_endpoints_come_from_the_issuers_discovery_document(db_url: str) -> None:
    published = {
        "authorization_endpoint": "https://login.example.cn/authorize",
        "token_endpoint": "https://login.example.cn/token",
        "jwks_uri": "https://login.example.cn/certs",
        "grant_types_supported": ["authorization_code", "refresh_token", "password", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "code_challenge_methods_supported": ["plain", "S256"],
    }
    with identity_provider("/realms/alliance", published) as iss:
        setting = IssuerSetting(iss, jwks_url=f"{iss}/certs")
        with running_server(db_url, issuers=(setting,)) as base:
            document = _smart(base)
    _assert_valid(document)
    assert document["issuer"] == iss
    assert document["authorization_endpoint"] == published["authorization_endpoint"]
    assert document["token_endpoint"] == published["token_endpoint"]
    assert document["jwks_uri"] == f"{iss}/certs"  # the configured key set wins
    assert document["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "private_key_jwt"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert {"client-confidential-symmetric", "client-confidential-asymmetric"} <= set(
        document["capabilities"]
    )


def test_a_discovery_document_without_an_authorization_endpoint_offers_no_code(db_url: str) -> None:
    published = {
        "token_endpoint": "https://login.example.cn/token",
        "grant_types_supported": ["authorization_code"],
    }
    with identity_provider("", published) as iss:
        setting = IssuerSetting(iss, jwks_url=f"{iss}/certs")
        with running_server(db_url, issuers=(setting,)) as base:
            document = _smart(base)
    _assert_valid(document)
    assert document["grant_types_supported"] == []


def test_another_issuers_discovery_document_is_not_taken(db_url: str) -> None:
    published = {
        "issuer": "https://elsewhere.example.cn",
        "authorization_endpoint": "https://elsewhere.example.cn/authorize",
        "token_endpoint": "https://elsewhere.example.cn/token",
    }
    with identity_provider("/realms/a", published) as iss:
        setting = IssuerSetting(iss, jwks_url=f"{iss}/certs")
        with running_server(db_url, issuers=(setting,)) as base:
            document = _smart(base)
    _assert_valid(document)
    assert document["grant_types_supported"] == [] and document["issuer"] == iss


@pytest.mark.parametrize("answer", ["unreachable", "404"])
def test_an_issuer_that_cannot_be_read_leaves_the_server_serving(db_url: str, answer: str) -> None:
    configured_token = "https://sso.example.cn/token"
    if answer == "unreachable":
        iss = f"http://127.0.0.1:{_closed_port()}/realms/alliance"
        settings = IssuerSetting(iss, jwks_url=f"{iss}/certs")
        with running_server(db_url, issuers=(settings,)) as base:
            document = _smart(base)
            with_token = IssuerSetting(iss, jwks_url=f"{iss}/certs", token_endpoint=configured_token)
        with running_server(db_url, issuers=(with_token,)) as base:
            partial = _smart(base)
    else:
        with identity_provider("/realms/alliance", None) as iss:
            with running_server(db_url, issuers=(IssuerSetting(iss, jwks_url=f"{iss}/certs"),)) as base:
                document = _smart(base)
            with_token = IssuerSetting(iss, jwks_url=f"{iss}/certs", token_endpoint=configured_token)
            with running_server(db_url, issuers=(with_token,)) as base:
                partial = _smart(base)
    for doc in (document, partial):
        _assert_valid(doc)
        assert "authorization_code" not in doc["grant_types_supported"]
    assert document["grant_types_supported"] == [] and document["issuer"] == iss
    assert partial["grant_types_supported"] == ["client_credentials"]
    assert partial["token_endpoint"] == configured_token


def test_issuer_endpoint_settings_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "yilian.toml"
    base = (
        '[[yilian.issuers]]\nissuer = "https://sso.example.cn"\njwks_url = "https://sso.example.cn/certs"\n'
    )
    config.write_text(
        base + 'token_endpoint = "https://sso.example.cn/token"\n'
        'grant_types_supported = "client_credentials"\ndiscovery = false\n'
    )
    settings = load_settings(config_file=config, env={})
    (issuer,) = settings.issuers
    assert issuer.grant_types_supported == ("client_credentials",) and issuer.discovery is False
    assert load_settings(env=settings.to_env()).issuers == (issuer,)  # as worker processes get them
    for extra, message in (
        ('token_endpoint = "sso.example.cn/token"\n', "token_endpoint must be an http"),
        ('authorization_endpoint = "https://sso.example.cn/auth"\n', "without its token_endpoint"),
        ("grant_types_supported = [1]\n", "list of strings"),
        ('discovery = "maybe"\n', "true or false"),
        ("token_endpoint = 3\n", "must be a string"),
    ):
        config.write_text(base + extra)
        with pytest.raises(SettingsError, match=message):
            load_settings(config_file=config, env={})
