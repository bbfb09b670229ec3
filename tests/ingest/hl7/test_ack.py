"""ACK and batch ACK formats, per HL7 version."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import hl7
import pytest
from tests.ingest.hl7.conftest import PID, message, msh

from yilian.ingest.hl7 import Hl7Error, ack, batch_ack, decode, parse, split

NOW = datetime(2024, 3, 5, 9, 0, 0, tzinfo=timezone(timedelta(hours=8)))


def segments(text: str) -> list[list[str]]:
    assert text.endswith("\r") and "\n" not in text
    return [line.split("|") for line in text[:-1].split("\r")]


def header_of(version: str, charset: str = "") -> object:
    return parse(message(msh(version=version, charset=charset), PID)).header


def test_accept_swaps_sender_and_receiver_and_echoes_the_control_id() -> None:
    text = ack(header_of("2.4", "UNICODE UTF-8"), "AA", None, control_id="ACK1", now=NOW)  # type: ignore[arg-type]
    msh_, msa = segments(text)
    assert msh_[1] == "^~\\&" and msh_[2:6] == ["YILIAN", "YILIAN", "HIS", "QXXRMYY"]
    assert msh_[6] == "20240305090000+0800" and msh_[8] == "ACK^A01^ACK" and msh_[9] == "ACK1"
    assert msh_[11] == "2.4" and msh_[17] == "UNICODE UTF-8"
    assert msa == ["MSA", "AA", "MSG1"]
    parsed = hl7.parse(text)  # a real HL7 message
    assert str(parsed.segment("MSA")[2]) == "MSG1"


def test_v25_error_uses_err_2_3_4_8() -> None:
    error = Hl7Error.content("102", "PID-7 '1988-03-15' is not a valid HL7 date", "PID-7")
    _, msa, err = segments(ack(header_of("2.5.1"), "AE", error, control_id="A2", now=NOW))  # type: ignore[arg-type]
    assert msa == ["MSA", "AE", "MSG1"]
    assert (
        err[1] == "" and err[2] == "PID^1^7^1" and err[3] == "102^Data type error^HL70357" and err[4] == "E"
    )
    assert err[8] == "PID-7 '1988-03-15' is not a valid HL7 date"


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4"])
def test_older_versions_use_err_1_and_msa_3(version: str) -> None:
    error = Hl7Error.reject("203", "HL7 version x is not supported", "MSH-12")
    msh_, msa, err = segments(ack(header_of(version), "AR", error, control_id="A3", now=NOW))  # type: ignore[arg-type]
    assert msh_[8] == ("ACK^A01" if version == "2.3" else "ACK^A01^ACK") and msh_[11] == version
    assert msa[:4] == ["MSA", "AR", "MSG1", "HL7 version x is not supported"]
    assert msa[6] == "203^Unsupported version id^HL70357"
    assert err == ["ERR", "MSH^1^12^203&Unsupported version id&HL70357"]


def test_error_text_is_escaped_and_chinese_kept() -> None:
    error = Hl7Error.content("101", "患者|姓名^缺失 & more~", "PID-5")
    text = ack(header_of("2.5"), "AE", error, control_id="A4", now=NOW)  # type: ignore[arg-type]
    err = segments(text)[2]
    assert err[8] == "患者\\F\\姓名\\S\\缺失 \\T\\ more\\R\\"
    assert hl7.parse(text).segment("ERR").extract_field(1, 8) == "患者|姓名^缺失 & more~"


def test_ack_without_a_header_and_from_an_error_header() -> None:
    bad = message(msh(charset="UNICODE UTF-8"), PID).encode("gbk")
    with pytest.raises(Hl7Error) as caught:
        decode(bad)
    text = ack(caught.value.header, "AR", caught.value, control_id="A5", now=NOW)
    msh_, msa, _ = segments(text)
    assert msh_[4:6] == ["HIS", "QXXRMYY"] and msa[2] == "MSG1"
    anonymous = segments(ack(None, "AR", Hl7Error.reject("100", "no MSH", "MSH"), control_id="A6", now=NOW))
    assert (
        anonymous[0][8] == "ACK^^ACK"
        and anonymous[0][11] == "2.5.1"
        and anonymous[1][:3] == ["MSA", "AR", ""]
    )


def test_batch_ack_wraps_the_acks_and_answers_the_batch() -> None:
    one, two = message(msh(control="A1"), PID), message(msh(control="A2"), PID)
    text = (
        "FHS|^~\\&|HIS|QXXRMYY\rBHS|^~\\&|HIS|QXXRMYY|LIS|X|20240305||||B77\r" + one + two + "BTS|2\rFTS|1\r"
    )
    batch = split(text)
    acks = [
        ack(parse(m).header, "AA", None, control_id=f"R{i}", now=NOW) for i, m in enumerate(batch.messages)
    ]
    answer = batch_ack(batch.header, acks, control_id="BA1", now=NOW)
    lines = segments(answer)
    assert [line[0] for line in lines] == ["FHS", "BHS", "MSH", "MSA", "MSH", "MSA", "BTS", "FTS"]
    bhs = lines[1]
    assert bhs[2:6] == ["LIS", "X", "HIS", "QXXRMYY"] and bhs[10] == "BA1" and bhs[11] == "B77"
    assert lines[6] == ["BTS", "2"]
    reparsed = split(answer)
    assert [str(hl7.parse(m).segment("MSH")[10]) for m in reparsed.messages] == ["R0", "R1"]
