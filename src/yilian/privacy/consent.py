"""Patient-privacy Consents: the rule a Consent must follow to be stored, and the grants the
Consents in force give a reader (http://hl7.org/fhir/R4/consent.html).

A Consent with `scope` patient-privacy, `status` active, a `patient`, and a root provision of
type permit opens that patient's compartment in every institution to the recipients it names,
for the purposes it names, while `provision.period` contains the current time:

* purpose: `provision.purpose` codes (v3-ActReason TREAT, HPAYMT, HRESCH, PUBHLTH; ETREAT and
  TREAT both serve an emergency); a Consent naming no purpose grants nothing;
* recipients: `provision.actor`; an actor whose reference is an institution's Organization
  (`Organization/{id}`, or the identifier `urn:yilian:institution|{code}`) names that
  institution, an actor role coded in `ROLE_SYSTEM` names a role; an actor matches a reader
  when every part it names matches, and no actor at all means every institution of the
  alliance;
* data classes withheld: nested provisions of type deny; their `securityLabel` codes and
  their `class` codes become excluded labels, except classes of the system
  http://hl7.org/fhir/resource-types, which exclude whole resource types.

A Consent whose period has no end (or that has no period) is in force until it is revoked,
as FHIR reads it; an alliance whose rules make consents lapse sets `consent_lapse_days`, and
such a Consent then grants for that many days from its `dateTime` (or its period's start, or
when it was recorded), while one with an end keeps the end it names.

What yilian cannot enforce it refuses when the Consent is written (`check_consent`, called
by the router before every write), so a stored Consent never means more than it says: a
malformed period (`Consent.provision.period`), a permit narrowed by
`securityLabel`/`class`/`data`/`dataPeriod` (allow-lists), or a deny narrowed by `data` or
`dataPeriod`.  Consents are read afresh on every request through the repository, so a
revocation (status inactive, deletion, or an ended period) holds on the next request.  A
patient-privacy Consent without a provision is stored and grants nothing (it names no
purpose).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from yilian.alliance.institutions import INSTITUTION_SYSTEM
from yilian.fhir.outcome import Issue, IssueType, OutcomeError
from yilian.fhir.search.dates import date_range
from yilian.fhir.search.model import SearchRequest
from yilian.fhir.search.parse import parse_search
from yilian.store.base import ConsentGrant, Partition, Repository, Scope

__all__ = [
    "CONSENT_SCOPE_SYSTEM",
    "PURPOSE_OF_USE",
    "RESOURCE_TYPES_SYSTEM",
    "ROLE_SYSTEM",
    "Reader",
    "check_consent",
    "consent_grants",
    "key_of",
]

CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
ROLE_SYSTEM = "urn:yilian:role"
"""Codes of Consent.provision.actor.role that name a yilian role (doctor, nurse, ...)."""
RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"
PURPOSE_OF_USE: dict[str, tuple[str, ...]] = {
    "treatment": ("TREAT",),
    "emergency": ("ETREAT", "TREAT"),
    "payment": ("HPAYMT",),
    "research": ("HRESCH",),
    "public-health": ("PUBHLTH",),
}
"""The v3-ActReason codes a Consent must name for a reader's purpose of use."""

_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
_PAGE = 500
_PERIOD = "Consent.provision.period"
_EARLIEST = "0001-01-01T00:00:00.000000"
_OPEN_END = "9999-12-31T23:59:59.999999"


def key_of(moment: datetime) -> str:
    """A moment in the fixed-width UTC form `date_range` returns."""
    return moment.astimezone(UTC).strftime(_KEY_FORMAT)


@dataclass(frozen=True, slots=True)
class Reader:
    """Who asks, as a Consent's actors are matched against: institution code, its
    Organization id, role, and purpose of use."""

    institution: str | None
    organization_id: str | None
    role: str
    purpose: str


# ------------------------------------------------------------------------------ on write


def _unprocessable(message: str, where: str) -> OutcomeError:
    return OutcomeError.unprocessable([Issue(IssueType.BUSINESS_RULE, message, expression=(where,))])


def _is_privacy(resource: dict[str, Any]) -> bool:
    scope = resource.get("scope")
    codings = scope.get("coding", []) if isinstance(scope, dict) else []
    return any(isinstance(c, dict) and c.get("code") == "patient-privacy" for c in codings)


