"""`Patient/{id}/$everything` (http://hl7.org/fhir/R4/patient-operation-everything.html).

The patient plus every resource that refers to it through a reference search parameter whose
targets include Patient.  This approximates the Patient compartment
(http://hl7.org/fhir/R4/compartmentdefinition-patient.html) rather than implementing it: the
compartment lists particular parameters per type, while we take every Patient-targeting
reference parameter, which is a superset for most types; resources reached only through
other resources (a Medication referenced by a MedicationRequest) are not added.

It runs as one search, the patient by `_id` with a `_revinclude` for every such parameter, so
the store applies the caller's scope to every resource in one query.  `_type` narrows the
types, `_since` keeps resources updated at or after an instant, and `_count`/`_offset` page
the combined list (patient first, then by type and id) with the usual links.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from yilian.fhir.definitions import registry
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.fhir.search.dates import normalize_instant
from yilian.fhir.search.model import Criterion, Include, SearchRequest, TokenQuery
from yilian.router.context import Context
from yilian.router.paging import int_parameter, links, normalised_query
from yilian.router.resource_types import is_resource_type
from yilian.router.result import Result
from yilian.store.base import Session, StoredResource

__all__ = ["everything", "patient_references"]

_KNOWN = frozenset({"_count", "_offset", "_since", "_type", "_format", "_pretty", "start", "end"})


@cache
def patient_references() -> tuple[Include, ...]:
    """`_revinclude`s for every reference parameter (of any type) that can point at a Patient."""
    reg = registry()
    found = []
    for rtype in reg.resource_types_with_parameters():
        for code, param in reg.for_type(rtype).items():
            if param.type == "reference" and "Patient" in param.targets:
                found.append(Include(rtype, code, "Patient"))
    return tuple(found)


def _since(query: list[tuple[str, str]]) -> str | None:
    values = [v for k, v in query if k == "_since"]
    if not values:
        return None
    try:
        return normalize_instant(values[-1].strip())
    except ValueError as exc:
        raise OutcomeError.invalid(f"_since={values[-1]!r} is not a FHIR instant: {exc}", ["_since"]) from exc


def _types(query: list[tuple[str, str]]) -> set[str] | None:
    named = {t.strip() for k, v in query if k == "_type" for t in v.split(",") if t.strip()}
    for name in named:
        if not is_resource_type(name):
            raise OutcomeError.invalid(f"_type names an unknown resource type {name!r}", ["_type"])
    return named or None


def _updated_since(stored: StoredResource, since: str | None) -> bool:
    if since is None:
        return True
    try:
        return normalize_instant(stored.last_updated) >= since
    except ValueError:
        return True


async def everything(ctx: Context, session: Session, resource_type: str, id: str) -> Result:
    if resource_type != "Patient":
        raise OutcomeError.not_supported(f"$everything is defined on Patient, not {resource_type}")
    query = list(ctx.request.query)
    for name, _ in query:
        if name not in _KNOWN:
            raise OutcomeError.not_supported(f"$everything does not support the parameter {name!r}", [name])
    since = _since(query)
    types = _types(query)
    patient = await session.read("Patient", id, ctx.access.scope)  # 404 / 410 before anything else
    includes = tuple(i for i in patient_references() if types is None or i.source_type in types)
    request = SearchRequest(
        resource_types=("Patient",),
        conditions=(Criterion("Patient", "_id", "token", None, (TokenQuery(None, id),)),),
        count=1,
        total="none",
        revincludes=includes,
    )
    found = await session.search(request, ctx.access.scope)
    seen = {("Patient", patient.id)}
    related: list[StoredResource] = []
    for stored in found.included:
        key = (stored.resource_type, stored.id)
        if key not in seen:
            seen.add(key)
            related.append(stored)
    related.sort(key=lambda s: (s.resource_type, s.id))
    wants_patient = (types is None or "Patient" in types) and _updated_since(patient, since)
    everything_list = [patient] if wants_patient else []
    everything_list += [s for s in related if _updated_since(s, since)]
    settings = ctx.settings
    count = int_parameter(query, "_count", settings.max_count, maximum=settings.max_count)
    offset = int_parameter(query, "_offset", 0)
    page = everything_list[offset : offset + count]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(everything_list),
        "link": links(
            f"{ctx.base_url}/Patient/{id}/$everything",
            normalised_query(query),
            count=count,
            offset=offset,
            page_size=len(page),
            total=len(everything_list),
        ),
    }
    if page:
        bundle["entry"] = [
            {
                "fullUrl": ctx.full_url(s.resource_type, s.id),
                "resource": s.json(),
                "search": {"mode": "match"},
            }
            for s in page
        ]
    return Result(Outcome.OK, body=bundle)
