"""The identifier codec and the keyring, without a database: what is protected, the envelope
and its binding, the search hashes and the query rewriting, the key checks."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.fhir.search.extract import index_values
from yilian.fhir.search.model import TokenQuery, TokenValue
from yilian.fhir.search.parse import parse_criteria
from yilian.privacy.encryption import RESIDENT_ID_SYSTEM, IdentifierCodec
from yilian.privacy.keyring import Keyring, KeyringError, generate_key, key_file_text, load_keyring
from yilian.store.codec import PLAIN, KeyConfigurationError, KeyUse

RESIDENT_ID = "330127198803154417"
MOBILE = "13912345678"
K1, K2, H1 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


def codec(*keys: tuple[str, bytes], **options: Any) -> IdentifierCodec:
    return IdentifierCodec(Keyring(tuple(keys) or (("k1", K1),), H1), **options)


def patient(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "1"},
        "identifier": [
            {"system": "urn:yilian:mrn:qx", "value": "000123"},
            {"system": RESIDENT_ID_SYSTEM, "value": RESIDENT_ID},
        ],
        "telecom": [{"system": "email", "value": "a@b.cn"}, {"system": "phone", "value": MOBILE}],
        **extra,
    }


def stored(c: IdentifierCodec, body: dict[str, Any]) -> dict[str, Any]:
    encoded = c.encode(body)
    assert encoded is not None
    result: dict[str, Any] = orjson.loads(encoded)
    return result


def test_only_resident_ids_and_mobile_numbers_are_encrypted() -> None:
    body = patient(contact=[{"telecom": [{"system": "sms", "value": "13600000000"}]}])
    at_rest = stored(codec(), body)
    assert at_rest["identifier"][0]["value"] == "000123"
    assert at_rest["identifier"][1]["value"].startswith("enc:v1:k1:")
    assert at_rest["telecom"][0]["value"] == "a@b.cn"
    assert at_rest["telecom"][1]["value"].startswith("enc:v1:k1:")
    assert at_rest["contact"][0]["telecom"][0]["value"].startswith("enc:v1:k1:")
    assert body["identifier"][1]["value"] == RESIDENT_ID  # the caller's resource is untouched
    assert {k: v for k, v in at_rest.items() if k not in ("identifier", "telecom", "contact")} == {
        k: v for k, v in body.items() if k not in ("identifier", "telecom", "contact")
    }


def test_other_types_and_resources_without_protected_values_are_stored_as_they_are() -> None:
    c = codec()
    organization = {
        "resourceType": "Organization",
        "id": "o1",
        "telecom": [{"system": "phone", "value": "1"}],
    }
    assert c.encode(organization) is None
    assert c.encode({"resourceType": "Patient", "id": "p2", "name": [{"family": "Li"}]}) is None
    assert c.encode(patient(identifier=[{"system": RESIDENT_ID_SYSTEM, "value": 42}], telecom=[])) is None


def test_encryption_is_randomised_and_round_trips() -> None:
    c = codec()
    first, second = c.encode(patient()), c.encode(patient())
    assert first is not None and second is not None and first != second
    assert orjson.loads(c.decode("Patient", first)) == patient()


def test_decode_leaves_plain_content_untouched_and_unparsed() -> None:
    plain = orjson.dumps(patient())
    assert codec().decode("Patient", plain) is plain
    assert codec().decode("Observation", b"enc:v1: not json") == b"enc:v1: not json"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b["identifier"][1].update(value=b["identifier"][1]["value"][:-2] + "AA"),
        lambda b: b.update(id="p2"),  # copied into another resource
        lambda b: b["telecom"][1].update(value=b["identifier"][1]["value"]),  # moved to another element
        lambda b: b["identifier"][1].update(value=b["identifier"][1]["value"].replace("k1", "k2", 1)),
        lambda b: b["identifier"][1].update(value="enc:v1:k1:%%%"),
    ],
)
def test_tampered_values_are_refused_with_an_exception_outcome(tamper: Any) -> None:
    c = codec(("k1", K1), ("k2", K2))
    at_rest = stored(c, patient())
    tamper(at_rest)
    with pytest.raises(OutcomeError) as err:
        c.decode("Patient", orjson.dumps(at_rest))
    assert err.value.kind is Outcome.SERVER_ERROR and err.value.issues[0].code is IssueType.EXCEPTION
    assert RESIDENT_ID not in err.value.issues[0].diagnostics


def test_an_unconfigured_key_id_is_named() -> None:
    at_rest = codec(("old", K1)).encode(patient())
    assert at_rest is not None
    with pytest.raises(OutcomeError, match="names key 'old', which is not configured"):
        codec(("new", K2)).decode("Patient", at_rest)


def test_search_rows_hold_keyed_hashes_of_protected_values_only() -> None:
    c = codec()
    body = patient()
    body["identifier"][1]["type"] = {"coding": [{"system": "urn:types", "code": "RI"}]}
    rows = [v for v in c.index_values(body, index_values(body)) if isinstance(v, TokenValue)]
    codes = {(v.param, v.code) for v in rows}
    assert ("identifier", c.hash(f"id|{RESIDENT_ID_SYSTEM}", RESIDENT_ID)) in codes
    assert ("phone", c.hash("tel", MOBILE)) in codes and ("telecom", c.hash("tel", MOBILE)) in codes
    assert ("identifier:of-type", f"RI|{c.hash('any', RESIDENT_ID)}") in codes
    assert ("identifier", "000123") in codes and ("email", "a@b.cn") in codes
    assert not any(v.code and (RESIDENT_ID in v.code or MOBILE in v.code) for v in rows)


def test_hashes_depend_on_the_key_and_the_system() -> None:
    a, b = codec(), IdentifierCodec(Keyring((("k1", K1),), K2))
    assert a.hash("tel", MOBILE) != b.hash("tel", MOBILE)
    assert a.hash("id|urn:a", "1") != a.hash("id|urn:b", "1")
    assert a.hash("tel", MOBILE) == codec(("k9", K2)).hash("tel", MOBILE)  # data keys do not matter


def test_token_queries_are_rewritten_to_the_hash() -> None:
    c = codec()
    (cond,) = parse_criteria("Patient", f"identifier={RESIDENT_ID_SYSTEM}|{RESIDENT_ID}")
    assert c.query(cond).values == (  # type: ignore[union-attr]
        TokenQuery(RESIDENT_ID_SYSTEM, c.hash(f"id|{RESIDENT_ID_SYSTEM}", RESIDENT_ID)),
    )
    (bare,) = parse_criteria("Patient", f"identifier={RESIDENT_ID}")
    assert c.query(bare).values == (  # type: ignore[union-attr]
        TokenQuery(None, RESIDENT_ID),
        TokenQuery(None, c.hash(f"id|{RESIDENT_ID_SYSTEM}", RESIDENT_ID)),
    )
    (phone,) = parse_criteria("Patient", f"phone={MOBILE}")
    assert [v.code for v in c.query(phone).values] == [MOBILE, c.hash("tel", MOBILE)]  # type: ignore[union-attr]
    (chain,) = parse_criteria("Encounter", f"subject:Patient.identifier={RESIDENT_ID}")
    assert len(c.query(chain).inner.values) == 2  # type: ignore[union-attr]
    (family,) = parse_criteria("Patient", "family=Wang")
    assert c.query(family) is family
    (other_system,) = parse_criteria("Patient", "identifier=urn:yilian:mrn:qx|000123")
    assert c.query(other_system) is other_system


def test_stale_means_plaintext_or_a_non_primary_key() -> None:
    old, new = codec(("k1", K1)), codec(("k2", K2), ("k1", K1))
    under_k1 = old.encode(patient())
    assert under_k1 is not None
    assert new.stale("Patient", under_k1) and not old.stale("Patient", under_k1)
    assert new.stale("Patient", orjson.dumps(patient()))
    assert not new.stale("Patient", orjson.dumps({"resourceType": "Patient", "id": "x"}))
    assert not new.stale("Patient", b"")


def test_start_up_check_names_missing_keys() -> None:
    c = codec(("k2", K2))
    c.check([KeyUse("data", "k2"), KeyUse("hmac", c.keyring.hmac_id)])
    with pytest.raises(KeyConfigurationError, match="k1"):
        c.check([KeyUse("data", "k1")])
    with pytest.raises(KeyConfigurationError, match="rotate --hmac"):
        c.check([KeyUse("hmac", "h-0000")])
    PLAIN.check([KeyUse("hmac", "h-0000")])
    with pytest.raises(KeyConfigurationError, match="no encryption keys are configured"):
        PLAIN.check([KeyUse("data", "k1")])


def test_keyring_parsing(tmp_path: Path) -> None:
    k1, k2, h = generate_key(), generate_key(), generate_key()
    ring = load_keyring(f"k2:{k2}, k1:{k1}", h)
    assert ring is not None and ring.ids == ("k2", "k1") and ring.primary_id == "k2"
    urlsafe = base64.urlsafe_b64encode(b"\xff" * 32).decode().rstrip("=")
    assert load_keyring(f"u:{urlsafe}", h) is not None
    assert load_keyring("", "") is None
    key_file = tmp_path / "keys.toml"
    key_file.write_text(key_file_text(ring), encoding="utf-8")
    assert load_keyring("", "", str(key_file)) == ring
    for keys, mac, message in [
        (f"k1:{k1}", "", "hmac_key is not"),
        ("", h, "encryption_keys is not"),
        ("k1", h, "id:BASE64"),
        ("k1:not base64!", h, "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", h, "32 bytes"),
        (f"k1:{k1},k1:{k2}", h, "twice"),
        (f"bad:id:{k1}", h, "not valid base64"),
        (f"k 1:{k1}", h, "letters, digits"),
    ]:
        with pytest.raises(KeyringError, match=message):
            load_keyring(keys, mac)
    with pytest.raises(KeyringError, match="does not exist"):
        load_keyring("", "", str(tmp_path / "missing.toml"))
    assert "k2" in repr(ring) and repr(base64.b64decode(k1)) not in repr(ring)  # ids, never keys
