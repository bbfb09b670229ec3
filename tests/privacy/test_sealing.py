"""Sealing opaque bytes (the feed log's messages) with the identifier codec, without a database:
the envelope, its binding to the place named, plaintext from before keys, the key checks."""

from __future__ import annotations

import pytest

from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.privacy.encryption import IdentifierCodec
from yilian.privacy.keyring import Keyring
from yilian.store.codec import PLAIN, SEALED_PREFIX

K1, K2, H1 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
MESSAGE = "MSH|^~\\&|HIS|QX|||20261204||ADT^A01|1|P|2.4\rPID|||330127198803154417^^^^NNCHN||王^小明\r"
WHERE = "feed_message/m1/raw"


def codec(*keys: tuple[str, bytes]) -> IdentifierCodec:
    return IdentifierCodec(Keyring(tuple(keys) or (("k1", K1),), H1))


def test_sealed_bytes_hide_the_message_and_open_to_the_exact_bytes() -> None:
    data = MESSAGE.encode("gb18030")
    c = codec()
    sealed = c.seal(WHERE, data)
    assert sealed.startswith(SEALED_PREFIX + b"k1:")
    assert b"330127198803154417" not in sealed and "王".encode("gb18030") not in sealed
    assert c.seal(WHERE, data) != sealed  # a fresh nonce every time
    assert c.unseal(WHERE, sealed) == data
    assert c.unseal(WHERE, c.seal(WHERE, b"")) == b""


def test_bytes_stored_before_keys_read_as_they_are_and_are_stale() -> None:
    data = MESSAGE.encode()
    assert codec().unseal(WHERE, data) == data
    assert codec().sealed_stale(data)
    assert not codec().sealed_stale(codec().seal(WHERE, data))


def test_an_older_key_still_opens_and_makes_the_bytes_stale() -> None:
    old = codec(("k1", K1)).seal(WHERE, b"MSH|x")
    rotated = codec(("k2", K2), ("k1", K1))
    assert rotated.unseal(WHERE, old) == b"MSH|x"
    assert rotated.sealed_stale(old)
    assert not rotated.sealed_stale(rotated.seal(WHERE, b"MSH|x"))


@pytest.mark.parametrize(
    ("opener", "where", "why"),
    [
        (codec(("k2", K2)), WHERE, "name key 'k1', which is not configured"),
        (codec(("k1", K2)), WHERE, "integrity check"),  # same id, another key
        (codec(), "feed_message/m2/raw", "integrity check"),  # moved to another row
        (codec(), "feed_message/m1/ack", "integrity check"),  # moved to another column
    ],
)
def test_bytes_that_cannot_be_opened_are_refused_naming_the_place(
    opener: IdentifierCodec, where: str, why: str
) -> None:
    sealed = codec().seal(WHERE, b"MSH|x")
    with pytest.raises(OutcomeError) as err:
        opener.unseal(where, sealed)
    assert err.value.kind is Outcome.SERVER_ERROR and err.value.issues[0].code is IssueType.EXCEPTION
    assert where in str(err.value) and why in str(err.value)


def test_a_flipped_byte_is_refused() -> None:
    sealed = bytearray(codec().seal(WHERE, b"MSH|x"))
    sealed[-1] ^= 1
    with pytest.raises(OutcomeError, match="integrity check"):
        codec().unseal(WHERE, bytes(sealed))


def test_the_plain_codec_stores_bytes_as_they_are_and_refuses_sealed_ones() -> None:
    assert PLAIN.seal(WHERE, b"MSH|x") == b"MSH|x" and PLAIN.unseal(WHERE, b"MSH|x") == b"MSH|x"
    assert not PLAIN.sealed_stale(b"MSH|x")
    with pytest.raises(OutcomeError, match="no encryption keys are configured"):
        PLAIN.unseal(WHERE, codec().seal(WHERE, b"MSH|x"))
