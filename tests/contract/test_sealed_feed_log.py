"""The feed log's message bytes and ACKs sealed at rest when encryption keys are configured, on
both backends: the stored columns (read by direct SQL) hold neither the resident ID nor the
name, every read path returns the exact bytes received, plaintext rows from before keys still
read, a key rotation re-seals them so the old key can go, and a wrong key is refused."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from tests.contract.test_encrypted_identifiers import execute, opened

from yilian.fhir.outcome import OutcomeError
from yilian.privacy.encryption import IdentifierCodec
from yilian.privacy.keyring import Keyring
from yilian.store.codec import SEALED_PREFIX, KeyConfigurationError
from yilian.store.feed_log import FeedMessage, FeedMessageQuery
from yilian.store.sql.repository import SqlRepository

pytestmark = pytest.mark.anyio

RESIDENT_ID = "330127198803154417"
NAME = "王小明"
K1, K2, H1 = (bytes([n]) * 32 for n in (5, 6, 7))
_RAW = (
    "MSH|^~\\&|HIS|QXXRMYY|YILIAN|ALLIANCE|20261204083000||ADT^A01|{n}|P|2.4|||||CHN|GB 18030-2000\r"
    "PID|||12345^^^QXXRMYY^MR~" + RESIDENT_ID + "^^^^NNCHN||王^小明||19880315|M|||||13912345678\r"
)


def codec(*keys: tuple[str, bytes]) -> IdentifierCodec:
    return IdentifierCodec(Keyring(tuple(keys), H1))


def message(n: int) -> FeedMessage:
    return FeedMessage(
        id=f"m{n}",
        received=f"2026-12-04T08:0{n}:00.000000+00:00",
        updated=f"2026-12-04T08:0{n}:00.000000+00:00",
        channel="mllp",
        peer="10.0.0.7:50211",
        sending_application="HIS",
        sending_facility="QXXRMYY",
        control_id=str(n),
        message_type="ADT^A01",
        version="2.4",
        institution="county-hospital",
        status="stored",
        ack_code="AA",
        error="",
        raw=_RAW.format(n=n).encode("gb18030"),  # the name is GBK bytes, as the sender sent it
        ack=f"MSH|^~\\&|YILIAN\rMSA|AA|{n}\rERR|||PID-3 {RESIDENT_ID}\r".encode(),
        resources=("Patient/p1",),
    )


def stored_columns(url: str) -> dict[str, tuple[bytes, bytes]]:
    """The raw and ack columns as the database holds them (test-side direct SQL)."""
    rows = execute(url, "SELECT id, raw, ack FROM feed_message")
    return {str(r[0]): (bytes(r[1]), bytes(r[2])) for r in rows}  # type: ignore[arg-type]


def leaks(stored: bytes) -> bool:
    return any(s in stored for s in (RESIDENT_ID.encode(), NAME.encode(), "王".encode("gb18030")))


@pytest.fixture
async def sealed_repo(store_url: str) -> AsyncIterator[SqlRepository]:
    repo = await opened(store_url, codec=codec(("k1", K1)))
    try:
        yield repo
    finally:
        await repo.close()


async def test_stored_bytes_hide_the_patient_and_every_read_returns_them_exact(
    sealed_repo: SqlRepository, store_url: str
) -> None:
    sent = [message(1), message(2)]
    for m in sent:
        await sealed_repo.save_feed_message(m)
    at_rest = stored_columns(store_url)
    assert len(at_rest) == 2
    for raw, ack in at_rest.values():
        assert raw.startswith(SEALED_PREFIX + b"k1:") and ack.startswith(SEALED_PREFIX + b"k1:")
        assert not leaks(raw) and not leaks(ack)
    assert await sealed_repo.load_feed_message("m1") == sent[0]
    assert (await sealed_repo.find_feed_messages("QXXRMYY", "2")) == [sent[1]]
    assert await sealed_repo.search_feed_messages(FeedMessageQuery()) == [sent[1], sent[0]]
    replayed = dataclasses.replace(sent[0], attempts=2)  # a replay saves the row again
    await sealed_repo.save_feed_message(replayed)
    assert await sealed_repo.load_feed_message("m1") == replayed
    assert not leaks(stored_columns(store_url)["m1"][0])


async def test_plaintext_rows_from_before_keys_read_and_rotation_seals_them(store_url: str) -> None:
    plain = await opened(store_url)
    try:
        await plain.save_feed_message(message(1))
    finally:
        await plain.close()
    assert leaks(stored_columns(store_url)["m1"][0])
    keyed = await opened(store_url, codec=codec(("k1", K1)))
    try:
        assert await keyed.load_feed_message("m1") == message(1)
        await keyed.save_feed_message(message(2))  # new rows are sealed at once
        report = await keyed.recode()
        assert (report.feed_rows, report.feed_resealed) == (2, 1)
        assert await keyed.load_feed_message("m1") == message(1)
    finally:
        await keyed.close()
    assert not any(leaks(raw) or leaks(ack) for raw, ack in stored_columns(store_url).values())


async def test_rotation_reseals_under_the_new_key_and_the_old_one_can_go(
    sealed_repo: SqlRepository, store_url: str
) -> None:
    for n in (1, 2, 3):
        await sealed_repo.save_feed_message(message(n))
    await sealed_repo.close()
    rotating = await opened(store_url, codec=codec(("k2", K2), ("k1", K1)))
    try:
        seen: list[tuple[str, int, int]] = []
        first = await rotating.recode(batch_size=2, progress=lambda t, d, n: seen.append((t, d, n)))
        assert (first.feed_rows, first.feed_resealed, first.retired) == (3, 3, ("k1",))
        assert ("feed_message", 2, 3) in seen and ("feed_message", 3, 3) in seen
        again = await rotating.recode()
        assert (again.feed_rows, again.feed_resealed) == (3, 0)  # idempotent
    finally:
        await rotating.close()
    assert all(
        raw.startswith(SEALED_PREFIX + b"k2:") and ack.startswith(SEALED_PREFIX + b"k2:")
        for raw, ack in stored_columns(store_url).values()
    )
    after = await opened(store_url, codec=codec(("k2", K2)))  # k1 is gone from the config
    try:
        assert await after.load_feed_message("m3") == message(3)
    finally:
        await after.close()


async def test_a_missing_or_wrong_key_is_refused_clearly(sealed_repo: SqlRepository, store_url: str) -> None:
    await sealed_repo.save_feed_message(message(1))
    await sealed_repo.close()
    with pytest.raises(KeyConfigurationError, match="k1"):  # the start-up check, as for resources
        await opened(store_url, codec=codec(("k2", K2)))
    with pytest.raises(KeyConfigurationError, match="no encryption keys are configured"):
        await opened(store_url)
    for wrong, why in ((codec(("k1", K2)), "integrity check"), (None, "no encryption keys")):
        repo = await opened(store_url, check_keys=False, **({"codec": wrong} if wrong else {}))
        try:
            with pytest.raises(OutcomeError, match=why) as err:
                await repo.load_feed_message("m1")
            assert "feed_message/m1/" in str(err.value)
        finally:
            await repo.close()


async def test_sealed_bytes_moved_to_another_row_do_not_open(
    sealed_repo: SqlRepository, store_url: str
) -> None:
    for n in (1, 2):
        await sealed_repo.save_feed_message(message(n))
    raw_of_m1 = stored_columns(store_url)["m1"][0]
    execute(store_url, "UPDATE feed_message SET raw = ? WHERE id = 'm2'", (raw_of_m1,))
    with pytest.raises(OutcomeError, match="feed_message/m2/raw"):
        await sealed_repo.load_feed_message("m2")
    assert await sealed_repo.load_feed_message("m1") == message(1)
