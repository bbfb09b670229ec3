"""The identifier systems the alliance writes, whatever format a record arrived in.

A record keeps the identifiers its source system gave it; these systems say whose they are.
Every feed (FHIR, HL7 v2, front sheets, the synthetic generator) uses the same ones, so a
visit sent as an ADT message and again on a front sheet is one Encounter, found by its
identifier, and a re-sent message updates what the first one made instead of copying it.
Institution-scoped systems end in the institution's code: visit 123 at one member is not
visit 123 at another.
"""

from __future__ import annotations

__all__ = [
    "INSTITUTION_SYSTEM",
    "RESIDENT_ID_SYSTEM",
    "RESIDENT_ID_TYPE",
    "allergy_system",
    "appointment_system",
    "claim_system",
    "diagnosis_system",
    "document_system",
    "filler_system",
    "mrn_system",
    "order_system",
    "practitioner_system",
    "procedure_system",
    "referral_system",
    "result_system",
    "visit_system",
]

INSTITUTION_SYSTEM = "urn:yilian:institution"
"""An institution's Organization; the value is the institution code."""

RESIDENT_ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
"""The 18-digit resident ID (居民身份证号码): the OID the national health information
standards (WS/T 500 shared-document templates) use for 患者身份证号标识."""

RESIDENT_ID_TYPE = "NNCHN"
"""Its identifier type in v2 table 0203 (national person identifier, China)."""


def mrn_system(institution: str) -> str:
    """Medical record numbers (病案号, 门诊号) of one institution."""
    return f"urn:yilian:mrn:{institution}"


def visit_system(institution: str) -> str:
    """Visit numbers (PV1-19, 住院号/就诊流水号): Encounter.identifier."""
    return f"urn:yilian:visit:{institution}"


def order_system(institution: str) -> str:
    """Placer order numbers (ORC-2/OBR-2): ServiceRequest and MedicationRequest identifiers."""
    return f"urn:yilian:order:{institution}"


def filler_system(institution: str) -> str:
    """Filler order numbers, the lab's accession (ORC-3/OBR-3): DiagnosticReport.identifier."""
    return f"urn:yilian:filler:{institution}"


def result_system(institution: str) -> str:
    """One result within a report (filler number and OBX-1): Observation.identifier."""
    return f"urn:yilian:result:{institution}"


def practitioner_system(institution: str) -> str:
    """A practitioner's staff number at one institution."""
    return f"urn:yilian:practitioner:{institution}"


def diagnosis_system(institution: str) -> str:
    """One diagnosis of one visit (`{visit number}/{rank}`): Condition.identifier."""
    return f"urn:yilian:diagnosis:{institution}"


def procedure_system(institution: str) -> str:
    """One procedure of one visit (`{visit number}/{rank}`): Procedure.identifier."""
    return f"urn:yilian:procedure:{institution}"


def claim_system(institution: str) -> str:
    """A stay's costs as billed (the visit number): Claim.identifier."""
    return f"urn:yilian:claim:{institution}"


def allergy_system(institution: str) -> str:
    """An allergy recorded at one institution: AllergyIntolerance.identifier."""
    return f"urn:yilian:allergy:{institution}"


def referral_system(institution: str) -> str:
    """A referral as the referring institution numbered it: ServiceRequest/Task identifier."""
    return f"urn:yilian:referral:{institution}"


def appointment_system(institution: str) -> str:
    """An appointment (SIU filler appointment id): Appointment.identifier."""
    return f"urn:yilian:appointment:{institution}"


def document_system(institution: str) -> str:
    """A clinical document (MDM unique document number): DocumentReference.identifier."""
    return f"urn:yilian:document:{institution}"
