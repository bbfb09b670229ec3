"""MLLP over TLS with client certificates: MLLP authenticates nobody, so with a client CA
configured only a client holding a certificate that CA signed may connect, and it may send
only for the facility its certificate names."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.feeds.feed_server import feed_server, mllp_send
from tests.feeds.test_mllp import adt_a01


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: str,
    *,
    ca: bool = False,
    server: bool = False,
):  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key() if not ca else issuer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256()), (issuer_key if ca else key)


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, tuple[str, str]]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca, _ = _cert("yilian test CA", ca_key, "yilian test CA", ca=True)
    out = {"ca": _write(tmp_path / "ca", ca, ca_key)}
    for name, cn, server in (
        ("server", "localhost", True),
        ("county", "QXXRMYY", False),
        ("other", "ELSEWHERE", False),
    ):
        cert, key = _cert(cn, ca_key, "yilian test CA", server=server)
        out[name] = _write(tmp_path / name, cert, key)
    return out


def _client(pki: dict[str, tuple[str, str]], who: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"][0])
    if who:
        context.load_cert_chain(*pki[who])
    return context


def test_tls_with_client_certificates(store_url: str, pki: dict[str, tuple[str, str]]) -> None:
    settings = {
        "hl7_tls_cert": pki["server"][0],
        "hl7_tls_key": pki["server"][1],
        "hl7_tls_client_ca": pki["ca"][0],
    }
    with feed_server(store_url, **settings) as server:
        [ack] = mllp_send(server.mllp_port, adt_a01("t-1", "801"), context=_client(pki, "county"))
        assert b"MSA|AA|t-1" in ack
        [refused] = mllp_send(server.mllp_port, adt_a01("t-2", "802"), context=_client(pki, "other"))
        assert b"MSA|AR|t-2" in refused and b"ELSEWHERE" in refused
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            mllp_send(server.mllp_port, adt_a01("t-3", "803"), context=_client(pki, None), timeout=5)
        [still] = mllp_send(server.mllp_port, adt_a01("t-4", "804"), context=_client(pki, "county"))
        assert b"MSA|AA|t-4" in still