def _period(provision: dict[str, Any]) -> tuple[str, str, bool]:
    """`provision.period` as (low of start, high of end, whether it names an end); no period
    or no end runs to the end of time."""
    period = provision.get("period")
    if period is None:
        return _EARLIEST, _OPEN_END, False
    if not isinstance(period, dict):
        raise OutcomeError.invalid(f"{_PERIOD} must be a Period", [_PERIOD])
    start, end = period.get("start"), period.get("end")
    try:
        low = date_range(start)[0] if start is not None else _EARLIEST
        high = date_range(end)[1] if end is not None else _OPEN_END
    except (ValueError, TypeError, AttributeError) as exc:
        raise OutcomeError.invalid(f"{_PERIOD} is malformed: {exc}", [_PERIOD]) from exc
    if high < low:
        raise _unprocessable(f"{_PERIOD} ends before it starts", _PERIOD)
    return low, high, end is not None


def _lapses_at(resource: dict[str, Any], low: str, days: int) -> str:
    """Where a Consent without an end stops granting under `consent_lapse_days`: `days` after
    it was given (`dateTime`), else after its period starts, else after it was recorded."""
    meta = resource.get("meta")
    recorded = meta.get("lastUpdated") if isinstance(meta, dict) else None
    start = _key(resource.get("dateTime")) or (low if low != _EARLIEST else None) or _key(recorded)
    if start is None:
        return _EARLIEST  # nothing to count from: lapsed
    return key_of(datetime.strptime(start, _KEY_FORMAT).replace(tzinfo=UTC) + timedelta(days=days))


def _key(moment: Any) -> str | None:
    try:
        return date_range(moment)[0]
    except (ValueError, TypeError, AttributeError):
        return None


def check_consent(resource: dict[str, Any]) -> None:
    """Refuse a patient-privacy Consent yilian could not enforce as written (see the module
    docstring); other resources and other Consent scopes pass untouched."""
    if resource.get("resourceType") != "Consent" or not _is_privacy(resource):
        return
    provision = resource.get("provision")
    if provision is None:
        return
    if not isinstance(provision, dict):
        raise OutcomeError.invalid("Consent.provision must be an object", ["Consent.provision"])
    _period(provision)
    if provision.get("type", "permit") == "permit":
        for narrowing in ("securityLabel", "class", "data", "dataPeriod"):
            if provision.get(narrowing):
                raise _unprocessable(
                    f"Consent.provision.{narrowing} on a permit limits it to those data, which yilian "
                    "cannot enforce; withhold data classes in a nested provision of type deny",
                    f"Consent.provision.{narrowing}",
                )
    for i, nested in enumerate(provision.get("provision", []) or []):
        if not isinstance(nested, dict):
            continue
        if nested.get("type") == "deny":
            for narrowing in ("data", "dataPeriod", "provision"):
                if nested.get(narrowing):
                    raise _unprocessable(
                        f"a deny provision narrowed by {narrowing} is not supported; deny by "
                        "securityLabel or class",
                        f"Consent.provision.provision[{i}].{narrowing}",
                    )


# ------------------------------------------------------------------------------- on read


def _codes(concepts: Iterable[Any]) -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    for item in concepts:
        codings = item.get("coding", []) if isinstance(item, dict) and "coding" in item else [item]
        for c in codings:
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                found.add((c.get("system"), c["code"]))
    return found


def _actor_matches(actor: dict[str, Any], reader: Reader) -> bool:
    ref = actor.get("reference")
    ref = ref if isinstance(ref, dict) else {}
    literal = ref.get("reference")
    found = ref.get("identifier")
    ident: dict[str, Any] = found if isinstance(found, dict) else {}
    if isinstance(literal, str) and literal.startswith("Organization/"):
        if reader.organization_id is None or literal != f"Organization/{reader.organization_id}":
            return False
    elif ident.get("system") == INSTITUTION_SYSTEM and ident.get("value") != reader.institution:
        return False
    elif isinstance(literal, str) and literal:
        return False  # a Practitioner, a RelatedPerson...: not a reader this server can tell
    roles = {code for system, code in _codes([actor.get("role")]) if system == ROLE_SYSTEM}
    return not roles or reader.role in roles


