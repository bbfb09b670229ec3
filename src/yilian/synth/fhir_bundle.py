"""One registration's resources as a FHIR transaction Bundle (http://hl7.org/fhir/R4/http.html#transaction).

Each entry is a conditional update, `PUT Type?identifier=system|value`
(http://hl7.org/fhir/R4/http.html#cond-update), so loading the same Bundle twice finds what
the first load made and changes nothing; fullUrls are `urn:uuid:` of the resource's
deterministic id and the Bundle's references between its entries are rewritten to them, so
the server assigns its own ids.  The member's Organization and staff are referenced
logically, never created by these Bundles: `BundleWriter.members` makes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from yilian.alliance.identifiers import practitioner_system
from yilian.synth.alliance import Alliance
from yilian.synth.fhir_out import directory_resources, registration_resources, resource_id
from yilian.synth.model import Directory, History, Registration

__all__ = ["BundleWriter", "alliance_bundles", "transaction"]


def _conditional_url(resource: dict[str, Any]) -> str:
    identifier = resource["identifier"][0]
    token = f"{identifier['system']}|{identifier['value']}"
    return f"{resource['resourceType']}?identifier={quote(token, safe=':|/')}"


def _rewrite(value: Any, urls: dict[str, str], logical: dict[str, dict[str, Any]]) -> Any:
    if isinstance(value, dict):
        target = value.get("reference")
        if target is not None and target in logical:
            return logical[target]
        return {
            k: (urls.get(v, v) if k == "reference" else _rewrite(v, urls, logical)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, urls, logical) for v in value]
    return value


def transaction(
    resources: list[dict[str, Any]], logical: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A transaction of conditional updates of `resources`: ids dropped, references between
    them rewritten to their `urn:uuid:` fullUrls, references named in `logical` replaced by
    the logical reference given there."""
    urls = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{r['id']}" for r in resources}
    logical = logical or {}
    entries = []
    for resource in resources:
        body = {k: _rewrite(v, urls, logical) for k, v in resource.items() if k != "id"}
        entries.append(
            {
                "fullUrl": f"urn:uuid:{resource['id']}",
                "resource": body,
                "request": {"method": "PUT", "url": _conditional_url(resource)},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


class BundleWriter:
    """Transaction Bundles of one alliance: practitioners are referenced logically (by staff
    number, `practitioner_system`), so a registration's Bundle loads whether or not its
    member's staff were loaded first."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.logical: dict[str, dict[str, Any]] = {}
        for p in directory.practitioners:
            system = practitioner_system(p.institution)
            self.logical[f"Practitioner/{resource_id(system, p.id)}"] = {
                "identifier": {"system": system, "value": p.id},
                "display": p.name,
            }

    def registration(self, history: History, registration: Registration) -> dict[str, Any]:
        """What `registration`'s member holds about the person."""
        return transaction(registration_resources(history, registration, self.directory), self.logical)

    def members(self, institution: str) -> dict[str, Any]:
        """A member's Organization and Practitioners."""
        return transaction(directory_resources(self.directory, institution))


def alliance_bundles(
    patients: int = 60, institutions: int = 3, seed: int = 2026
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(institution code, transaction Bundle) for a small alliance: each member's directory
    Bundle first, then one Bundle per registration, grouped by member (what the demo loads)."""
    alliance = Alliance(patients, institutions, seed)
    writer = BundleWriter(alliance.directory)
    histories = list(alliance.histories())
    for inst in alliance.directory.institutions:
        yield inst.code, writer.members(inst.code)
        for history in histories:
            for registration in history.registrations:
                if registration.institution == inst.code:
                    yield inst.code, writer.registration(history, registration)
