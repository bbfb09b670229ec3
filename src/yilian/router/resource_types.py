"""The R4 resource types this server accepts (http://hl7.org/fhir/R4/resourcelist.html):
every concrete type of the structure table (abstract `Resource` and `DomainResource` are not
types a client can store)."""

from __future__ import annotations

from functools import cache

from yilian.fhir.definitions.structures import structures

__all__ = ["is_resource_type", "resource_types"]


@cache
def resource_types() -> tuple[str, ...]:
    """All concrete R4 resource types, sorted."""
    return tuple(sorted(structures().resource_types))


def is_resource_type(name: str) -> bool:
    return structures().is_resource_type(name)
