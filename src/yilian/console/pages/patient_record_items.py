"""The rows of the patient record page, laid out from FHIR resources: encounters, diagnoses,
lab results and their trend, medications, allergies, documents, consents.

Pure functions of the resources the router returned (no data access, no HTTP), so the page
module only asks and renders.  Every row keeps the code of the institution that holds it.
No PAGE: a helper of `patient_record`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LOINC",
    "LabRow",
    "Row",
    "concept_code",
    "concept_text",
    "lab_rows",
    "row_of",
    "trend",
]

LOINC = "http://loinc.org"


def concept_text(concept: Mapping[str, Any] | None) -> str:
    """What a CodeableConcept says to a reader: its text, else its first coding's display,
    else that coding's code."""
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding") or []:
        if coding.get("code"):
            return str(coding["code"])
    return ""


def concept_code(concept: Mapping[str, Any] | None, system: str | None = None) -> str:
    for coding in (concept or {}).get("coding") or []:
        if coding.get("code") and (system is None or coding.get("system") == system):
            return str(coding["code"])
    return ""


def _first_concept(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, list):
        return value[0] if value and isinstance(value[0], dict) else None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True, slots=True)
class Row:
    """One item of a record section: when, what, more detail, status, where."""

    id: str
    when: str
    what: str
    detail: str
    status: str
    institution: str | None


def _when(resource: Mapping[str, Any]) -> str:
    kind = resource.get("resourceType")
    if kind == "Encounter":
        return str((resource.get("period") or {}).get("start") or "")
    for key in ("onsetDateTime", "recordedDate", "authoredOn", "effectiveDateTime", "date", "dateTime"):
        if resource.get(key):
            return str(resource[key])
    period = resource.get("effectivePeriod") or resource.get("period") or {}
    return str(period.get("start") or "")


def _what_detail_status(resource: Mapping[str, Any]) -> tuple[str, str, str]:
    kind = resource.get("resourceType")
    if kind == "Encounter":
        klass = resource.get("class") or {}
        what = str(klass.get("display") or klass.get("code") or "")
        department = concept_text(_first_concept(resource.get("serviceType")))
        kinds = concept_text(_first_concept(resource.get("type")))
        return kinds or what, department, str(resource.get("status") or "")
    if kind == "Condition":
        status = concept_code(resource.get("clinicalStatus"))
        return concept_text(resource.get("code")), concept_code(resource.get("code")), status
    if kind in ("MedicationRequest", "MedicationStatement"):
        medication = concept_text(resource.get("medicationCodeableConcept"))
        if not medication:
            medication = str((resource.get("medicationReference") or {}).get("display") or "")
        dosage = _first_concept(resource.get("dosageInstruction") or resource.get("dosage")) or {}
        return medication, str(dosage.get("text") or ""), str(resource.get("status") or "")
    if kind == "AllergyIntolerance":
        reaction = _first_concept(resource.get("reaction")) or {}
        manifestation = concept_text(_first_concept(reaction.get("manifestation")))
        return concept_text(resource.get("code")), manifestation, concept_code(resource.get("clinicalStatus"))
    if kind == "DocumentReference":
        title = next(
            (
                str(c.get("attachment", {}).get("title"))
                for c in resource.get("content") or []
                if c.get("attachment", {}).get("title")
            ),
            "",
        )
        return concept_text(resource.get("type")) or title, title, str(resource.get("status") or "")
    if kind == "Consent":
        provision = resource.get("provision") or {}
        purposes = ", ".join(str(p.get("code")) for p in provision.get("purpose") or [] if p.get("code"))
        actors = ", ".join(
            str(
                (a.get("reference") or {}).get("display")
                or ((a.get("reference") or {}).get("identifier") or {}).get("value")
                or (a.get("reference") or {}).get("reference")
                or concept_text(a.get("role"))
            )
            for a in provision.get("actor") or []
        )
        return purposes, actors, str(resource.get("status") or "")
    return concept_text(resource.get("code")), "", str(resource.get("status") or "")


def row_of(resource: Mapping[str, Any], institution: str | None) -> Row:
    what, detail, status = _what_detail_status(resource)
    return Row(str(resource.get("id") or ""), _when(resource), what, detail, status, institution)


@dataclass(frozen=True, slots=True)
class LabRow:
    id: str
    code: str
    name: str
    value: str
    number: float | None
    unit: str
    flag: str
    range: str
    time: str
    institution: str | None


def _quantity_text(quantity: Mapping[str, Any] | None) -> str:
    if not quantity or quantity.get("value") is None:
        return ""
    return f"{quantity['value']:g}" if isinstance(quantity["value"], float) else str(quantity["value"])


def _range(observation: Mapping[str, Any]) -> str:
    reference = _first_concept(observation.get("referenceRange")) or {}
    if reference.get("text"):
        return str(reference["text"])
    low, high = _quantity_text(reference.get("low")), _quantity_text(reference.get("high"))
    if low and high:
        return f"{low}–{high}"
    if low:
        return f"≥{low}"
    if high:
        return f"≤{high}"
    return ""


def lab_rows(observations: list[tuple[Mapping[str, Any], str | None]]) -> list[LabRow]:
    """Observations with a value (lab results and vital signs), newest first."""
    rows = []
    for observation, institution in observations:
        quantity = observation.get("valueQuantity")
        number: float | None = None
        if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
            number = float(quantity["value"])
            value, unit = _quantity_text(quantity), str(quantity.get("unit") or quantity.get("code") or "")
        elif observation.get("valueString") is not None:
            value, unit = str(observation["valueString"]), ""
        elif observation.get("valueCodeableConcept"):
            value, unit = concept_text(observation["valueCodeableConcept"]), ""
        else:
            continue
        code = observation.get("code")
        rows.append(
            LabRow(
                id=str(observation.get("id") or ""),
                code=concept_code(code, LOINC) or concept_code(code),
                name=concept_text(code),
                value=value,
                number=number,
                unit=unit,
                flag=concept_code(_first_concept(observation.get("interpretation"))),
                range=_range(observation),
                time=_when(observation),
                institution=institution,
            )
        )
    return sorted(rows, key=lambda r: r.time, reverse=True)


def trend(rows: list[LabRow], chosen: str | None) -> tuple[str | None, list[tuple[str, str]], list[LabRow]]:
    """(the test shown, every numeric test as (code, name) most frequent first, its points
    oldest first).  `chosen` wins when it has numeric results; else the most frequent test."""
    numeric = [r for r in rows if r.number is not None and r.code]
    counts = Counter(r.code for r in numeric)
    names = {r.code: r.name for r in numeric}
    tests = [(code, names[code]) for code, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    if not tests:
        return None, [], []
    shown = chosen if chosen in counts else tests[0][0]
    points = sorted((r for r in numeric if r.code == shown), key=lambda r: r.time)
    return shown, tests, points
