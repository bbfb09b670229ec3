"""Every search parameter type, modifier and prefix against the hand-built sample
(http://hl7.org/fhir/R4/search.html).  Expected ids are read off `sample.py`."""

from __future__ import annotations

import pytest
from tests.contract.conftest import ids

from yilian.fhir.search.model import Criterion, SearchRequest, TokenQuery
from yilian.store.base import Repository, Scope

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # string: prefix on the normalised form, case and accents ignored
        ([("family", "zha")], {"p1"}),
        ([("family", "MULLER")], {"p3"}),
        ([("name", "wei")], {"p1"}),
        ([("name", "ei")], set()),
        ([("name:contains", "ei")], {"p1"}),
        ([("family:exact", "Zhang")], {"p1"}),
        ([("family:exact", "zhang")], set()),
        ([("address-city", "bei")], {"p1"}),
        ([("family", "zhang,li")], {"p1", "p2"}),  # OR
        ([("family", "zhang"), ("given", "wei")], {"p1"}),  # AND
        ([("family", "zhang"), ("given", "na")], set()),
        # token
        ([("gender", "male")], {"p1", "p3"}),
        ([("gender:not", "male")], {"p2"}),
        ([("identifier", "MRN-001")], {"p1"}),
        ([("identifier", "http://county-hospital.example/mrn|")], {"p1", "p2"}),
        ([("identifier", "http://county-hospital.example/mrn|MRN-002")], {"p2"}),
        ([("identifier", "urn:other|MRN-002")], set()),
        ([("identifier", "|MRN-002")], set()),
        ([("phone", "|13800000000")], {"p2"}),
        (
            [("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|NI|110101198005010011")],
            {"p1"},
        ),
        ([("active", "true")], {"p1", "p2"}),
        ([("identifier:missing", "true")], {"p3"}),
        ([("identifier:missing", "false")], {"p1", "p2"}),
        ([("_tag", "http://yilian.example/tags|vip")], {"p1"}),
        # date: the stored precision range against the query range
        ([("birthdate", "1980-05-01")], {"p1"}),
        ([("birthdate", "1980")], {"p1"}),
        ([("birthdate", "1975-06")], set()),  # 1975 is not inside June 1975
        ([("birthdate", "ne1980-05-01")], {"p2", "p3"}),
        ([("birthdate", "gt1980-05-01")], {"p2"}),
        ([("birthdate", "lt1980")], {"p3"}),
        ([("birthdate", "ge1980-05-01")], {"p1", "p2"}),
        ([("birthdate", "le1980-05-01")], {"p1", "p3"}),
        ([("birthdate", "sa1975")], {"p1", "p2"}),
        ([("birthdate", "eb1980")], {"p3"}),
        # ap widens by 10% of the gap to today (over 4 years since 2026): 1975 is near enough
        ([("birthdate", "ap1980-05-02")], {"p1", "p3"}),
        ([("birthdate", "ge1975-06-01"), ("birthdate", "le1980-12-31")], {"p1", "p3"}),
        ([("_id", "p1,p3")], {"p1", "p3"}),
        ([("_id:missing", "true")], set()),
    ],
)
async def test_patient_search(clinic: Repository, query: list[tuple[str, str]], expected: set[str]) -> None:
    assert await ids(clinic, "Patient", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("code", "http://loinc.org|8867-4")], {"o1", "o3"}),
        ([("code", "8480-6")], {"o2"}),
        ([("code:text", "heart")], {"o1", "o3"}),
        ([("code:not", "8867-4")], {"o2", "o4"}),
        ([("status", "final")], {"o1", "o2", "o4"}),
        # date: effectiveDateTime with zone and effectivePeriod
        ([("date", "2024-01-15")], {"o1"}),  # 08:30+08:00 is 00:30 UTC on the 15th
        ([("date", "2024-01-14")], set()),
        ([("date", "2023")], {"o3"}),
        ([("date", "ge2024-02-02")], {"o2", "o4"}),  # o4's period runs past the 2nd
        ([("date", "2024-02")], {"o4"}),
        ([("date", "sa2024-01-31")], {"o2", "o4"}),
        ([("date", "eb2024-01-01")], {"o3"}),
        # quantity: precision range, units, prefixes
        ([("value-quantity", "72")], {"o1"}),
        ([("value-quantity", "7.2e1")], {"o1"}),
        ([("value-quantity", "72||/min")], {"o1"}),
        ([("value-quantity", "72|http://unitsofmeasure.org|/min")], {"o1"}),
        ([("value-quantity", "72|http://unitsofmeasure.org|mm[Hg]")], set()),
        ([("value-quantity", "5.4||mmol/L")], {"o4"}),  # no system: the code matches the unit
        ([("value-quantity", "5")], {"o4"}),  # 5 covers [4.5, 5.5]
        ([("value-quantity", "5.0")], set()),
        ([("value-quantity", "gt80")], {"o2", "o3"}),
        ([("value-quantity", "lt80")], {"o1", "o4"}),
        ([("value-quantity", "ge88")], {"o2", "o3"}),
        ([("value-quantity", "le72")], {"o1", "o4"}),
        ([("value-quantity", "ne72")], {"o2", "o3", "o4"}),
        ([("value-quantity", "ap80")], {"o1", "o3"}),  # within 10%: [72, 88]
        ([("value-quantity:missing", "true")], set()),
        # reference: Type/id, bare id, :Type
        ([("subject", "Patient/p1")], {"o1", "o2"}),
        ([("subject", "p2")], {"o3"}),
        ([("subject:Patient", "p3")], {"o4"}),
        ([("patient", "p1")], {"o1", "o2"}),
        ([("encounter:missing", "true")], {"o2", "o3", "o4"}),
        # composite: code + value
        ([("code-value-quantity", "http://loinc.org|8867-4$gt80")], {"o3"}),
        ([("code-value-quantity", "8867-4$72")], {"o1"}),
        ([("code-value-quantity", "8480-6$72")], set()),
    ],
)
async def test_observation_search(
    clinic: Repository, query: list[tuple[str, str]], expected: set[str]
) -> None:
    assert await ids(clinic, "Observation", query) == expected


