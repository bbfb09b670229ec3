"""What the codes a record carries mean to a reader: FHIR status values and encounter
classes as words in the reader's language, not as the codes the API returns."""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context

from yilian.console.i18n import N_

__all__ = ["CODE_LABELS", "code_label"]

CODE_LABELS: dict[str, str] = {
    # Encounter.class (v3 ActCode)
    "AMB": N_("Outpatient"),
    "EMER": N_("Emergency"),
    "IMP": N_("Inpatient"),
    "ambulatory": N_("Outpatient"),
    "emergency": N_("Emergency"),
    "inpatient encounter": N_("Inpatient"),
    # Encounter.status
    "planned": N_("planned"),
    "arrived": N_("arrived"),
    "in-progress": N_("in progress"),
    "finished": N_("finished"),
    "cancelled": N_("cancelled"),
    "entered-in-error": N_("entered in error"),
    # Condition.clinicalStatus, MedicationRequest.status, Consent.status
    "active": N_("active"),
    "recurrence": N_("recurrence"),
    "inactive": N_("inactive"),
    "remission": N_("remission"),
    "resolved": N_("resolved"),
    "completed": N_("completed"),
    "stopped": N_("stopped"),
    "on-hold": N_("on hold"),
    "draft": N_("draft"),
}
"""code -> message id (its English label)."""


@pass_context
def code_label(context: Any, code: object) -> str:
    """`{{ r.status|code_label }}`: the label of a known code in the page's language, else the
    code itself."""
    text = str(code or "")
    label = CODE_LABELS.get(text)
    return str(context.call(context["_"], label)) if label else text
