"""What other HL7 v2 stacks (HAPI, nHapi, Mirth, public-health senders) send and a lenient
receiver accepts: messages that are unusual but readable are stored, the ACK still answers
in the sender's version with its control id; only what truly lacks an identity is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
import pytest
from tests.ingest.hl7.conftest import OPTIONS, PID, Alliance, message, msh

from yilian.alliance.identifiers import filler_system, order_system, result_system
from yilian.ingest.hl7 import Hl7Error, ack, decode, parse, split, to_bundle

NOW = datetime(2024, 3, 5, 8, 30, tzinfo=UTC)
ORU_NO_ACCESSION = message(
    msh("ORU^R01^ORU_R01", "LAB7", version="2.5.1"),
    PID,
    "ORC|RE|O77^QXXRMYY",
    "OBR|1|O77^QXXRMYY||24331-1^血脂^LN|||20240305090000|||||||||||||||20240305100000|||F",
    "OBX|1|NM|2093-3^总胆固醇^LN||5.6|mmol/L^mmol/L^UCUM|3.0-5.2|H|||F",
    "OBX|2|NM|2571-8^甘油三酯^LN||1.2|mmol/L^mmol/L^UCUM|||||F",
)


def _read(text: str) -> list[str]:
    """The bundle's resource types after the whole decode/split/parse/map chain."""
    mapped = to_bundle(parse(split(decode(text.encode())).messages[0]), "county-hospital", OPTIONS)
    return [e["resource"]["resourceType"] for e in mapped.bundle["entry"]]


@pytest.mark.anyio
async def test_an_admission_without_a_visit_number_stores_the_patient(alliance: Alliance) -> None:
    text = message(msh(), "EVN|A01|20240305083000", PID, "PV1|1|I|NEI^^^QXXRMYY")
    mapped = to_bundle(parse(text), "county-hospital", OPTIONS)
    assert [e["resource"]["resourceType"] for e in mapped.bundle["entry"]] == ["Patient"]
    assert any(w.startswith("PV1-19:") for w in mapped.warnings)
    await alliance.send(text)
    [patient] = await alliance.search("Patient")
    assert patient["name"][0]["text"] == "张三"
    assert await alliance.search("Encounter") == []


def test_an_admission_without_any_pv1_is_the_patient_alone() -> None:
    mapped = to_bundle(parse(message(msh("ADT^A04^ADT_A01"), PID)), "county-hospital", OPTIONS)
    assert [e["resource"]["resourceType"] for e in mapped.bundle["entry"]] == ["Patient"]
    assert any(w.startswith("PV1:") for w in mapped.warnings)


@pytest.mark.anyio
async def test_a_report_against_the_placer_number_only(alliance: Alliance) -> None:
    response = await alliance.send(ORU_NO_ACCESSION)
    assert response.body is not None and response.body["type"] == "transaction-response"
    [report] = await alliance.search("DiagnosticReport")
    assert [(i["system"], i["value"]) for i in report["identifier"]] == [
        (order_system("county-hospital"), "O77")
    ]
    observations = await alliance.search("Observation")
    assert sorted(o["identifier"][0]["value"] for o in observations) == ["order/O77-1", "order/O77-2"]
    assert {o["identifier"][0]["system"] for o in observations} == {result_system("county-hospital")}
    await alliance.send(ORU_NO_ACCESSION)  # a resend finds the same report again
    assert len(await alliance.search("DiagnosticReport")) == 1
    assert len(await alliance.search("Observation")) == 2


def test_a_placer_keyed_report_never_meets_an_accession_of_the_same_number() -> None:
    with_accession = ORU_NO_ACCESSION.replace("ORC|RE|O77^QXXRMYY", "ORC|RE||O77^QXXRMYY").replace(
        "OBR|1|O77^QXXRMYY||", "OBR|1||O77^QXXRMYY|"
    )

    def keys(text: str) -> set[tuple[str, str, str]]:
        entries = to_bundle(parse(text), "county-hospital", OPTIONS).bundle["entry"]
        return {
            (
                e["resource"]["resourceType"],
                e["resource"]["identifier"][0]["system"],
                e["resource"]["identifier"][0]["value"],
            )
            for e in entries
            if e["resource"]["resourceType"] in ("DiagnosticReport", "Observation")
        }

    by_accession = keys(with_accession)
    assert ("DiagnosticReport", filler_system("county-hospital"), "O77") in by_accession
    assert ("Observation", result_system("county-hospital"), "O77-1") in by_accession
    assert not keys(ORU_NO_ACCESSION) & by_accession


