"""`/console/patients?q=...`: find a patient across every institution the user may see.

The query says what it is: 18 characters of a resident ID number (17 digits and a digit or
X) search `identifier=` in the resident-ID system, a mainland mobile number searches `phone=`,
anything else searches `name=` (Chinese characters or pinyin, as the store indexes names).
The search goes to the alliance base as the user, so the `AlliancePolicy` decides which
institutions answer; with encryption at rest the router finds identifiers and phones through
their keyed hashes, nothing special happens here.  Paging is the router's own `_count` /
`_offset`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from yilian.alliance.identifiers import RESIDENT_ID_SYSTEM
from yilian.console.i18n import N_
from yilian.console.pages import Page
from yilian.console.pages.patient_display import (
    display_name,
    entries,
    institutions_of,
    mrn,
    sex_label,
)
from yilian.console.view import ConsoleView
from yilian.fhir.outcome import OutcomeError

__all__ = ["PAGE", "search_parameter"]

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_QUERY_CHARS = 100
_RESIDENT_ID = re.compile(r"^\d{17}[\dXx]$")
_MOBILE = re.compile(r"^(?:\+?86)?(1\d{10})$")


def search_parameter(q: str) -> tuple[str, str, str]:
    """(search parameter, value, what kind of query it is) for the text typed in the box."""
    compact = re.sub(r"[\s-]", "", q)
    if _RESIDENT_ID.match(compact):
        return "identifier", f"{RESIDENT_ID_SYSTEM}|{compact.upper()}", "resident-id"
    mobile = _MOBILE.match(compact)
    if mobile:
        return "phone", mobile.group(1), "phone"
    return "name", q, "name"


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    name: str
    sex: str
    birth_date: str
    institution: str | None
    mrn: str | None


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value or default)
    except ValueError:
        return default
    return max(low, min(high, number))


async def patients(view: ConsoleView) -> Response:
    params = view.request.query_params
    q = " ".join(params.get("q", "").split())[:MAX_QUERY_CHARS]
    count = _int(params.get("_count"), PAGE_SIZE, 1, MAX_PAGE_SIZE)
    offset = _int(params.get("_offset"), 0, 0, 10**9)
    context: dict[str, Any] = {"q": q, "hits": [], "kind": None, "error": None, "total": None}
    context.update(count=count, offset=offset, previous_url=None, next_url=None)
    if not q:
        return view.render("patients.html", **context)
    name, value, kind = search_parameter(q)
    context["kind"] = kind
    query = ((name, value), ("_count", str(count)), ("_offset", str(offset)))
    try:
        answer = await view.fhir("GET", "Patient", query=query)
    except OutcomeError as refused:
        context["error"] = str(refused)
        return view.render("patients.html", **context)
    found = entries(answer.body)
    where = await institutions_of(view, "Patient", found)
    hits = []
    for patient in found:
        pid = str(patient.get("id"))
        number = mrn(patient)
        hits.append(
            Hit(
                id=pid,
                name=display_name(patient),
                sex=sex_label(patient),
                birth_date=str(patient.get("birthDate") or ""),
                institution=where.get(pid) or (number[0] if number else None),
                mrn=number[1] if number else None,
            )
        )
    total = (answer.body or {}).get("total")
    links = {link.get("relation"): link for link in (answer.body or {}).get("link") or []}

    def page_url(start: int) -> str:
        return view.url("/patients") + "?" + urlencode({"q": q, "_count": count, "_offset": start})

    if offset > 0:
        context["previous_url"] = page_url(max(0, offset - count))
    if "next" in links or (isinstance(total, int) and offset + len(found) < total):
        context["next_url"] = page_url(offset + count)
    context.update(hits=hits, total=total if isinstance(total, int) else None)
    return view.render("patients.html", **context)


PAGE = Page("/patients", "patients", N_("Patients"), patients, order=20)
