"""The role table: what each role may read and write inside its own institution, and for
which purposes of use it may ask for other institutions' records.

PIPL lets personal medical data be processed only by people whose role needs it, for a stated
purpose.  This table is that rule in one place (docs/security.md prints it).  `reads` and
`writes` are resource-type sets (None: every type); the reads set becomes `Scope.types`, so
the store drops other types from searches, includes and `$everything` alike.  `purposes`
are the purposes the role may declare (the first is its default); `consents` says whether
other institutions' records are reachable under a Consent for that purpose; `patient_level`
False means the role gets no identifiable patient-level data from this server at all unless
a Consent for its purpose names the patient (researchers, regulators: de-identified exports
come later).
"""

from __future__ import annotations

from dataclasses import dataclass

from yilian.fhir.definitions.compartments import patient_compartment

__all__ = [
    "AUDIT_TYPES",
    "DIRECTORY_TYPES",
    "FINANCIAL_TYPES",
    "ROLE_RULES",
    "RoleRules",
    "is_patient_level",
]

AUDIT_TYPES = frozenset({"AuditEvent"})
"""Served from the hash-chained audit log (privacy/audit_access.py narrows it further)."""

FINANCIAL_TYPES = frozenset(
    {
        "Account",
        "ChargeItem",
        "Claim",
        "ClaimResponse",
        "Coverage",
        "CoverageEligibilityRequest",
        "CoverageEligibilityResponse",
        "EnrollmentRequest",
        "EnrollmentResponse",
        "ExplanationOfBenefit",
        "Invoice",
        "PaymentNotice",
        "PaymentReconciliation",
    }
)

DIRECTORY_TYPES = frozenset(
    {"Organization", "Practitioner", "PractitionerRole", "Location", "HealthcareService", "Endpoint"}
)
"""Who and where: no patient in them, so every staff role may read them."""


def is_patient_level(resource_type: str) -> bool:
    """Whether resources of this type can belong to a patient (the R4 Patient compartment)."""
    return resource_type == "Patient" or resource_type in patient_compartment().params


@dataclass(frozen=True, slots=True)
class RoleRules:
    """One row of the role table (see the module docstring)."""

    reads: frozenset[str] | None
    read_except: frozenset[str]
    writes: frozenset[str] | None
    write_except: frozenset[str]
    purposes: tuple[str, ...]
    consents: bool
    patient_level: bool = True
    break_glass: bool = False

    def may_read(self, resource_type: str) -> bool:
        if resource_type in self.read_except:
            return False
        return self.reads is None or resource_type in self.reads

    def may_write(self, resource_type: str) -> bool:
        if resource_type in self.write_except:
            return False
        return self.writes is None or resource_type in self.writes

    def read_types(self, all_types: frozenset[str]) -> frozenset[str] | None:
        """The `Scope.types` of this role (None: every type)."""
        if self.reads is None and not self.read_except:
            return None
        base = all_types if self.reads is None else self.reads
        return frozenset(base - self.read_except)


_NONE: frozenset[str] = frozenset()
_CLINICAL_EXCEPT = AUDIT_TYPES | FINANCIAL_TYPES
_INSURANCE_READS = FINANCIAL_TYPES | DIRECTORY_TYPES | {"Patient", "Encounter"}

ROLE_RULES: dict[str, RoleRules] = {
    "doctor": RoleRules(
        None,
        _CLINICAL_EXCEPT,
        None,
        _CLINICAL_EXCEPT | {"Consent"},
        ("treatment", "emergency"),
        True,
        break_glass=True,
    ),
    "nurse": RoleRules(
        None,
        _CLINICAL_EXCEPT,
        None,
        _CLINICAL_EXCEPT | {"Consent"},
        ("treatment", "emergency"),
        True,
        break_glass=True,
    ),
    "records": RoleRules(None, AUDIT_TYPES, None, AUDIT_TYPES, ("treatment", "payment"), True),
    "insurance": RoleRules(_INSURANCE_READS, _NONE, FINANCIAL_TYPES, _NONE, ("payment",), True),
    "researcher": RoleRules(None, AUDIT_TYPES, _NONE, _NONE, ("research",), True, patient_level=False),
    "regulator": RoleRules(None, AUDIT_TYPES, _NONE, _NONE, ("public-health",), True, patient_level=False),
    "admin": RoleRules(None, _NONE, DIRECTORY_TYPES, _NONE, ("treatment",), False),
    "patient": RoleRules(None, _NONE, _NONE, _NONE, ("treatment",), False),
    "system": RoleRules(None, _NONE, None, _NONE, (), False),
}
"""The role table; docs/security.md explains each row."""
