"""A small alliance record set with hand-checked search answers.

Two organisations (the township centre is `partOf` the county hospital), three patients,
encounters, observations with quantities, a condition, a medication request, a risk
assessment (number search) and value sets (uri search).  Client ids make the expected
answers readable: `p1` is Zhang Wei, `o1` his heart rate, and so on.
"""

from __future__ import annotations

from typing import Any

from yilian.store.base import DEFAULT_PARTITION, Repository, Scope

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ID_CARD = "urn:oid:2.16.156.10011.1.1"  # resident identity card number
MRN = "http://county-hospital.example/mrn"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


CLINIC: list[dict[str, Any]] = [
    {"resourceType": "Organization", "id": "org1", "name": "Beijing County Hospital", "active": True},
    {
        "resourceType": "Organization",
        "id": "org2",
        "name": "Township Health Centre",
        "partOf": {"reference": "Organization/org1"},
    },
    {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"tag": [{"system": "http://yilian.example/tags", "code": "vip"}]},
        "identifier": [
            {
                "type": {"coding": [{"system": V2_0203, "code": "NI"}]},
                "system": ID_CARD,
                "value": "110101198005010011",
            },
            {"system": MRN, "value": "MRN-001"},
        ],
        "active": True,
        "name": [{"family": "Zhang", "given": ["Wei"]}],
        "gender": "male",
        "birthDate": "1980-05-01",
        "address": [{"city": "Beijing"}],
        "managingOrganization": {"reference": "Organization/org2"},
    },
    {
        "resourceType": "Patient",
        "id": "p2",
        "identifier": [{"system": MRN, "value": "MRN-002"}],
        "active": True,
        "name": [{"family": "Li", "given": ["Na"]}],
        "gender": "female",
        "birthDate": "1992-11-20",
        "telecom": [{"system": "phone", "value": "13800000000"}],
        "managingOrganization": {"reference": "Organization/org1"},
    },
    {
        "resourceType": "Patient",
        "id": "p3",
        "name": [{"family": "Müller", "given": ["Hans"]}],
        "gender": "male",
        "birthDate": "1975",
    },
    {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2024-01-15T08:00:00+08:00", "end": "2024-01-15T10:00:00+08:00"},
        "serviceProvider": {"reference": "Organization/org1"},
    },
    {
        "resourceType": "Encounter",
        "id": "e2",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/p2"},
        "period": {"start": "2023-06-01"},
    },
    {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": _loinc("8867-4", "Heart rate"),
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "effectiveDateTime": "2024-01-15T08:30:00+08:00",
        "valueQuantity": _quantity(72, "beats/minute", "/min"),
    },
    {
        "resourceType": "Observation",
        "id": "o2",
        "status": "final",
        "code": _loinc("8480-6", "Systolic blood pressure"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-01",
        "valueQuantity": _quantity(130, "mmHg", "mm[Hg]"),
    },
    {
        "resourceType": "Observation",
        "id": "o3",
        "status": "preliminary",
        "code": _loinc("8867-4", "Heart rate"),
        "subject": {"reference": "Patient/p2"},
        "effectiveDateTime": "2023-12-31T23:00:00Z",
        "valueQuantity": _quantity(88, "beats/minute", "/min"),
    },
    {
        "resourceType": "Observation",
        "id": "o4",
        "status": "final",
        "code": _loinc("2339-0", "Glucose"),
        "subject": {"reference": "Patient/p3"},
        "effectivePeriod": {"start": "2024-02-01", "end": "2024-02-03"},
        "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
    },
    {
        "resourceType": "Condition",
        "id": "c1",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"coding": [{"system": ICD10, "code": "E11.9", "display": "Type 2 diabetes mellitus"}]},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "onsetDateTime": "2015",
    },
    {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}],
            "text": "Metformin 500 mg tablet",
        },
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2024-01-15",
    },
    {
        "resourceType": "RiskAssessment",
        "id": "r1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "prediction": [{"probabilityDecimal": 0.25}],
    },
    {
        "resourceType": "RiskAssessment",
        "id": "r2",
        "status": "final",
        "subject": {"reference": "Patient/p2"},
        "prediction": [{"probabilityDecimal": 0.8}],
    },
    {
        "resourceType": "ValueSet",
        "id": "vs1",
        "status": "active",
        "url": "http://yilian.example/fhir/ValueSet/diabetes",
    },
    {
        "resourceType": "ValueSet",
        "id": "vs2",
        "status": "active",
        "url": "http://yilian.example/fhir/ValueSet/diabetes/type-2",
    },
]


async def load_clinic(repo: Repository, partition: str = DEFAULT_PARTITION) -> None:
    """Store the sample with its client ids (update-as-create), in one transaction."""
    async with repo.transaction() as session:
        for resource in CLINIC:
            await session.update(resource, partition, scope=Scope.everything())
