"""HL7 v2 over a real MLLP socket into a real server, on both backends: a message is stored
and acknowledged, a re-sent one stores nothing twice, bad input is answered (never dropped,
never a crash) and the listener keeps serving."""

from __future__ import annotations

import socket
import threading

import anyio
import httpx
import pytest
from tests.contract.test_encrypted_identifiers import execute
from tests.feeds.feed_server import feed_server, mllp_send, msh
from tests.serving import auth_headers

from yilian.privacy.encryption import IdentifierCodec
from yilian.privacy.keyring import Keyring
from yilian.store.factory import open_repository
from yilian.store.feed_log import FeedMessage, FeedMessageQuery
from yilian.transports.mllp import END_BLOCK, frame


def adt_a01(
    control_id: str, mrn: str = "100234", *, name: str = "王^小明", facility: str = "QXXRMYY"
) -> bytes:
    segments = [
        msh(control_id, facility=facility),
        "EVN|A01|20261204083000",
        f"PID|1||{mrn}^^^{facility}^MR~110105199003071234^^^CHN^NNCHN||{name}||19900307|M|||"
        "城关镇幸福路8号^^青溪县^浙江省^331121^CHN||^PRN^CP^^^^^13912345678",
        f"PV1|1|I|内科^301^1||||D001^李^医生||||||||||||ZY{mrn}01|||||||||||||||||||||||||20261204083000",
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")


def _ack_code(ack: bytes) -> str:
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA"):
            return segment.split(b"|")[1].decode()
    raise AssertionError(f"no MSA in {ack!r}")


def _patients(fhir: str, mrn: str) -> list[dict]:
    bundle = httpx.get(
        f"{fhir}/county-hospital/Patient", params={"identifier": mrn}, headers=auth_headers(), timeout=30
    ).json()
    return [e["resource"] for e in bundle.get("entry", [])]


def test_an_admission_is_stored_and_acknowledged(store_url: str) -> None:
    with feed_server(store_url) as server:
        [ack] = mllp_send(server.mllp_port, adt_a01("c-1"))
        assert _ack_code(ack) == "AA", ack
        assert b"MSA|AA|c-1" in ack
        [patient] = _patients(server.fhir, "100234")
        assert patient["name"][0]["family"] == "王"
        assert patient["birthDate"] == "1990-03-07" and patient["gender"] == "male"
        encounters = httpx.get(f"{server.fhir}/county-hospital/Encounter", headers=auth_headers()).json()
        [encounter] = [e["resource"] for e in encounters["entry"]]
        assert encounter["subject"]["reference"] == f"Patient/{patient['id']}"
        assert encounter["class"]["code"] == "IMP"


def test_the_same_message_twice_stores_nothing_twice(store_url: str) -> None:
    with feed_server(store_url) as server:
        first, second = mllp_send(server.mllp_port, adt_a01("c-2"), adt_a01("c-2"))
        assert _ack_code(first) == _ack_code(second) == "AA"
        [patient] = _patients(server.fhir, "100234")
        assert patient["meta"]["versionId"] == "1"


def test_with_encryption_the_kept_message_is_sealed_and_a_resend_still_recognised(store_url: str) -> None:
    keyed = IdentifierCodec(Keyring((("k1", b"\x01" * 32),), b"\x02" * 32))
    sent = adt_a01("c-enc")
    with feed_server(store_url, codec=keyed) as server:
        first, second = mllp_send(server.mllp_port, sent, sent)
        assert _ack_code(first) == _ack_code(second) == "AA"
        [patient] = _patients(server.fhir, "100234")
        assert patient["meta"]["versionId"] == "1"  # the re-sent bytes matched the sealed row

    async def kept() -> tuple[list[FeedMessage], list[bytes]]:
        repo = open_repository(store_url, codec=keyed)
        await repo.open()
        try:
            found = await repo.search_feed_messages(FeedMessageQuery())
        finally:
            await repo.close()
        rows = execute(store_url, "SELECT raw FROM feed_message")
        return found, [bytes(r[0]) for r in rows]  # type: ignore[arg-type]

    [message], [at_rest] = anyio.run(kept)
    assert message.raw == sent and message.deliveries == 2
    assert b"110105199003071234" not in at_rest and "王".encode() not in at_rest


def test_an_unmapped_facility_is_refused_and_the_listener_goes_on(store_url: str) -> None:
    with feed_server(store_url) as server:
        refused, accepted = mllp_send(
            server.mllp_port, adt_a01("c-3", "555", facility="NOWHERE"), adt_a01("c-4", "556")
        )
        assert _ack_code(refused) == "AR" and b"NOWHERE" in refused and b"ERR" in refused
        assert _ack_code(accepted) == "AA"
        assert _patients(server.fhir, "555") == [] and len(_patients(server.fhir, "556")) == 1


@pytest.mark.parametrize(
    "garbage",
    [b"\x00\x01\x02 not hl7 at all", b"PID|1||123\r", b"MSH|", "MSH|^~\\&|HIS|QXXRMYY|中文".encode("gbk")],
    ids=["bytes", "no-msh", "truncated-msh", "broken-header"],
)
def test_garbage_is_answered_and_the_listener_keeps_serving(store_url: str, garbage: bytes) -> None:
    with feed_server(store_url) as server:
        bad, good = mllp_send(server.mllp_port, garbage, adt_a01("c-5", "557"))
        assert _ack_code(bad) == "AR", bad
        assert _ack_code(good) == "AA"


def test_an_oversized_message_is_refused_and_others_still_connect(store_url: str) -> None:
    with feed_server(store_url, hl7_max_message_bytes=2048) as server:
        huge = adt_a01("c-6") + b"NTE|1||" + b"x" * 5000 + b"\r"
        with socket.create_connection(("127.0.0.1", server.mllp_port), timeout=30) as sock:
            sock.sendall(frame(huge))
            answer = b""
            while END_BLOCK not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert b"MSA|AR" in answer and b"2048" in answer
        [ack] = mllp_send(server.mllp_port, adt_a01("c-7", "558"))
        assert _ack_code(ack) == "AA"


def test_four_connections_at_once_lose_nothing(store_url: str) -> None:
    with feed_server(store_url) as server:
        results: dict[int, list[bytes]] = {}

        def sender(n: int) -> None:
            batch = [adt_a01(f"p{n}-{i}", f"9{n}{i:03d}") for i in range(15)]
            results[n] = mllp_send(server.mllp_port, *batch)

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert sorted(results) == [0, 1, 2, 3]
        assert all(_ack_code(a) == "AA" for acks in results.values() for a in acks)
        total = httpx.get(
            f"{server.fhir}/county-hospital/Patient", params={"_summary": "count"}, headers=auth_headers()
        ).json()["total"]
        assert total == 60


def test_a_reused_control_id_with_other_content_is_a_new_message(store_url: str) -> None:
    """Senders reset their counters (a restart): same control id, other bytes, still stored."""
    with feed_server(store_url) as server:
        first, second = mllp_send(server.mllp_port, adt_a01("c-9", "111"), adt_a01("c-9", "112"))
        assert _ack_code(first) == _ack_code(second) == "AA"
        assert len(_patients(server.fhir, "111")) == len(_patients(server.fhir, "112")) == 1


def test_a_batch_is_answered_with_a_batch_ack_and_each_message_stored(store_url: str) -> None:
    messages = b"".join(adt_a01(f"b-{n}", f"66{n}") for n in range(3))
    batch = (
        b"FHS|^~\\&|HIS|QXXRMYY|YILIAN|ALLIANCE|20261204083000||||f-1\r"
        b"BHS|^~\\&|HIS|QXXRMYY|YILIAN|ALLIANCE|20261204083000||||bh-1\r" + messages + b"BTS|3\rFTS|1\r"
    )
    with feed_server(store_url) as server:
        [answer] = mllp_send(server.mllp_port, batch)
        segments = [s for s in answer.split(b"\r") if s]
        assert segments[0].startswith((b"FHS", b"BHS")), answer
        assert [s.split(b"|")[1:3] for s in segments if s.startswith(b"MSA")] == [
            [b"AA", f"b-{n}".encode()] for n in range(3)
        ]
        assert all(len(_patients(server.fhir, f"66{n}")) == 1 for n in range(3))


def test_what_the_mapping_left_out_is_kept_beside_the_stored_message(store_url: str) -> None:
    message = adt_a01("w-1", "444").replace(b"ZY44401", b"")  # an admission without its visit number
    with feed_server(store_url) as server:
        [ack] = mllp_send(server.mllp_port, message)
        assert _ack_code(ack) == "AA" and len(_patients(server.fhir, "444")) == 1

    async def kept() -> list[FeedMessage]:
        repo = open_repository(store_url)
        await repo.open()
        try:
            return await repo.search_feed_messages(FeedMessageQuery(control_id="w-1"))
        finally:
            await repo.close()

    [row] = anyio.run(kept)
    assert row.status == "stored" and "PV1-19" in row.error, row.error


def test_a_gbk_batch_keeps_each_message_in_gbk(store_url: str) -> None:
    def gbk_message(n: int) -> bytes:
        text = adt_a01(f"g-{n}", f"55{n}", name="欧阳^娜").decode().replace("UNICODE UTF-8", "GBK")
        return text.encode("gbk")

    batch = b"BHS|^~\\&|HIS|QXXRMYY\r" + gbk_message(1) + gbk_message(2) + b"BTS|2\r"
    with feed_server(store_url) as server:
        [answer] = mllp_send(server.mllp_port, batch)
        assert answer.count(b"MSA|AA|") == 2, answer
        assert _patients(server.fhir, "551")[0]["name"][0]["family"] == "欧阳"

    async def kept() -> list[FeedMessage]:
        repo = open_repository(store_url)
        await repo.open()
        try:
            return await repo.search_feed_messages(FeedMessageQuery(control_id="g-2"))
        finally:
            await repo.close()

    [row] = anyio.run(kept)
    assert "欧阳^娜" in row.raw.decode("gbk") and row.raw.startswith(b"MSH")
