"""Tokens for the fuzzing tests: good ones from a development issuer, and every way of being bad."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from yilian.auth.dev_issuer import DEV_ISSUER, DevelopmentIssuer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: Any) -> str:
    return b64(json.dumps(obj).encode())


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims of a doctor at county-hospital; `changes` set (None: remove) claims."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": "yilian",
        "sub": "dr-wang",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "role": "doctor",
        "institution": "county-hospital",
        "scope": "user/*.rs",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def bad_tokens(issuer: DevelopmentIssuer, other: DevelopmentIssuer) -> dict[str, str]:
    """name -> a token the server must refuse with 401.  `other` is a key the server does not
    trust."""
    now = int(time.time())
    good = issuer.sign(claims())
    header, payload, _ = good.split(".")
    public_pem = json.dumps(issuer.jwks()).encode()
    hs_header = segment({"alg": "HS256", "typ": "JWT", "kid": issuer.kid})
    hs_body = segment(claims())
    hs_sig = b64(hmac.new(public_pem, f"{hs_header}.{hs_body}".encode(), hashlib.sha256).digest())
    return {
        "empty": "",
        "expired": issuer.sign(claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600)),
        "not yet valid": issuer.sign(claims(nbf=now + 3600, exp=now + 7200)),
        "issued in the future": issuer.sign(claims(iat=now + 3600, nbf=None, exp=now + 7200)),
        "other key, other kid": other.sign(claims()),
        "other key, trusted kid": other.sign(claims(), headers={"kid": issuer.kid}),
        "no kid, other key": _without_kid(claims()),
        "wrong issuer": issuer.sign(claims(iss="https://sso.evil.example")),
        "no issuer": issuer.sign(claims(iss=None)),
        "wrong audience": issuer.sign(claims(aud="another-server")),
        "no audience": issuer.sign(claims(aud=None)),
        "no expiry": issuer.sign(claims(exp=None)),
        "no subject": issuer.sign(claims(sub=None)),
        "empty subject": issuer.sign(claims(sub="")),
        "alg none": f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims())}.",
        "alg none with signature": f"{segment({'alg': 'none'})}.{payload}.{good.split('.')[2]}",
        "alg NONE": f"{segment({'alg': 'NONE'})}.{segment(claims())}.",
        "HS256 with the public key as secret": f"{hs_header}.{hs_body}.{hs_sig}",
        "RS512": f"{segment({'alg': 'RS512', 'kid': issuer.kid})}.{payload}.{good.split('.')[2]}",
        "alg missing": f"{segment({'typ': 'JWT'})}.{payload}.{good.split('.')[2]}",
        "tampered payload": f"{header}.{segment(claims(role='system'))}.{good.split('.')[2]}",
        "signature stripped": f"{header}.{payload}.",
        "random": secrets.token_urlsafe(96),
        "random printable": "!@#$%^&*()<>?~` \tjunk",
        "two segments": f"{header}.{payload}",
        "four segments": f"{good}.{payload}",
        "bad base64": f"{header}.a.{good.split('.')[2]}",
        "bad base64 header": f"a.{payload}.{good.split('.')[2]}",
        "bad JSON": f"{b64(b'{not json')}.{payload}.{good.split('.')[2]}",
        "payload not an object": f"{header}.{b64(b'[1, 2, 3]')}.{good.split('.')[2]}",
        "huge": "e" * 17000 + "." + payload + "." + good.split(".")[2],
        "unknown role": issuer.sign(claims(role="janitor")),
        "no role": issuer.sign(claims(role=None)),
        "patient without patient claim": issuer.sign(claims(role="patient", scope="patient/*.rs")),
        "bad patient claim": issuer.sign(claims(role="patient", patient="../../etc")),
        "bad institution claim": issuer.sign(claims(institution="County Hospital; DROP")),
        "bad purpose claim": issuer.sign(claims(purpose="curiosity")),
    }


def _without_kid(body: dict[str, Any]) -> str:
    """Signed ES256 with a key nobody trusts and no `kid` header."""
    return jwt.encode(body, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
