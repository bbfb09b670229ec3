"""Searches for a resident ID or a mobile number leave only keyed hashes in the audit log when
identifier encryption is configured (privacy/redaction.py), on both backends."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl

import pytest
from tests.privacy.audit_support import DOCTOR, KEY

from yilian.privacy.audit import AuditTrail
from yilian.privacy.keyring import generate_key, load_keyring
from yilian.privacy.model import AccessRecord
from yilian.privacy.redaction import query_redactor
from yilian.store.base import Repository

pytestmark = pytest.mark.anyio

RESIDENT_ID = "11010119900307663X"
MOBILE = "13912345678"


def _keyring():  # type: ignore[no-untyped-def]
    keyring = load_keyring(f"k1:{generate_key()}", generate_key())
    assert keyring is not None
    return keyring


def test_identifier_like_values_become_hashes_and_the_rest_stays() -> None:
    redact = query_redactor(_keyring())
    query = (
        f"identifier=urn:oid:2.16.156.10011.1.3|{RESIDENT_ID}&phone={MOBILE}&name=%E7%8E%8B"
        f"&subject:Patient.identifier={RESIDENT_ID}&_has:Encounter:patient:identifier=x&_count=5"
    )
    pairs = parse_qsl(redact(query))
    assert RESIDENT_ID not in redact(query) and MOBILE not in redact(query)
    assert [name for name, _ in pairs] == [name for name, _ in parse_qsl(query)]
    values = dict(pairs)
    assert values["name"] == "王" and values["_count"] == "5"
    assert all(values[k].startswith("hmac:") for k in ("identifier", "phone", "subject:Patient.identifier"))
    assert (
        values["subject:Patient.identifier"]
        == dict(parse_qsl(redact(f"identifier={RESIDENT_ID}")))["identifier"]
    )
    assert redact("name=li&_count=3") == "name=li&_count=3"  # nothing protected: unchanged


async def test_the_trail_stores_no_plaintext_identifier(repo: Repository) -> None:
    trail = AuditTrail(repo, signing_key=KEY, redact_query=query_redactor(_keyring()))
    query = f"identifier=urn:oid:2.16.156.10011.1.3|{RESIDENT_ID}&phone={MOBILE}"
    await trail.record(AccessRecord(DOCTOR, "search-type", "clinic-a", 200, "Patient", query=query))
    await trail.close()
    (logged,) = await repo.audit_entries()
    stored = logged.entry.event.decode()
    query_entity = logged.entry.json()["entity"][0]
    written = base64.b64decode(query_entity["query"]).decode()
    assert all(v.startswith("hmac:") for _, v in parse_qsl(written))
    for secret in (RESIDENT_ID, MOBILE):
        assert secret not in stored and secret not in written
