"""The synthetic alliance's inpatient stays as front-sheet rows (住院病案首页), the way a
records office exports them: Chinese headers, one row per discharge, codes as the national
tables write them, amounts in yuan with two decimals, local times without a zone.

`HEADER` and `rows` make a file `yilian import frontsheet` reads without a row error (the
columns are `ingest.frontsheet.columns`), so the FHIR it makes can be compared with the events
the rows came from.  Where a registration desk's record lacks what a front sheet must carry,
the writer does what a records office does before the national upload: the birth date comes
from the person when the desk left it out, and a resident ID that fails its check character
is left blank rather than exported (the upload would refuse it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from yilian.alliance.resident_id import is_valid_resident_id
from yilian.ingest.frontsheet.columns import COLUMNS, DIAGNOSIS_GROUP, PROCEDURE_GROUP
from yilian.ingest.frontsheet.costs import COST_CATEGORIES
from yilian.synth import model

__all__ = ["HEADER", "OTHER_DIAGNOSES", "PROCEDURES", "rows"]

OTHER_DIAGNOSES = 10
"""Other-diagnosis groups in the header (the 2011 front sheet prints ten lines)."""
PROCEDURES = 7
"""Procedure groups in the header."""

HEADER: tuple[str, ...] = (
    *(c.chinese for c in COLUMNS),
    *(f"{c.chinese}{n}" for n in range(1, OTHER_DIAGNOSES + 1) for c in DIAGNOSIS_GROUP),
    *(f"{c.chinese}{n}" for n in range(1, PROCEDURES + 1) for c in PROCEDURE_GROUP),
)
"""The Chinese headers: the single columns in `COLUMNS` order, then the numbered groups."""

_SEX = {"male": "1", "female": "2"}


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def rows(history: model.History, directory: model.Directory) -> Iterator[list[str]]:
    """One row (aligned with `HEADER`) per inpatient encounter of `history`, in time order."""
    for _, row in institution_rows(history, directory):
        yield row


def institution_rows(history: model.History, directory: model.Directory) -> Iterator[tuple[str, list[str]]]:
    """`rows`, each with the institution whose records office exports it."""
    registrations = {r.registration_id: r for r in history.registrations}
    stays: dict[str, int] = {}
    for encounter in history.encounters:
        if encounter.kind != "inpatient":
            continue
        registration = registrations[encounter.registration_id]
        stays[registration.registration_id] = stays.get(registration.registration_id, 0) + 1
        count = encounter.admission_count or stays[registration.registration_id]
        yield encounter.institution, _row(history.person, registration, encounter, count, directory)


def _row(
    person: model.Person,
    registration: model.Registration,
    encounter: model.Encounter,
    admission_count: int,
    directory: model.Directory,
) -> list[str]:
    diagnoses = sorted(encounter.diagnoses, key=lambda d: d.rank)
    procedures = sorted(encounter.procedures, key=lambda p: p.rank)
    if not diagnoses:
        raise ValueError(f"inpatient encounter {encounter.visit_number} has no diagnosis")
    if len(diagnoses) - 1 > OTHER_DIAGNOSES or len(procedures) > PROCEDURES:
        raise ValueError(
            f"encounter {encounter.visit_number} has more diagnoses or procedures than the front sheet holds"
        )
    department = directory.department(encounter.institution, encounter.department).name
    resident_id = registration.resident_id or ""
    if resident_id and not is_valid_resident_id(resident_id):
        resident_id = ""
    birth_date = registration.birth_date or person.birth_date
    days = max(1, (encounter.end.date() - encounter.start.date()).days)
    main = diagnoses[0]
    single = {
        "mrn": registration.mrn,
        "admission_count": str(admission_count),
        "visit_number": encounter.visit_number,
        "name": registration.name,
        "sex": _SEX[registration.sex],
        "birth_date": birth_date.isoformat(),
        "resident_id": resident_id,
        "phone": registration.phone or "",
        "address": registration.address_text,
        "admission_way": encounter.admission_way or "9",
        "admitted": _time(encounter.start),
        "admission_department": department,
        "discharged": _time(encounter.end),
        "discharge_department": department,
        "length_of_stay": str(days),
        "discharge_way": encounter.discharge_way or "9",
        "main_diagnosis_code": main.code,
        "main_diagnosis_name": main.name,
        "main_admission_condition": main.admission_condition,
        "total_cost": _amount(sum(encounter.costs.values(), Decimal(0))),
        **{
            key: _amount(encounter.costs[key]) if key in encounter.costs else "" for key, _ in COST_CATEGORIES
        },
    }
    row = [single[c.key] for c in COLUMNS]
    for n in range(OTHER_DIAGNOSES):
        d = diagnoses[n + 1] if n + 1 < len(diagnoses) else None
        row += [d.code, d.name, d.admission_condition] if d else ["", "", ""]
    for n in range(PROCEDURES):
        p = procedures[n] if n < len(procedures) else None
        if p is None:
            row += [""] * len(PROCEDURE_GROUP)
            continue
        surgeon = directory.practitioner(p.operator).name
        row += [p.code, p.name, _time(p.performed), surgeon, p.anaesthesia or ""]
    return row
