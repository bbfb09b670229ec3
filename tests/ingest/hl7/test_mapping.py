"""to_bundle without a store: identifiers, times, names and the errors it names."""

from __future__ import annotations

from typing import Any

import pytest
from tests.ingest.hl7.conftest import OPTIONS, PID, PV1, message, msh

from yilian.alliance.identifiers import RESIDENT_ID_SYSTEM, mrn_system, visit_system
from yilian.ingest.hl7 import Hl7Error, MappingOptions, parse, to_bundle


def resources(text: str, options: MappingOptions = OPTIONS) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in to_bundle(parse(text), "county-hospital", options).bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def test_identifier_systems_by_assigning_authority() -> None:
    pid = "PID|1||1^^^QXXRMYY^MR~2^^^OTHERHOSP^MR~3^^^^MR~330127198803154417^^^CHN^NNCHN~4^^^^SS||张^三"
    [patient] = resources(message(msh("ADT^A28^ADT_A05"), pid))["Patient"]
    systems = [(i["system"], i["value"], i.get("assigner", {}).get("display")) for i in patient["identifier"]]
    assert systems == [
        (mrn_system("county-hospital"), "1", "QXXRMYY"),
        ("urn:yilian:hl7:authority:OTHERHOSP", "2", "OTHERHOSP"),
        (mrn_system("county-hospital"), "3", None),
        (RESIDENT_ID_SYSTEM, "330127198803154417", "CHN"),
        ("urn:yilian:hl7:county-hospital:SS", "4", None),
    ]
    assert patient["identifier"][0]["type"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
        "code": "MR",
    }
    mapped = to_bundle(parse(message(msh("ADT^A28^ADT_A05"), pid)), "county-hospital", OPTIONS)
    assert mapped.bundle["entry"][0]["request"] == {
        "method": "PUT",
        "url": f"Patient?identifier={mrn_system('county-hospital')}|1",
    }
    assert mapped.summary == "ADT^A28: Patient"


def test_patient_demographics_and_chinese_text() -> None:
    found = resources(message(msh(), PID, PV1))
    [patient], [encounter] = found["Patient"], found["Encounter"]
    assert patient["name"] == [{"use": "official", "text": "张三", "family": "张", "given": ["三"]}]
    assert (patient["gender"], patient["birthDate"]) == ("male", "1988-03-15")
    assert patient["telecom"] == [{"system": "phone", "value": "13912345678", "use": "mobile"}]
    assert patient["address"][0]["text"] == "浙江省杭州市淳安县幸福路8号"
    assert patient["managingOrganization"] == {
        "identifier": {"system": "urn:yilian:institution", "value": "county-hospital"}
    }
    assert encounter["identifier"] == [{"system": visit_system("county-hospital"), "value": "V2024001"}]
    assert encounter["class"]["code"] == "IMP" and encounter["status"] == "in-progress"
    assert encounter["period"] == {"start": "2024-03-05T08:30:00+08:00"}
    assert encounter["serviceProvider"] == patient["managingOrganization"]


def test_timezone_option_and_explicit_offsets() -> None:
    text = message(msh(), PID, PV1)
    [encounter] = resources(text, MappingOptions(timezone="+00:00"))["Encounter"]
    assert encounter["period"]["start"] == "2024-03-05T08:30:00+00:00"
    [encounter] = resources(text.replace("20240305083000", "202403050830-0500"))["Encounter"]
    assert encounter["period"]["start"] == "2024-03-05T08:30:00-05:00"
    with pytest.raises(ValueError):
        MappingOptions(timezone="Asia/Shanghai")


def test_bad_optional_values_are_warnings() -> None:
    mapped = to_bundle(
        parse(message(msh(), PID.replace("19880315", "1988-03-15"), PV1)), "county-hospital", OPTIONS
    )
    patient = mapped.bundle["entry"][0]["resource"]
    assert "birthDate" not in patient
    assert mapped.warnings == ("PID-7: '1988-03-15' is not a valid HL7 date; left out",)


@pytest.mark.parametrize(
    ("segments", "condition", "location"),
    [
        ((msh(), "PID|1||||张^三", PV1), "101", "PID-3"),
        ((msh(), "EVN|A01"), "100", "PID"),
        ((msh("ADT^A40^ADT_A39"), PID), "100", "MRG"),
        ((msh("ORU^R01^ORU_R01"), PID, "OBR|1|||24331-1^x^LN"), "101", "OBR-3"),
        (
            (msh("ORU^R01^ORU_R01"), PID, "OBR|1|P1|F1|24331-1^x^LN", "OBX|1|NM|2093-3^x^LN||abc||||||F"),
            "102",
            "OBX-5",
        ),
        ((msh("ORU^R01^ORU_R01"), PID, "OBR|1|P1|F1|24331-1^x^LN", "OBX|1|NM|||5||||||F"), "101", "OBX-3"),
        ((msh("SIU^S12^SIU_S12"), PID, "SCH|1|2"), "101", "SCH-11"),
        ((msh("MDM^T02^MDM_T02"), PID, "TXA|1|DS|TX|20240305||||||||DOC1"), "101", "OBX-5"),
    ],
)
def test_missing_or_malformed_required_content_is_ae_with_its_location(
    segments: tuple[str, ...], condition: str, location: str
) -> None:
    with pytest.raises(Hl7Error) as caught:
        to_bundle(parse(message(*segments)), "county-hospital", OPTIONS)
    error = caught.value
    assert (error.ack_code, error.condition, error.location) == ("AE", condition, location)
    assert error.header is not None and error.header.control_id == "MSG1"


def test_document_and_appointment() -> None:
    mdm = message(
        msh("MDM^T02^MDM_T02"),
        PID,
        "TXA|1|DS|TX|20240305101500||||||||DOC1|||||AU||AV",
        "OBX|1|TX|x^出院小结||第一行~第二行",
    )
    [document] = resources(mdm)["DocumentReference"]
    assert document["status"] == "current" and document["docStatus"] == "final"
    assert document["date"] == "2024-03-05T10:15:00+08:00"
    import base64

    assert base64.b64decode(document["content"][0]["attachment"]["data"]).decode() == "第一行\n第二行"
    siu = message(msh("SIU^S12^SIU_S12"), "SCH|A1|B2|||||||||^^^20240306090000^20240306093000", PID)
    [appointment] = resources(siu)["Appointment"]
    assert (appointment["status"], appointment["start"], appointment["end"]) == (
        "booked",
        "2024-03-06T09:00:00+08:00",
        "2024-03-06T09:30:00+08:00",
    )
    assert appointment["identifier"][0]["value"] == "B2"