@pytest.mark.parametrize(
    ("rtype", "query", "expected"),
    [
        ("Encounter", [("date", "2024-01-15")], {"e1"}),
        ("Encounter", [("date", "2025")], set()),  # an open period is not inside 2025
        ("Encounter", [("date", "ge2025")], {"e2"}),  # but it runs past it
        ("Encounter", [("date", "lt2023-06-01")], set()),
        ("Encounter", [("class", "AMB")], {"e1"}),
        ("Condition", [("code", "http://hl7.org/fhir/sid/icd-10|E11.9")], {"c1"}),
        ("Condition", [("code:text", "type 2 diab")], {"c1"}),
        ("Condition", [("onset-date", "2015")], {"c1"}),
        ("MedicationRequest", [("code:text", "metformin")], {"m1"}),
        ("MedicationRequest", [("authoredon", "2024-01")], {"m1"}),
        ("RiskAssessment", [("probability", "0.25")], {"r1"}),
        ("RiskAssessment", [("probability", "gt0.5")], {"r2"}),
        ("RiskAssessment", [("probability", "le0.25")], {"r1"}),
        ("ValueSet", [("url", "http://yilian.example/fhir/ValueSet/diabetes")], {"vs1"}),
        ("ValueSet", [("url:below", "http://yilian.example/fhir/ValueSet/diabetes")], {"vs1", "vs2"}),
        (
            "ValueSet",
            [("url:above", "http://yilian.example/fhir/ValueSet/diabetes/type-2/v1")],
            {"vs1", "vs2"},
        ),
        ("ValueSet", [("url:above", "http://yilian.example/fhir/ValueSet/diabetes/x")], {"vs1"}),
        ("Organization", [("name", "township")], {"org2"}),
        ("Organization", [("partof", "Organization/org1")], {"org2"}),
        ("Patient", [("organization", "org1")], {"p2"}),
    ],
)
async def test_other_types(
    clinic: Repository, rtype: str, query: list[tuple[str, str]], expected: set[str]
) -> None:
    assert await ids(clinic, rtype, query) == expected


async def test_reference_identifier_modifier(fresh_clinic: Repository) -> None:
    clinic = fresh_clinic
    async with clinic.transaction() as s:
        await s.update(
            {
                "resourceType": "Observation",
                "id": "o9",
                "status": "final",
                "code": {"text": "note"},
                "subject": {
                    "identifier": {"system": "http://county-hospital.example/mrn", "value": "MRN-002"}
                },
            },
            "default",
            scope=Scope.everything(),
        )
    found = await ids(
        clinic, "Observation", [("subject:identifier", "http://county-hospital.example/mrn|MRN-002")]
    )
    assert found == {"o9"}
    assert await ids(clinic, "Observation", [("subject:identifier", "MRN-001")]) == set()


async def test_system_level_search_with_common_parameters(clinic: Repository) -> None:
    assert await ids(clinic, ["Patient", "Observation"], [("_id", "p1,o1,e1")]) == {"p1", "o1"}
    found = await ids(clinic, ["Patient", "Organization", "ValueSet"], [("_lastUpdated", "gt2000-01-01")])
    assert found == {"p1", "p2", "p3", "org1", "org2", "vs1", "vs2"}


async def test_hand_built_request_without_the_parser(clinic: Repository) -> None:
    """The SQL layer needs only the model objects, whoever built them."""
    request = SearchRequest(
        ("Patient",),
        (Criterion("Patient", "gender", "token", None, (TokenQuery(None, "female"),)),),
    )
    async with clinic.transaction(read_only=True) as s:
        result = await s.search(request, Scope.everything())
    assert [m.id for m in result.matches] == ["p2"] and result.total == 1


async def test_absolute_and_canonical_references(fresh_clinic: Repository) -> None:
    ext = "http://other-alliance.example/fhir/Patient/x9"
    async with fresh_clinic.transaction() as s:
        await s.update(
            {
                "resourceType": "Observation",
                "id": "o-ext",
                "status": "final",
                "code": {"text": "external"},
                "subject": {"reference": ext},
            },
            "default",
            scope=Scope.everything(),
        )
        for rid, canonical in (
            ("qr1", "http://yilian.example/Questionnaire/phq9|1.0"),
            ("qr2", "http://yilian.example/Questionnaire/phq9|2.0"),
        ):
            await s.update(
                {
                    "resourceType": "QuestionnaireResponse",
                    "id": rid,
                    "status": "completed",
                    "questionnaire": canonical,
                },
                "default",
                scope=Scope.everything(),
            )
    assert await ids(fresh_clinic, "Observation", [("subject", ext)]) == {"o-ext"}
    assert await ids(fresh_clinic, "Observation", [("subject", "x9")]) == set()  # not a local reference
    phq9 = "http://yilian.example/Questionnaire/phq9"
    assert await ids(fresh_clinic, "QuestionnaireResponse", [("questionnaire", phq9)]) == {"qr1", "qr2"}
    assert await ids(fresh_clinic, "QuestionnaireResponse", [("questionnaire", phq9 + "|2.0")]) == {"qr2"}
