"""The intake's answer when stored data, not the message or yilian, stands in the way: an
identifier two stored patients share is AE 205 (duplicate key identifier) for a person to
resolve, never AE 207 (application internal error), and nothing of the message is written."""

from __future__ import annotations

import hl7
import pytest
from tests.feeds.conftest import INSTITUTION, search

from yilian.feeds.hl7_intake import Hl7Intake, IntakeSettings
from yilian.router import FhirRouter

pytestmark = pytest.mark.anyio


def _adt(control_id: str, pid3: str, name: str, version: str = "2.5.1") -> bytes:
    segments = [
        f"MSH|^~\\&|HIS|QXXRMYY|YILIAN|YILIAN|20240305083000||ADT^A31^ADT_A05|{control_id}|P|{version}",
        "EVN|A31|20240305083000",
        f"PID|1||{pid3}||{name}||19880315|M",
    ]
    return ("\r".join(segments) + "\r").encode()


async def test_an_identifier_shared_by_two_stored_patients_is_ae_205(router: FhirRouter) -> None:
    intake = Hl7Intake(router.repository, router, IntakeSettings({"QXXRMYY": INSTITUTION}))
    for control_id, pid3 in (("C1", "A1^^^^MR~S9^^^^PI"), ("C2", "A2^^^^MR~S9^^^^PI")):
        first = await intake.receive(_adt(control_id, pid3, "张^三"), channel="test", peer="127.0.0.1")
        assert first.receipts[0].code == "AA"
    answer = await intake.receive(_adt("C3", "S9^^^^PI", "李^四", "2.3.1"), channel="test", peer="127.0.0.1")
    [receipt] = answer.receipts
    assert (receipt.code, receipt.status) == ("AE", "error")
    ack = hl7.parse(answer.ack.decode())
    assert str(ack.segment("MSA")[1]) == "AE" and str(ack.segment("MSA")[2]) == "C3"
    assert str(ack.segment("MSH")[12]) == "2.3.1"
    assert "205" in str(ack.segment("ERR")) and "207" not in str(ack.segment("ERR"))
    names = {p["name"][0]["text"] for p in await search(router, "Patient")}
    assert names == {"张三"}  # nothing of the refused message was written
