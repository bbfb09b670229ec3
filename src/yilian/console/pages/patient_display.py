"""What the patient pages share: how a Patient is shown (name, sex, MRN) and which member
institution holds each record.

The router's answers do not say which partition a resource came from, so the pages ask: the
same ids searched through each institution's base (`/fhir/{code}/Type?_id=...`), as the user.
That costs one small search per institution and page, and it can never name an institution
the user could not have searched.  This module has no PAGE: it is a helper of the patient
pages, not a page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from yilian.alliance.identifiers import INSTITUTION_SYSTEM, RESIDENT_ID_SYSTEM
from yilian.console.i18n import N_
from yilian.console.view import ConsoleView
from yilian.fhir.outcome import OutcomeError

__all__ = ["display_name", "entries", "institutions_of", "mrn", "resident_id", "sex_label"]

MRN_PREFIX = "urn:yilian:mrn:"
_ID_CHUNK = 100


def entries(bundle: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The matched resources of a searchset Bundle (outcome entries left out)."""
    found = []
    for entry in (bundle or {}).get("entry") or []:
        if (entry.get("search") or {}).get("mode", "match") != "match":
            continue
        resource = entry.get("resource")
        if isinstance(resource, dict):
            found.append(resource)
    return found


def display_name(patient: Mapping[str, Any]) -> str:
    """The first name as Chinese writes it: family then given, no space (`王伟`); `text` wins."""
    for name in patient.get("name") or []:
        if name.get("text"):
            return str(name["text"])
        family = name.get("family") or ""
        given = "".join(name.get("given") or [])
        if family or given:
            return f"{family}{given}"
    return ""


def mrn(patient: Mapping[str, Any]) -> tuple[str, str] | None:
    """(institution code, MRN) of the patient's first medical record number."""
    for identifier in patient.get("identifier") or []:
        system = str(identifier.get("system") or "")
        if system.startswith(MRN_PREFIX) and identifier.get("value"):
            return system.removeprefix(MRN_PREFIX), str(identifier["value"])
    return None


def resident_id(patient: Mapping[str, Any]) -> str | None:
    for identifier in patient.get("identifier") or []:
        if identifier.get("system") == RESIDENT_ID_SYSTEM and identifier.get("value"):
            return str(identifier["value"])
    return None


SEX_LABELS = {"male": N_("male"), "female": N_("female"), "other": N_("other"), "unknown": N_("unknown")}


def sex_label(patient: Mapping[str, Any]) -> str:
    """The gender code as a message id (the template translates it)."""
    return SEX_LABELS.get(str(patient.get("gender") or "unknown"), "unknown")


def _managing_institution(resource: Mapping[str, Any]) -> str | None:
    organization = resource.get("managingOrganization") or {}
    identifier = organization.get("identifier") or {}
    if identifier.get("system") == INSTITUTION_SYSTEM and identifier.get("value"):
        return str(identifier["value"])
    return None


async def institutions_of(
    view: ConsoleView, resource_type: str, resources: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Resource id -> the code of the member institution that holds it, asking each
    institution's base for these ids as the user (a managingOrganization naming a member
    institution answers without asking)."""
    found: dict[str, str] = {}
    wanted: list[str] = []
    for resource in resources:
        rid = str(resource.get("id") or "")
        if not rid:
            continue
        managing = _managing_institution(resource)
        if managing is not None and managing in view.institutions:
            found[rid] = managing
        else:
            wanted.append(rid)
    for code in view.institutions:
        if not wanted:
            break
        for start in range(0, len(wanted), _ID_CHUNK):
            chunk = wanted[start : start + _ID_CHUNK]
            query = (("_id", ",".join(chunk)), ("_elements", "id"), ("_count", str(len(chunk))))
            try:
                answer = await view.fhir("GET", resource_type, partition=code, query=query)
            except OutcomeError:
                continue  # the user may not search there: that institution is not named
            for resource in entries(answer.body):
                found.setdefault(str(resource.get("id")), code)
        wanted = [rid for rid in wanted if rid not in found]
    return found
