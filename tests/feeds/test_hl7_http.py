"""`POST /hl7v2`: the same intake over HTTP, with the FHIR API's bearer tokens."""

from __future__ import annotations

import httpx
from tests.feeds.feed_server import feed_server, msh
from tests.serving import auth_headers, dev_issuer

HL7 = {"Content-Type": "application/hl7-v2"}


def _a04(control_id: str, mrn: str, *, charset: str = "UNICODE UTF-8", facility: str = "QXXRMYY") -> str:
    return (
        "\r".join(
            [
                msh(control_id, "ADT^A04^ADT_A01", charset=charset, facility=facility),
                "EVN|A04|20261204090000",
                f"PID|1||{mrn}^^^{facility}^MR||张^三丰||19800101|M",
                f"PV1|1|O|内科||||||||||||||||MZ{mrn}|||||||||||||||||||||||||20261204090000",
            ]
        )
        + "\r"
    )


def test_a_message_over_http_is_stored_and_its_ack_returned(store_url: str) -> None:
    with feed_server(store_url) as server:
        r = httpx.post(
            f"{server.root}/hl7v2", content=_a04("h-1", "7001").encode(), headers={**HL7, **auth_headers()}
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/hl7-v2")
        assert b"MSA|AA|h-1" in r.content
        found = httpx.get(
            f"{server.fhir}/Patient", params={"identifier": "7001"}, headers=auth_headers()
        ).json()
        assert found["entry"][0]["resource"]["name"][0]["family"] == "张"


def test_a_gbk_message_is_decoded_and_answered_in_gbk(store_url: str) -> None:
    with feed_server(store_url) as server:
        body = _a04("h-2", "7002", charset="GBK").encode("gbk")
        r = httpx.post(f"{server.root}/hl7v2", content=body, headers={**HL7, **auth_headers()})
        assert b"MSA|AA|h-2" in r.content
        found = httpx.get(
            f"{server.fhir}/Patient", params={"identifier": "7002"}, headers=auth_headers()
        ).json()
        assert found["entry"][0]["resource"]["name"][0]["given"] == ["三丰"]


def test_http_refuses_what_is_not_a_message(store_url: str) -> None:
    with feed_server(store_url) as server:
        url = f"{server.root}/hl7v2"
        no_token = httpx.post(url, content=_a04("h-3", "7003").encode(), headers=HL7)
        assert no_token.status_code == 401
        wrong_type = httpx.post(
            url, content=b"{}", headers={"Content-Type": "application/json", **auth_headers()}
        )
        assert wrong_type.status_code == 415 and wrong_type.json()["resourceType"] == "OperationOutcome"
        garbage = httpx.post(url, content=b"\x00\x01 nothing", headers={**HL7, **auth_headers()})
        assert garbage.status_code == 400 and "HL7" in garbage.text
        alive = httpx.post(url, content=_a04("h-4", "7004").encode(), headers={**HL7, **auth_headers()})
        assert b"MSA|AA|h-4" in alive.content


def test_a_clinic_token_may_not_write_into_another_institution(store_url: str) -> None:
    """The access policy decides HL7 writes as it decides FHIR ones."""
    token = dev_issuer().issue("dongshan-thc", "records", "user/*.cruds", subject="dongshan-records")
    with feed_server(store_url) as server:
        r = httpx.post(
            f"{server.root}/hl7v2",
            content=_a04("h-5", "7005").encode(),  # QXXRMYY: the county hospital's facility
            headers={**HL7, "Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200 and b"MSA|AR|h-5" in r.content
        own = httpx.post(
            f"{server.root}/hl7v2",
            content=_a04("h-6", "7006", facility="DSZWSY").encode(),
            headers={**HL7, "Authorization": f"Bearer {token}"},
        )
        assert b"MSA|AA|h-6" in own.content