def _grant(resource: dict[str, Any], reader: Reader, now: str, lapse_days: int = 0) -> ConsentGrant | None:
    """The grant one Consent gives `reader` now, or None; `lapse_days` > 0 ends a Consent
    that names no end that many days after it was given."""
    patient = (
        resource.get("patient", {}).get("reference") if isinstance(resource.get("patient"), dict) else None
    )
    if not isinstance(patient, str) or not patient.startswith("Patient/"):
        return None
    provision = resource.get("provision")
    if resource.get("status") != "active" or not _is_privacy(resource) or not isinstance(provision, dict):
        return None
    try:
        check_consent(resource)
        low, high, ends = _period(provision)
    except OutcomeError:
        return None  # written before the rule, or by a path around it: grant nothing
    if not ends and lapse_days > 0:
        high = min(high, _lapses_at(resource, low, lapse_days))
    if not (low <= now <= high) or provision.get("type", "permit") != "permit":
        return None
    wanted = set(PURPOSE_OF_USE.get(reader.purpose, ()))
    if not wanted & {code for _, code in _codes(provision.get("purpose", []))}:
        return None
    actors = [a for a in provision.get("actor", []) or [] if isinstance(a, dict)]
    if actors and not any(_actor_matches(a, reader) for a in actors):
        return None
    labels: set[str] = set()
    types: set[str] = set()
    for nested in provision.get("provision", []) or []:
        if not isinstance(nested, dict) or nested.get("type") != "deny":
            continue
        for system, code in _codes(nested.get("securityLabel", [])):
            labels.add(f"{system}|{code}" if system else code)
        for system, code in _codes(nested.get("class", [])):
            if system == RESOURCE_TYPES_SYSTEM:
                types.add(code)
            else:
                labels.add(f"{system}|{code}" if system else code)
    return ConsentGrant(
        frozenset({patient.removeprefix("Patient/")}), frozenset(labels), excluded_types=frozenset(types)
    )


def merge_grants(grants: Sequence[ConsentGrant]) -> tuple[ConsentGrant, ...]:
    """One grant per distinct set of exclusions, so the SQL has one predicate per group."""
    groups: dict[tuple[frozenset[str], frozenset[str]], set[str]] = {}
    for g in grants:
        groups.setdefault((g.excluded_labels, g.excluded_types), set()).update(g.patients)
    return tuple(
        ConsentGrant(frozenset(patients), labels, excluded_types=types)
        for (labels, types), patients in sorted(groups.items(), key=lambda kv: sorted(kv[1]))
    )


async def consent_grants(
    repository: Repository, reader: Reader, now: datetime, patient: str | None = None, *, lapse_days: int = 0
) -> tuple[ConsentGrant, ...]:
    """The grants of every Consent in force for `reader` (for one `patient` when given),
    read now through the repository; a patient with several Consents gets one grant each,
    merged by exclusions.  `lapse_days`: see the module docstring (0: consents without an
    end do not lapse)."""
    codes = PURPOSE_OF_USE.get(reader.purpose)
    if not codes:
        return ()
    at = key_of(now)
    found: list[ConsentGrant] = []
    offset = 0
    async with repository.transaction(read_only=True) as session:
        while True:
            request = _consent_search(codes, patient, offset)
            page = await session.search(request, Scope.everything())
            for stored in page.matches:
                grant = _grant(stored.json(), reader, at, lapse_days)
                if grant is not None:
                    found.append(grant)
            if len(page.matches) < _PAGE:
                break
            offset += _PAGE
    return merge_grants(found)


@lru_cache(maxsize=1024)
def _consent_search(codes: tuple[str, ...], patient: str | None, offset: int) -> SearchRequest:
    """The search for the Consents in force for a purpose (and a patient), parsed once per
    shape: the query runs on every request, its parsing need not."""
    params = [
        ("status", "active"),
        ("scope", f"{CONSENT_SCOPE_SYSTEM}|patient-privacy"),
        ("purpose", ",".join(codes)),
        ("_count", str(_PAGE)),
    ]
    if patient is not None:
        params.append(("patient", f"Patient/{patient}"))
    return parse_search(["Consent"], [*params, ("_offset", str(offset))])


def organization_of(partitions: Sequence[Partition], code: str | None) -> str | None:
    """The Organization id of institution `code`, if registered."""
    return next((p.organization_id for p in partitions if p.code == code), None)
