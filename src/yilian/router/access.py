"""The default access policy: institution bases see their own partition, the alliance base
sees everything.

It is what the router uses when no other policy is given (authentication off, unit tests of
the REST semantics).  With authentication on, the composition root passes
`yilian.privacy.policy`'s policy instead, which narrows the same `Access` by role, scopes and
consent; either way the store turns `Access.scope` into part of every query's WHERE clause.
"""

from __future__ import annotations

from yilian.privacy.model import Access, AccessRecord, AccessRequest
from yilian.store.base import DEFAULT_PARTITION, Repository, Scope

__all__ = ["Access", "NoAudit", "PartitionPolicy", "access_for"]


def access_for(partition: str | None) -> Access:
    """The access an interaction through base `partition` (None: the alliance base) has."""
    if partition is None:
        return Access(Scope.everything(), DEFAULT_PARTITION)
    return Access(Scope.partition(partition), partition)


class PartitionPolicy:
    """Partition boundaries only: no roles, no scopes, no consent."""

    async def access(self, repository: Repository, request: AccessRequest) -> Access:
        return access_for(request.partition)


class NoAudit:
    """Records nothing (authentication off, unit tests)."""

    async def record(self, record: AccessRecord) -> None:
        return None
