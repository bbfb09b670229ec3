"""TokenVerifier without HTTP: every bad token is a 401 OutcomeError that does not echo it;
good tokens from the development issuer, PEM and JWKS files and a JWKS URL are accepted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm
from tests.auth.forge import bad_tokens, claims

from yilian.auth.dev_issuer import DEV_ISSUER, DevelopmentIssuer
from yilian.auth.keys import TrustedIssuer
from yilian.auth.purpose import with_purpose
from yilian.auth.tokens import TokenVerifier
from yilian.fhir.outcome import Outcome, OutcomeError


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentIssuer:
    return DevelopmentIssuer(tmp_path_factory.mktemp("issuer") / "dev.pem")


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentIssuer:
    return DevelopmentIssuer(tmp_path_factory.mktemp("other") / "dev.pem")


@pytest.fixture(scope="module")
def verifier(issuer: DevelopmentIssuer) -> TokenVerifier:
    return TokenVerifier([issuer.trusted()], "yilian", leeway=30)


def refused(verifier: TokenVerifier, token: str) -> OutcomeError:
    with pytest.raises(OutcomeError) as caught:
        verifier.verify(token)
    error = caught.value
    assert error.kind is Outcome.UNAUTHORIZED
    assert error.issues[0].code.value in ("login", "security")
    text = str(error)
    assert text and (len(token) < 12 or token[:40] not in text)
    return error


def test_issued_tokens_verify(issuer: DevelopmentIssuer, verifier: TokenVerifier) -> None:
    token = issuer.issue("county-hospital", "doctor", "openid user/*.rs patient/Observation.read")
    principal = verifier.verify(token)
    assert (principal.subject, principal.role, principal.institution) == (
        "doctor@county-hospital",
        "doctor",
        "county-hospital",
    )
    assert principal.issuer == DEV_ISSUER and principal.token_id
    assert principal.allows("Observation", "r") and principal.allows("Patient", "s")
    assert not principal.allows("Patient", "c")
    patient = verifier.verify(issuer.issue("county-hospital", "patient", "patient/*.rs", patient="p-1"))
    assert patient.role == "patient" and patient.patient == "p-1"
    system = verifier.verify(issuer.issue(None, "system", "system/*.cruds"))
    assert system.institution is None and system.allows("Encounter", "d")


def test_every_bad_token_is_refused(
    issuer: DevelopmentIssuer, other: DevelopmentIssuer, verifier: TokenVerifier
) -> None:
    tokens = bad_tokens(issuer, other)
    assert len(tokens) >= 30
    messages = {name: str(refused(verifier, token)) for name, token in tokens.items()}
    assert "expired" in messages["expired"]
    assert "not valid yet" in messages["not yet valid"]
    assert "not valid yet" in messages["issued in the future"]
    assert "issuer" in messages["wrong issuer"]
    assert "aud" in messages["wrong audience"]
    assert "'none'" in messages["alg none"] and "HS256" in messages["HS256 with the public key as secret"]
    assert "signature" in messages["other key, trusted kid"] and "signature" in messages["tampered payload"]
    assert "role" in messages["unknown role"]
    assert "patient" in messages["patient without patient claim"]
    assert "longer" in messages["huge"]
    assert "exp" in messages["no expiry"] and "sub" in messages["no subject"]


def test_leeway_tolerates_small_clock_skew(issuer: DevelopmentIssuer, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert verifier.verify(issuer.sign(claims(exp=now - 5))).subject == "dr-wang"
    assert verifier.verify(issuer.sign(claims(nbf=now + 5))).subject == "dr-wang"
    strict = TokenVerifier([issuer.trusted()], "yilian", leeway=0)
    refused(strict, issuer.sign(claims(exp=now - 5)))


def test_audience_list_and_other_audience(issuer: DevelopmentIssuer) -> None:
    token = issuer.sign(claims(aud=["other", "yilian"]))
    assert TokenVerifier([issuer.trusted()], "yilian").verify(token).subject == "dr-wang"
    refused(TokenVerifier([issuer.trusted()], "elsewhere"), token)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_random_strings_are_refused(verifier: TokenVerifier, text: str) -> None:
    refused(verifier, text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.from_regex(r"[A-Za-z0-9_-]{0,80}", fullmatch=True), min_size=3, max_size=3))
def test_random_three_segment_tokens_are_refused(verifier: TokenVerifier, parts: list[str]) -> None:
    refused(verifier, ".".join(parts))


def _rsa_files(tmp_path: Path) -> tuple[rsa.RSAPrivateKey, Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "idp.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "idp.jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "rsa-1", "use": "sig"}]}))
    return key, pem, jwks


def test_rs256_from_pem_and_jwks_files(tmp_path: Path) -> None:
    key, pem, jwks = _rsa_files(tmp_path)
    body = claims(iss="https://idp.example.cn")
    for source in (
        TrustedIssuer("https://idp.example.cn", jwks_file=str(pem)),
        TrustedIssuer("https://idp.example.cn", jwks_file=str(jwks)),
    ):
        verifier = TokenVerifier([source], "yilian")
        assert (
            verifier.verify(jwt.encode(body, key, algorithm="RS256", headers={"kid": "rsa-1"})).subject
            == "dr-wang"
        )
        # An EC-signed token claiming this issuer's RSA key id is refused (algorithm/key mismatch).
        other = jwt.encode(
            body, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "rsa-1"}
        )
        refused(verifier, other)
        # RS256 signed by another RSA key.
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        refused(verifier, jwt.encode(body, stranger, algorithm="RS256", headers={"kid": "rsa-1"}))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a key",
        b"[1, 2]",
        b'{"keys": []}',
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ],
)
def test_unusable_key_files_fail_at_start(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "keys"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="key file"):
        TokenVerifier([TrustedIssuer("https://idp.example.cn", jwks_file=str(path))], "yilian")
    with pytest.raises(ValueError, match="cannot be read"):
        TokenVerifier(
            [TrustedIssuer("https://idp.example.cn", jwks_file=str(tmp_path / "missing"))], "yilian"
        )


@pytest.fixture
def jwks_server(tmp_path: Path) -> Iterator[tuple[str, rsa.RSAPrivateKey, list[int]]]:
    key, _, jwks = _rsa_files(tmp_path)
    body = jwks.read_bytes()
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/certs", key, hits
    finally:
        server.shutdown()


def test_jwks_url_is_fetched_once_and_cached(jwks_server: tuple[str, rsa.RSAPrivateKey, list[int]]) -> None:
    url, key, hits = jwks_server
    verifier = TokenVerifier([TrustedIssuer("https://idp.example.cn", jwks_url=url)], "yilian")
    assert verifier.remote
    body = claims(iss="https://idp.example.cn")
    for _ in range(5):
        assert (
            verifier.verify(jwt.encode(body, key, algorithm="RS256", headers={"kid": "rsa-1"})).role
            == "doctor"
        )
    # Unknown key ids do not make the server hammer the identity provider.
    for i in range(5):
        refused(verifier, jwt.encode(body, key, algorithm="RS256", headers={"kid": f"made-up-{i}"}))
    assert len(hits) == 1


def test_unreachable_jwks_url_is_a_401() -> None:
    verifier = TokenVerifier(
        [TrustedIssuer("https://idp.example.cn", jwks_url="http://127.0.0.1:9/certs")],
        "yilian",
        jwks_timeout=1,
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    error = refused(
        verifier,
        jwt.encode(claims(iss="https://idp.example.cn"), key, algorithm="RS256", headers={"kid": "k"}),
    )
    assert "could not be fetched" in str(error)


def test_purpose_headers(issuer: DevelopmentIssuer, verifier: TokenVerifier) -> None:
    principal = verifier.verify(issuer.issue("county-hospital", "doctor", "user/*.rs"))
    assert with_purpose(principal, {}).purpose == "treatment"
    research = verifier.verify(issuer.issue(None, "researcher", "user/*.rs", purpose="research"))
    assert with_purpose(research, {}).purpose == "research"
    assert with_purpose(research, {"x-purpose-of-use": "Payment"}).purpose == "payment"
    emergency = with_purpose(
        principal, {"x-purpose-of-use": "emergency", "x-break-glass-reason": " unconscious  patient "}
    )
    assert (emergency.purpose, emergency.break_glass_reason) == ("emergency", "unconscious patient")
    ignored = with_purpose(principal, {"x-break-glass-reason": "curious"})
    assert ignored.break_glass_reason is None and ignored.purpose == "treatment"
    with pytest.raises(OutcomeError) as caught:
        with_purpose(principal, {"x-purpose-of-use": "marketing"})
    assert caught.value.kind is Outcome.BAD_REQUEST


def test_development_issuer_key_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dev.pem"
    first = DevelopmentIssuer(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = DevelopmentIssuer(path)
    assert again.kid == first.kid and again.jwks() == first.jwks()
    assert (
        TokenVerifier([again.trusted()], "yilian").verify(first.issue("a", "nurse", "user/*.rs")).role
        == "nurse"
    )
    path.write_text("garbage")
    with pytest.raises(ValueError, match="not a PEM private key"):
        DevelopmentIssuer(path)
    for bad in (
        {"role": "janitor"},
        {"role": "patient"},
        {"role": "doctor", "purpose": "fun"},
        {"role": "doctor", "institution": "Bad Code"},
    ):
        with pytest.raises(ValueError):
            first.issue(bad.get("institution", "a"), bad["role"], "user/*.rs", purpose=bad.get("purpose"))


def test_anonymous_is_never_a_token_role(issuer: DevelopmentIssuer, verifier: TokenVerifier) -> None:
    refused(verifier, issuer.sign(claims(role="anonymous")))
    with pytest.raises(ValueError):
        issuer.issue("a", "anonymous", "user/*.rs")
