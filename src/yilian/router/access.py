"""Which rows an interaction may see and where its writes land: the one place that decides.

An institution's base (`/fhir/{code}/`) reads and writes only that institution's partition;
the alliance-wide base (`/fhir/`) reads every partition and writes new resources to
`DEFAULT_PARTITION`.  Access policy (consent, roles; a later issue) replaces `access_for` and
narrows the `Scope`, which the store turns into part of every query's WHERE clause, so counts,
paging and includes are filtered inside the database rather than after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from yilian.store.base import DEFAULT_PARTITION, Scope

__all__ = ["Access", "access_for"]


@dataclass(frozen=True, slots=True)
class Access:
    """`scope` filters every read (and the resource an update or delete may touch);
    `write_partition` receives newly created resources."""

    scope: Scope
    write_partition: str


def access_for(partition: str | None) -> Access:
    """The access an interaction through base `partition` (None: the alliance base) has."""
    if partition is None:
        return Access(Scope.everything(), DEFAULT_PARTITION)
    return Access(Scope.partition(partition), partition)
