"""`/console/patients/{id}`: one patient's record across the alliance, as the user may see it.

The Patient is read through the alliance base (`GET Patient/{id}` as the user); each section
is a `patient=` search of its type through every member institution's base, so every row
knows its institution and the `AlliancePolicy` decides, per institution, what the user sees
(their own institution, what a Consent opens, a break-the-glass window).  A refused read
shows the router's reason and the break-the-glass form: a POST with a required reason that
makes the same request the FHIR API makes with `X-Purpose-Of-Use: emergency` and
`X-Break-Glass-Reason` (`yilian.auth.purpose.with_purpose`, the policy opens the window and
the audit trail flags it), then shows the record, now inside the window.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.responses import Response

from yilian.auth.purpose import BREAK_GLASS_HEADER, MAX_REASON_CHARS, PURPOSE_HEADER, with_purpose
from yilian.console.i18n import N_
from yilian.console.pages import Page
from yilian.console.pages.patient_display import (
    display_name,
    entries,
    institutions_of,
    mrn,
    resident_id,
    sex_label,
)
from yilian.console.pages.patient_record_items import Row, lab_rows, row_of, trend
from yilian.console.view import ConsoleView
from yilian.fhir.outcome import OutcomeError
from yilian.router.status import status_code

__all__ = ["PAGE"]

SECTION_TYPES = {
    "encounters": ("Encounter",),
    "diagnoses": ("Condition",),
    "medications": ("MedicationRequest", "MedicationStatement"),
    "allergies": ("AllergyIntolerance",),
    "documents": ("DocumentReference",),
}
SECTION_LIMIT = 200
"""At most this many records of one type per institution (the page says when reached)."""
LAB_LIMIT = 500


async def _search(
    view: ConsoleView, resource_type: str, pid: str, limit: int, extra: tuple[tuple[str, str], ...] = ()
) -> tuple[list[tuple[dict[str, Any], str]], bool]:
    """(resource, institution) of `resource_type` about the patient in every institution the
    user may search there, and whether a limit cut any institution's list."""
    found: list[tuple[dict[str, Any], str]] = []
    cut = False
    for code in view.institutions:
        query = (("patient", pid), *extra, ("_count", str(limit)))
        try:
            answer = await view.fhir("GET", resource_type, partition=code, query=query)
        except OutcomeError:
            continue
        resources = entries(answer.body)
        total = (answer.body or {}).get("total")
        cut = cut or (isinstance(total, int) and total > len(resources))
        found.extend((r, code) for r in resources)
    return found, cut


def _break_glass_reason(view: ConsoleView) -> str:
    return " ".join(str(view.form.get("reason", "")).split())


async def _refused(
    view: ConsoleView, pid: str, error: OutcomeError, *, status: int | None = None, **context: Any
) -> Response:
    return view.render(
        "patient_refused.html",
        status=status or status_code(error.kind),
        pid=pid,
        reason=str(error),
        max_reason=MAX_REASON_CHARS,
        **context,
    )


async def patient_record(view: ConsoleView) -> Response:
    pid = str(view.request.path_params["id"])
    if view.request.method == "POST":
        reason = _break_glass_reason(view)
        if not reason:
            refusal = OutcomeError.invalid("break-the-glass requires a reason")
            return await _refused(view, pid, refusal, status=400, reason_missing=True)
        if view.principal is None:
            return view.redirect("/login")
        emergency = with_purpose(
            view.principal, {PURPOSE_HEADER: "emergency", BREAK_GLASS_HEADER: reason[:MAX_REASON_CHARS]}
        )
        try:
            await replace(view, principal=emergency).fhir("GET", f"Patient/{pid}")
        except OutcomeError as error:
            return await _refused(view, pid, error, break_glass_failed=True)
        return view.redirect(f"/patients/{pid}?opened=1")
    try:
        read = await view.fhir("GET", f"Patient/{pid}")
    except OutcomeError as error:
        return await _refused(view, pid, error)
    patient = read.body or {}
    where = await institutions_of(view, "Patient", [patient])
    sections: dict[str, list[Row]] = {}
    truncated = False
    for section, types in SECTION_TYPES.items():
        rows: list[Row] = []
        for resource_type in types:
            found, cut = await _search(view, resource_type, pid, SECTION_LIMIT)
            truncated = truncated or cut
            rows.extend(row_of(r, code) for r, code in found)
        sections[section] = sorted(rows, key=lambda r: r.when, reverse=True)
    consents, _ = await _search(view, "Consent", pid, SECTION_LIMIT, (("status", "active"),))
    observations, cut = await _search(view, "Observation", pid, LAB_LIMIT, (("_sort", "-date"),))
    truncated = truncated or cut
    labs = lab_rows([(o, code) for o, code in observations])
    shown, tests, points = trend(labs, view.request.query_params.get("test"))
    chart = {
        "test": shown,
        "name": dict(tests).get(shown or "", ""),
        "unit": points[-1].unit if points else "",
        "times": [p.time for p in points],
        "values": [p.number for p in points],
    }
    number = mrn(patient)
    return view.render(
        "patient_record.html",
        pid=pid,
        name=display_name(patient),
        sex=sex_label(patient),
        birth_date=str(patient.get("birthDate") or ""),
        resident_id=resident_id(patient),
        mrn=number[1] if number else None,
        home=where.get(pid) or (number[0] if number else None),
        sections=sections,
        consents=[row_of(c, code) for c, code in consents],
        labs=labs,
        tests=tests,
        shown=shown,
        chart=chart,
        truncated=truncated,
        opened=view.request.query_params.get("opened") == "1",
    )


PAGE = Page(
    "/patients/{id}",
    "patient-record",
    N_("Patient record"),
    patient_record,
    order=21,
    in_nav=False,
    methods=("GET", "POST"),
)
