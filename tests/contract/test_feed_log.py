"""The feed log on every backend: a message is kept byte for byte with its fate, found by
its sender's control id (which a sender may reuse), counted when re-delivered, and searched
newest first by status, time, institution and type, page by page."""

from __future__ import annotations

import dataclasses

import pytest

from yilian.store.base import Repository
from yilian.store.feed_log import FeedMessage, FeedMessageQuery

pytestmark = pytest.mark.anyio

_RAW = (
    "MSH|^~\\&|HIS|QXXRMYY|YILIAN|ALLIANCE|20261204083000||ADT^A01|{n}|P|2.4\r"
    "PID|||12345^^^QXXRMYY^MR||王^小明\r"
)


def _message(n: int, **changes: object) -> FeedMessage:
    base = FeedMessage(
        id=f"m{n:03d}",
        received=f"2026-12-04T08:{n:02d}:00.000000+00:00",
        updated=f"2026-12-04T08:{n:02d}:00.000000+00:00",
        channel="mllp",
        peer="10.0.0.7:50211",
        sending_application="HIS",
        sending_facility="QXXRMYY",
        control_id=str(n),
        message_type="ADT^A01" if n % 2 else "ORU^R01",
        version="2.4",
        institution="county-hospital",
        status="stored" if n % 3 else "error",
        ack_code="AA" if n % 3 else "AE",
        error="" if n % 3 else "PID-7: 出生日期 '19xx' is not a date",
        raw=_RAW.format(n=n).encode("gb18030"),
        ack=b"MSH|^~\\&|YILIAN\rMSA|AA|1\r",
        resources=("Patient/p1", "Encounter/e1"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_a_message_is_kept_byte_for_byte_and_found_by_its_control_id(repo: Repository) -> None:
    message = _message(1)
    await repo.save_feed_message(message)
    assert await repo.load_feed_message("m001") == message
    assert await repo.find_feed_messages("QXXRMYY", "1") == [message]
    assert await repo.find_feed_messages("QXXRMYY", "2") == []
    assert await repo.find_feed_messages("OTHER", "1") == []
    reused = _message(1, id="m101", received="2026-12-05T00:00:00.000000+00:00", raw=b"MSH|other")
    await repo.save_feed_message(reused)  # a sender whose counter restarted
    assert [m.id for m in await repo.find_feed_messages("QXXRMYY", "1")] == ["m101", "m001"]
    assert (await repo.load_feed_message("m001")).raw.decode("gb18030").startswith("MSH")  # type: ignore[union-attr]


async def test_reprocessing_replaces_the_fate_and_keeps_the_first_arrival(repo: Repository) -> None:
    await repo.save_feed_message(_message(3))  # an error
    fixed = _message(3, status="stored", ack_code="AA", error="", updated="2026-12-05T00:00:00.000000+00:00",
                     attempts=2, received="2027-01-01T00:00:00.000000+00:00")  # fmt: skip
    await repo.save_feed_message(fixed)
    kept = await repo.load_feed_message("m003")
    assert kept is not None
    assert (kept.status, kept.attempts, kept.error) == ("stored", 2, "")
    assert kept.received == _message(3).received
    await repo.count_feed_delivery("m003", "2026-12-06T00:00:00.000000+00:00")
    again = await repo.load_feed_message("m003")
    assert again is not None and (again.deliveries, again.updated) == (2, "2026-12-06T00:00:00.000000+00:00")


async def test_search_by_status_time_type_and_pages(repo: Repository) -> None:
    for n in range(1, 13):
        await repo.save_feed_message(_message(n, institution="county-hospital" if n < 10 else "dongshan-thc"))
    everything = await repo.search_feed_messages(FeedMessageQuery(limit=100))
    assert [m.id for m in everything] == [f"m{n:03d}" for n in range(12, 0, -1)]
    errors = await repo.search_feed_messages(FeedMessageQuery(status=("error",)))
    assert sorted(m.id for m in errors) == ["m003", "m006", "m009", "m012"]
    since = await repo.search_feed_messages(FeedMessageQuery(since="2026-12-04T08:10:00.000000+00:00"))
    assert [m.id for m in since] == ["m012", "m011", "m010"]
    adt = await repo.search_feed_messages(FeedMessageQuery(message_type="ADT", limit=100))
    assert {m.message_type for m in adt} == {"ADT^A01"} and len(adt) == 6
    assert len(await repo.search_feed_messages(FeedMessageQuery(message_type="ORU^R01"))) == 6
    assert len(await repo.search_feed_messages(FeedMessageQuery(institution="dongshan-thc"))) == 3
    first = await repo.search_feed_messages(FeedMessageQuery(limit=5))
    second = await repo.search_feed_messages(
        FeedMessageQuery(limit=5, before=(first[-1].received, first[-1].id))
    )
    assert [m.id for m in first + second] == [f"m{n:03d}" for n in range(12, 2, -1)]
    chosen = await repo.search_feed_messages(FeedMessageQuery(ids=("m002", "m005")))
    assert [m.id for m in chosen] == ["m005", "m002"]
