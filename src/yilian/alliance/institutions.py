"""Member institutions: registering, listing and removing them.

Every member of an alliance (a county hospital, a township health centre, a village clinic)
owns one partition of the store and gets its own FHIR base, `/fhir/{code}/`.  Each is also an
Organization resource (http://hl7.org/fhir/R4/organization.html) identified by
`urn:yilian:institution|{code}`, so clinical resources can reference their source institution
the FHIR way.  The repository keeps the partition table; this module keeps the two in step.

Codes are lowercase letters, digits and hyphens: resource types always begin with an upper-case
letter, so `/fhir/{code}/Patient` can never be mistaken for `/fhir/{Type}/{id}`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from yilian.alliance.identifiers import INSTITUTION_SYSTEM
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.store.base import DEFAULT_PARTITION, Partition, Repository, Scope

__all__ = [
    "INSTITUTION_SYSTEM",
    "RESERVED_CODES",
    "list_institutions",
    "register_institution",
    "remove_institution",
    "validate_code",
]


_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RESERVED_CODES = frozenset({DEFAULT_PARTITION, "metadata"})
"""`default` is the alliance base's partition; `/fhir/metadata` is the CapabilityStatement, so
an institution of that name could never be reached."""


def validate_code(code: str) -> str:
    """Return `code` if it can name an institution, else raise a 400 OutcomeError saying why."""
    if not _CODE.fullmatch(code):
        raise OutcomeError.invalid(
            f"institution code {code!r} must be 1-63 characters of lowercase letters, digits and "
            "hyphens, starting with a letter or digit"
        )
    if code in RESERVED_CODES:
        raise OutcomeError.invalid(f"institution code {code!r} is reserved")
    return code


def organization_resource(code: str, name: str) -> dict[str, Any]:
    """The Organization that stands for an institution."""
    return {
        "resourceType": "Organization",
        "identifier": [{"system": INSTITUTION_SYSTEM, "value": code}],
        "active": True,
        "name": name,
    }


async def register_institution(repository: Repository, code: str, name: str) -> Partition:
    """Register an institution: its partition and its Organization (stored in that partition).

    The repository contract keeps partitions outside the resource transaction, so the steps
    run in the order that can be undone: the Organization id is chosen first, the partition
    is added with it (a duplicate code fails here, before anything is written), then the
    Organization is created in its own transaction; if that fails the partition is removed
    again, so a failed registration leaves nothing behind."""
    validate_code(code)
    name = name.strip()
    if not name:
        raise OutcomeError.invalid("institution name must not be empty", ["Organization.name"])
    if any(p.code == code for p in await repository.list_partitions()):
        raise OutcomeError.conflict(f"institution {code!r} is already registered")
    partition = Partition(code=code, name=name, organization_id=str(uuid.uuid4()))
    await repository.add_partition(partition)
    try:
        async with repository.transaction() as session:
            await session.create(organization_resource(code, name), code, id=partition.organization_id)
    except BaseException:
        await repository.remove_partition(code)
        raise
    return partition


async def list_institutions(repository: Repository) -> list[Partition]:
    """Registered institutions, ordered by code (the `default` partition is not one)."""
    return sorted(
        (p for p in await repository.list_partitions() if p.code != DEFAULT_PARTITION),
        key=lambda p: p.code,
    )


async def remove_institution(repository: Repository, code: str) -> Partition:
    """Unregister an institution and delete its Organization.

    Refused (conflict, from the repository) while the institution still holds other current
    resources: removing a member must not orphan its records silently."""
    found = next((p for p in await repository.list_partitions() if p.code == code), None)
    if found is None or code == DEFAULT_PARTITION:
        raise OutcomeError(Outcome.NOT_FOUND, IssueType.NOT_FOUND, f"institution {code!r} is not registered")
    await repository.remove_partition(code)
    if found.organization_id is not None:
        async with repository.transaction() as session:
            await session.delete("Organization", found.organization_id, Scope.everything())
    return found
