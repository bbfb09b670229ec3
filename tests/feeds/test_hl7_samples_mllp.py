"""Every open HL7 v2 sample under ../shared/data sent over MLLP to a real server, on both
backends: each is answered; what the ACK accepts is stored and kept as stored in the feed
log, what it refuses is kept with its error, and the listener never stops answering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from tests.feeds.feed_server import feed_server, mllp_send

from yilian.store.factory import open_repository
from yilian.store.feed_log import FeedMessageQuery

pytestmark = pytest.mark.shared_data


def _code(ack: bytes) -> str:
    msa = next(s for s in ack.split(b"\r") if s.startswith(b"MSA"))
    return msa.split(b"|")[1].decode()


def test_the_open_samples_over_mllp(store_url: str, shared_data: Path) -> None:
    samples = sorted((shared_data / "hl7v2-samples").glob("*.hl7"))
    assert len(samples) > 100
    with feed_server(store_url, hl7_default_institution="county-hospital") as server:
        codes = {path.name: _code(mllp_send(server.mllp_port, path.read_bytes())[0]) for path in samples}
        [alive] = mllp_send(server.mllp_port, samples[0].read_bytes())  # a re-send: answered from the log
        assert _code(alive) == codes[samples[0].name]

    async def kept() -> list[Any]:
        repo = open_repository(store_url)
        await repo.open()
        try:
            return await repo.search_feed_messages(FeedMessageQuery(limit=1000))
        finally:
            await repo.close()

    log = anyio.run(kept)
    by_code = {c: sum(1 for v in codes.values() if v == c) for c in set(codes.values())}
    assert set(by_code) <= {"AA", "AE", "AR"}, by_code
    assert by_code.get("AA", 0) >= 40 and by_code.get("AR", 0) >= 80, by_code
    statuses = {"AA": "stored", "AE": "error", "AR": "rejected"}
    assert sorted(statuses[c] for c in codes.values()) == sorted(m.status for m in log)  # each kept once
    assert sum(1 for m in log if m.status == "stored") == by_code.get("AA", 0)
    assert all(m.error for m in log if m.status != "stored")
    assert all(m.resources for m in log if m.status == "stored")
