"""The contract between the router's guards and the privacy package.

For every interaction the router asks an `AccessPolicy` for an `Access` (which rows reads may
see, where writes land), or gets a forbidden `OutcomeError`; afterwards it hands an
`AccessRecord` of what happened (allowed or denied) to an `AuditSink`.  Policy and audit are
chosen at the composition root, so the interactions themselves never test a role or write
an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from yilian.auth.principal import Principal
from yilian.store.base import Repository, Scope

__all__ = ["Access", "AccessPolicy", "AccessRecord", "AccessRequest", "AuditSink"]


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """What is being attempted: `interaction` is the router's name for it (`read`, `vread`,
    `search-type`, `search-system`, `history-instance`, `history-type`, `history-system`,
    `create`, `update`, `patch`, `delete`, `capabilities`, `bundle`, `operation`, ...),
    `partition` the institution of the base used (None: the alliance base), `operation` the
    `$name` for operations."""

    principal: Principal
    interaction: str
    partition: str | None
    resource_type: str | None = None
    resource_id: str | None = None
    operation: str | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """`scope` filters every read (and the resource an update or delete may touch);
    `write_partition` receives newly created resources; `break_glass` marks access granted
    under an emergency window (audited and reported)."""

    scope: Scope
    write_partition: str
    break_glass: bool = False


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One access or denial, as the audit trail keeps it.  `outcome` is the HTTP-style status
    the caller got (`200`, `403`, ...); `query` the search/operation parameters; `entities`
    the `Type/id`s returned or touched (first page of a search)."""

    principal: Principal
    interaction: str
    partition: str | None
    outcome: int
    resource_type: str | None = None
    resource_id: str | None = None
    query: str = ""
    entities: tuple[str, ...] = ()
    break_glass: bool = False
    detail: str = ""
    recorded: str = ""  # FHIR instant; set by the sink when empty
    patients: tuple[str, ...] = field(default=())  # Patient ids whose records were touched


class AccessPolicy(Protocol):
    """Decides the access of one interaction; raises OutcomeError (forbidden) to refuse."""

    async def access(self, repository: Repository, request: AccessRequest) -> Access: ...


class AuditSink(Protocol):
    """Receives every access and denial; must not fail the request it records."""

    async def record(self, record: AccessRecord) -> None: ...