def test_a_report_with_no_order_number_at_all_is_refused() -> None:
    text = ORU_NO_ACCESSION.replace("ORC|RE|O77^QXXRMYY", "ORC|RE").replace("OBR|1|O77^QXXRMYY|", "OBR|1||")
    with pytest.raises(Hl7Error) as caught:
        to_bundle(parse(text), "county-hospital", OPTIONS)
    assert (caught.value.ack_code, caught.value.condition, caught.value.location) == ("AE", "101", "OBR-3")


def test_an_escape_character_written_twice_in_msh2() -> None:
    text = message(
        msh().replace("^~\\&", "^~\\\\&"),
        "PID|1||12345^^^QXXRMYY&1.2.156.1&ISO^MR||张^三||19880315|M",
        "PV1|1|I|NEI||||||||||||||||V9",
    )
    parsed = parse(text)
    assert parsed.header.encoding_characters == "^~\\&"
    pid = parsed.segment("PID")
    assert pid is not None and pid.get(3, 4, 2) == "1.2.156.1"  # & is the subcomponent separator again
    assert _read(text) == ["Patient", "Encounter"]


@pytest.mark.parametrize("version", ["2.8.1", "2.8.2", "2.9"])
def test_later_versions_are_read_and_answered_in_their_own_version(version: str) -> None:
    text = message(msh("ADT^A31^ADT_A05", "V1", version=version), PID)
    parsed = parse(text)
    answer = hl7.parse(ack(parsed.header, "AA", None, control_id="A1", now=NOW))
    assert str(answer.segment("MSH")[12]) == version
    assert str(answer.segment("MSA")[2]) == "V1"


def test_version_22_is_refused_in_version_22() -> None:
    with pytest.raises(Hl7Error) as caught:
        parse(message(msh(version="2.2", control="OLD1"), PID))
    error = caught.value
    assert (error.ack_code, error.condition) == ("AR", "203")
    answer = hl7.parse(ack(error.header, "AR", error, control_id="A1", now=NOW))
    assert str(answer.segment("MSH")[12]) == "2.2" and str(answer.segment("MSA")[2]) == "OLD1"


def test_an_unknown_charset_on_an_ascii_message_is_read() -> None:
    ascii_pid = "PID|1||12345^^^QXXRMYY^MR||ZHANG^SAN||19880315|M"
    text = decode(message(msh(charset="ENG"), ascii_pid, "PV1|1|O").encode("ascii"))
    assert parse(text).header.charset == "ENG"
    assert _read(text) == ["Patient"]


def test_plain_unicode_in_msh18_is_utf8() -> None:
    raw = message(msh(charset="UNICODE"), PID).encode("utf-8")
    assert "张^三" in decode(raw)


def test_the_ack_to_a_message_with_unusable_delimiters_is_readable() -> None:
    text = message(msh().replace("^~\\&", "&&&&"), PID)
    with pytest.raises(Hl7Error) as caught:
        parse(text)
    error = caught.value
    assert (error.ack_code, error.condition, error.location) == ("AR", "102", "MSH-2")
    answer = ack(error.header, "AR", error, control_id="A1", now=NOW)
    assert answer.startswith("MSH|^~\\&|")
    parsed = hl7.parse(answer)
    assert str(parsed.segment("MSA")[1]) == "AR" and str(parsed.segment("MSA")[2]) == "MSG1"
    assert str(parsed.segment("MSH")[12]) == "2.4"


@pytest.mark.anyio
async def test_two_panels_under_one_accession_are_two_reports(alliance: Alliance) -> None:
    text = message(
        msh("ORU^R01^ORU_R01", "LAB8", version="2.5.1"),
        PID,
        "ORC|RE|O80|F80",
        "OBR|1|O80|F80|24331-1^血脂^LN|||20240305090000||||||||||||||||||F",
        "OBX|1|NM|2093-3^总胆固醇^LN||5.6|mmol/L^mmol/L^UCUM|||||F",
        "ORC|RE|O80|F80",
        "OBR|2|O80|F80|24362-6^肾功能^LN|||20240305090000||||||||||||||||||F",
        "OBX|1|NM|2160-0^肌酐^LN||80|umol/L^umol/L^UCUM|||||F",
    )
    await alliance.send(text)
    reports = await alliance.search("DiagnosticReport")
    assert sorted(r["identifier"][0]["value"] for r in reports) == ["F80/1", "F80/2"]
    observations = await alliance.search("Observation")
    assert sorted(o["code"]["coding"][0]["code"] for o in observations) == ["2093-3", "2160-0"]
    assert len(await alliance.search("ServiceRequest")) == 1  # one order, two panels reported
