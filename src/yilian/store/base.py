"""The repository contract every storage backend fulfils.

Modelled on Medplum's repository: backends implement a small set of primitives inside a
database transaction (`Session`); conditional create/update/delete are written once here on top
of search + primitives, so every backend behaves the same.  Every read takes a `Scope`, which
the SQL layer turns into part of the WHERE clause, so an access policy filters counts, paging
and includes inside the query rather than after it.

See http://hl7.org/fhir/R4/http.html for the interactions these primitives serve.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from yilian.fhir import jsontext
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.fhir.search.model import Condition, SearchRequest
from yilian.store.audit_log import (
    AuditCheckpoint,
    AuditEntry,
    AuditLink,
    AuditPage,
    AuditQuery,
    LoggedAuditEntry,
)
from yilian.store.feed_log import FeedMessage, FeedMessageQuery

__all__ = [
    "DEFAULT_PARTITION",
    "BulkPreparer",
    "ConsentGrant",
    "ExportScan",
    "HistoryPage",
    "HistoryRequest",
    "LoadStatus",
    "LoadedResource",
    "Partition",
    "Repository",
    "Scope",
    "SearchResult",
    "Session",
    "StoreUnavailableError",
    "StoredResource",
    "conditional_create",
    "conditional_delete",
    "conditional_update",
    "same_content",
]

_SORTED = orjson.OPT_SORT_KEYS

DEFAULT_PARTITION = "default"
"""The partition that writes through the alliance-wide base `/fhir/` land in."""


class StoreUnavailableError(ConnectionError):
    """The database could not be reached or opened (`Repository.open`); the message is one
    line that says which and why, for a command to print as it is."""


@dataclass(frozen=True, slots=True)
class Partition:
    """A member institution: its code (the `/fhir/{code}/` segment) and Organization."""

    code: str
    name: str
    organization_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentGrant:
    """Patients whose compartments a reader may see beyond its own partitions (an active
    Consent, or a break-the-glass window), less the resources carrying any of
    `excluded_labels` (meta.security codes such as `PSY` or `HIV`; system|code or bare code)
    and the resources of `excluded_types`; `partitions` (None: any) narrows the grant to the
    compartment rows stored in those institutions (a `patient/` scope inside one's own
    institution, or a read through one institution's base)."""

    patients: frozenset[str]
    excluded_labels: frozenset[str] = frozenset()
    partitions: frozenset[str] | None = None
    excluded_types: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows a read may see: rows in `partitions` (None: every partition), plus the
    patient-compartment rows each grant opens.  Writes are governed by `partitions` alone.
    `types` (None: every type) limits every row a read sees, includes included, to the
    resource types the reader's role may see.

    Access policy builds this object; the SQL layer is the one place that turns it into a
    predicate, so no read path can forget it."""

    partitions: frozenset[str] | None = None
    grants: tuple[ConsentGrant, ...] = ()
    types: frozenset[str] | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def partition(cls, code: str) -> Scope:
        return cls(frozenset({code}))

    def allows(self, partition: str) -> bool:
        """Whether a write may touch a resource stored in `partition`."""
        return self.partitions is None or partition in self.partitions


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One stored version of a resource.  `content` is the JSON as stored (with `id` and
    `meta.versionId` / `meta.lastUpdated` set); deleted versions have empty content."""

    resource_type: str
    id: str
    version: int
    last_updated: str  # FHIR instant, e.g. 2026-11-23T01:02:03.456789+00:00
    partition: str
    content: bytes
    deleted: bool = False

    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = jsontext.loads(self.content)
        return loaded

    @property
    def method(self) -> Literal["POST", "PUT", "DELETE"]:
        """The HTTP method that made this version, as a history Bundle reports it."""
        if self.deleted:
            return "DELETE"
        return "POST" if self.version == 1 else "PUT"


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A page of matches, the resources `_include`/`_revinclude` brought along, and the total
    (None when `_total=none` or not computed)."""

    matches: list[StoredResource]
    included: list[StoredResource] = field(default_factory=list)
    total: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """History of one instance (type and id), one type (type only) or the system (neither)."""

    resource_type: str | None = None
    id: str | None = None
    since: str | None = None  # normalised UTC instant (see fhir.search.model)
    at: str | None = None
    count: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[StoredResource]  # newest first
    total: int | None = None


@dataclass(frozen=True, slots=True)
class ExportScan:
    """What a Bulk Data export reads of one type (https://hl7.org/fhir/uv/bulkdata/export.html):
    current resources of `resource_type` inside `scope`, updated at or after `since` (a
    normalised instant), matching any of `filters` (each an AND of search conditions, the
    `_typeFilter` queries; empty: no filter), and, when `patients` is set, in the patient
    compartment of a visible Patient: any visible Patient (`patients` empty) or one of the
    listed ids (a Group's members)."""

    resource_type: str
    scope: Scope
    since: str | None = None
    filters: tuple[tuple[Condition, ...], ...] = ()
    patients: frozenset[str] | None = None
    batch_size: int = 1000


LoadStatus = Literal["created", "updated", "unchanged", "refused"]

BulkPreparer = Callable[[Sequence[dict[str, Any]], str], list[object]]
"""`Repository.bulk_preparer`: (resources with ids, partition) -> one opaque item each."""


@dataclass(frozen=True, slots=True)
class LoadedResource:
    """What `Session.bulk_load` did with one resource: created (version 1), updated (a new
    version), unchanged (the stored current version has the same content), or refused
    (`message` says why, e.g. the id belongs to another institution)."""

    resource_type: str
    id: str
    status: LoadStatus
    version: int = 0
    message: str = ""


def same_content(incoming: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Whether two versions of a resource say the same thing: equal JSON once
    `meta.versionId` and `meta.lastUpdated` (which the server sets) are set aside.  Numbers
    are the same only as written the same: `1.50` and `1.5` are equal floats but different
    decimals (http://hl7.org/fhir/R4/datatypes.html#decimal)."""
    left, right = _comparable(incoming), _comparable(stored)
    if left != right:
        return False
    try:
        return jsontext.dumps(left, _SORTED) == jsontext.dumps(right, _SORTED)
    except TypeError:  # beyond what orjson writes (an integer over 64 bits): equal as parsed
        return True


def _comparable(resource: dict[str, Any]) -> dict[str, Any]:
    meta = resource.get("meta")
    if not isinstance(meta, dict) or not ({"versionId", "lastUpdated"} & meta.keys()):
        return resource
    out = {k: v for k, v in resource.items() if k != "meta"}
    rest = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
    if rest:
        out["meta"] = rest
    return out


class Session(ABC):
    """The primitives, all inside one database transaction."""

    # -- reads ----------------------------------------------------------------------------
    @abstractmethod
    async def read(self, resource_type: str, id: str, scope: Scope) -> StoredResource:
        """The current version.  Raises OutcomeError not-found, or gone if it is deleted
        (the deleted StoredResource is not returned).  A resource outside `scope` is
        not-found."""

    @abstractmethod
    async def vread(self, resource_type: str, id: str, version: int, scope: Scope) -> StoredResource:
        """One version; a deleted version raises gone, a missing one not-found."""

    @abstractmethod
    async def search(self, request: SearchRequest, scope: Scope) -> SearchResult:
        """Run a search; includes and totals respect `scope` too."""

    @abstractmethod
    async def history(self, request: HistoryRequest, scope: Scope) -> HistoryPage:
        """Versions newest first, deleted versions included (as `deleted=True`)."""

    # -- writes ---------------------------------------------------------------------------
    @abstractmethod
    async def create(
        self, resource: dict[str, Any], partition: str, *, id: str | None = None
    ) -> StoredResource:
        """Store version 1.  The server assigns the id unless `id` is given (update-as-create);
        it sets `id`, `meta.versionId` and `meta.lastUpdated`.  An id that exists (in any
        partition, even deleted) raises conflict."""

    @abstractmethod
    async def update(
        self, resource: dict[str, Any], partition: str, *, if_match: int | None = None, scope: Scope
    ) -> tuple[StoredResource, bool]:
        """Store a new version of `resource["id"]`, creating it if absent (returns created
        True).  `if_match` is the expected current version: a mismatch raises
        precondition-failed.  An existing resource outside `scope` raises not-found; a resource is never moved
        between partitions (the stored partition wins)."""

    @abstractmethod
    async def delete(self, resource_type: str, id: str, scope: Scope) -> StoredResource | None:
        """Mark deleted (a new, empty version).  Deleting an absent or already deleted resource
        returns None (delete is idempotent, http://hl7.org/fhir/R4/http.html#delete)."""

    @abstractmethod
    async def resolve_ids(self, resource_type: str, criteria: Sequence[Condition], scope: Scope) -> list[str]:
        """Ids of current resources of `resource_type` matching every criterion, at most 2
        (enough to tell none / one / many apart for conditional interactions)."""

    # -- bulk loading (Bulk Data $import, yilian import) ------------------------------------
    async def bulk_load(
        self, resources: Sequence[dict[str, Any]], partition: str, scope: Scope
    ) -> list[LoadedResource]:
        """Store each resource under its own id, PUT-style (http://hl7.org/fhir/uv/bulkdata/):
        absent -> version 1 in `partition`; present with the same content (`same_content`)
        -> unchanged, no new version; present with other content (or deleted) -> a new version
        in its stored partition; present outside `scope` -> refused.  Every resource needs
        `resourceType` and `id`, and no (type, id) may appear twice.  Results come back in
        input order.  This reference version takes the single-resource primitives; the SQL
        backends write a whole batch in a few statements (store/sql/bulk_load.py)."""
        out: list[LoadedResource] = []
        for resource in resources:
            rtype, rid = str(resource["resourceType"]), str(resource["id"])
            try:
                current: StoredResource | None = await self.read(rtype, rid, Scope.everything())
            except OutcomeError as missing:
                if missing.kind not in (Outcome.NOT_FOUND, Outcome.GONE):
                    raise
                current = None
            if current is not None and not scope.allows(current.partition):
                out.append(LoadedResource(rtype, rid, "refused", message=refused_message(rtype, rid)))
                continue
            if current is not None and same_content(resource, current.json()):
                out.append(LoadedResource(rtype, rid, "unchanged", current.version))
                continue
            stored, created = await self.update(resource, partition, scope=scope)
            out.append(LoadedResource(rtype, rid, "created" if created else "updated", stored.version))
        return out

    async def bulk_load_prepared(
        self, prepared: Sequence[object], partition: str, scope: Scope
    ) -> list[LoadedResource]:
        """`bulk_load` of resources already turned into rows by the repository's
        `bulk_preparer` (possibly in another process); only called when it offers one."""
        raise OutcomeError.not_supported("this store has no bulk preparer")

    # -- the audit log (store.audit_log) ----------------------------------------------------
    async def search_audit(self, query: AuditQuery) -> AuditPage:
        """Entries of the audit log matching `query`, newest first, read in this transaction
        (the `AuditEvent` search route).  A backend without an audit log refuses."""
        raise OutcomeError.not_supported("this store keeps no audit log")


class Repository(ABC):
    """A database holding an alliance's resources."""

    @abstractmethod
    async def open(self) -> None:
        """Connect, and create or upgrade the schema (migrations run in order, once)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def transaction(self, *, read_only: bool = False) -> AbstractAsyncContextManager[Session]:
        """A Session bound to one database transaction: committed when the block exits
        normally, rolled back when it raises."""

    # -- partitions (member institutions) -------------------------------------------------
    @abstractmethod
    async def add_partition(self, partition: Partition) -> None:
        """Register an institution; raises conflict if the code exists."""

    @abstractmethod
    async def list_partitions(self) -> list[Partition]: ...

    @abstractmethod
    async def remove_partition(self, code: str) -> None:
        """Unregister an institution.  Raises not-found for an unknown code and conflict while
        the partition still holds current resources other than its own Organization."""

    @abstractmethod
    async def schema_version(self) -> int: ...

    async def iter_partitions(self) -> AsyncIterator[Partition]:
        for p in await self.list_partitions():
            yield p

    # -- bulk loading ---------------------------------------------------------------------------
    def bulk_preparer(self) -> BulkPreparer | None:
        """A function turning checked resources (each with its id) into what
        `Session.bulk_load_prepared` writes (stamped JSON, index rows), so a bulk load can do
        that work in worker processes (picklable when the store's codec is); None: use
        `Session.bulk_load`."""
        return None

    # -- the audit log (store.audit_log) ----------------------------------------------------
    # Not abstract, so a Repository wrapper or a store without a log still instantiates; the
    # SQL backends implement them all (store/sql/audit.py).
    async def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditLink]:
        """Append `entries` in order in one transaction, chaining each to the head; appenders
        are serialised, so concurrent ones (several worker processes) never fork the chain.
        Returns each appended entry's seq and hash."""
        raise OutcomeError.not_supported("this store keeps no audit log")

    async def audit_entries(self, after_seq: int = 0, limit: int = 1000) -> list[LoggedAuditEntry]:
        """Up to `limit` entries with seq > `after_seq`, in seq order (for verification)."""
        raise OutcomeError.not_supported("this store keeps no audit log")

    async def audit_head(self) -> AuditLink:
        """The last appended entry's seq and hash (seq 0 and GENESIS_HASH when empty)."""
        raise OutcomeError.not_supported("this store keeps no audit log")

    async def add_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        """Keep a signed checkpoint (a second one for the same seq is ignored)."""
        raise OutcomeError.not_supported("this store keeps no audit log")

    async def audit_checkpoints(self) -> list[AuditCheckpoint]:
        """Every checkpoint, in seq order."""
        raise OutcomeError.not_supported("this store keeps no audit log")

    async def search_audit(self, query: AuditQuery) -> AuditPage:
        """Entries matching `query`, newest first, in a read-only transaction of its own."""
        raise OutcomeError.not_supported("this store keeps no audit log")

    # -- bulk data jobs (bulk/jobs.py) and the export scan ------------------------------------
    # Not abstract either; the SQL backends implement them (store/sql/jobs.py, export_scan.py).
    async def save_job(self, job: Mapping[str, Any], *, only_if: Sequence[str] | None = None) -> bool:
        """Store the job document `job` (a JSON object with at least id, kind, status, owner,
        updated) under `job["id"]`.  With `only_if`, only replace a stored job whose status is
        one of those (compare-and-set, so a cancel is never overwritten by progress); returns
        whether it was written."""
        raise OutcomeError.not_supported("this store keeps no bulk data jobs")

    async def load_job(self, job_id: str) -> dict[str, Any] | None:
        """The job document saved under `job_id`, or None."""
        raise OutcomeError.not_supported("this store keeps no bulk data jobs")

    async def export_types(self, scan: ExportScan) -> list[str]:
        """The resource types `scan` (its `resource_type` ignored) would find rows of, sorted."""
        raise OutcomeError.not_supported("this store cannot export")

    async def export_count(self, scan: ExportScan) -> int:
        """How many resources `scan` will yield (for progress and ETA)."""
        raise OutcomeError.not_supported("this store cannot export")

    def export_scan(self, scan: ExportScan) -> AsyncIterator[list[StoredResource]]:
        """The current, not deleted resources `scan` selects, in batches of `scan.batch_size`,
        each batch read in a short transaction of its own and paged by key (never OFFSET), so
        memory stays flat and no transaction stays open however large the export."""
        raise OutcomeError.not_supported("this store cannot export")

    # -- the feed log (store.feed_log): received messages ------------------------------------
    # Not abstract either; the SQL backends implement them (store/sql/feed_log.py).
    async def save_feed_message(self, message: FeedMessage) -> None:
        """Insert or replace the message with `message.id` (its first `received` is kept)."""
        raise OutcomeError.not_supported("this store keeps no feed log")

    async def count_feed_delivery(self, id: str, updated: str) -> None:
        """Count one more delivery of a message that was already stored."""
        raise OutcomeError.not_supported("this store keeps no feed log")

    async def find_feed_messages(self, sending_facility: str, control_id: str) -> list[FeedMessage]:
        """The messages a sender numbered `control_id` (MSH-4, MSH-10), newest first: usually
        one, but senders reuse numbers (a counter reset by a restart)."""
        raise OutcomeError.not_supported("this store keeps no feed log")

    async def load_feed_message(self, id: str) -> FeedMessage | None:
        raise OutcomeError.not_supported("this store keeps no feed log")

    async def search_feed_messages(self, query: FeedMessageQuery) -> list[FeedMessage]:
        """Messages matching `query`, newest first, at most `query.limit`."""
        raise OutcomeError.not_supported("this store keeps no feed log")


# ------------------------------------------------------------------ conditional interactions
# Written once on top of the primitives (http://hl7.org/fhir/R4/http.html#cond-update).


async def conditional_create(
    session: Session, resource: dict[str, Any], partition: str, criteria: Sequence[Condition], scope: Scope
) -> tuple[StoredResource, bool]:
    """Create unless a match exists (If-None-Exist).  Returns (resource, created)."""
    rtype = str(resource["resourceType"])
    ids = await session.resolve_ids(rtype, criteria, scope)
    if len(ids) > 1:
        raise _multiple_matches("If-None-Exist", len(ids))
    if ids:
        return await session.read(rtype, ids[0], scope), False
    return await session.create(resource, partition), True


async def conditional_update(
    session: Session,
    resource: dict[str, Any],
    partition: str,
    criteria: Sequence[Condition],
    scope: Scope,
    *,
    if_match: int | None = None,
) -> tuple[StoredResource, bool]:
    """Update the single match, or create when none matches; many matches is an error.
    `if_match` (If-Match) makes it a versioned update of the match: a different current
    version, or no match at all, is precondition-failed."""
    rtype = str(resource["resourceType"])
    ids = await session.resolve_ids(rtype, criteria, scope)
    if len(ids) > 1:
        raise _multiple_matches("conditional update", len(ids))
    if ids:
        body_id = resource.get("id")
        if body_id is not None and body_id != ids[0]:
            raise OutcomeError.invalid(
                f"resource id {body_id!r} differs from the id {ids[0]!r} the condition matched", ["id"]
            )
        return await session.update({**resource, "id": ids[0]}, partition, if_match=if_match, scope=scope)
    if if_match is not None:
        raise OutcomeError.precondition_failed(
            f"If-Match expects version {if_match}, but no {rtype} matches the conditional update"
        )
    body_id = resource.get("id")
    if body_id is not None:
        return await session.update(resource, partition, scope=scope)
    return await session.create(resource, partition), True


async def conditional_delete(
    session: Session, resource_type: str, criteria: Sequence[Condition], scope: Scope
) -> StoredResource | None:
    """Delete the single match (none: nothing to do; many: error)."""
    ids = await session.resolve_ids(resource_type, criteria, scope)
    if len(ids) > 1:
        raise _multiple_matches("conditional delete", len(ids))
    if not ids:
        return None
    return await session.delete(resource_type, ids[0], scope)


def refused_message(resource_type: str, id: str) -> str:
    """Why a bulk load refused a resource whose id another institution holds."""
    return (
        f"{resource_type}/{id} exists in another institution's partition; "
        "an import may only create or update resources of its own institution"
    )


def _multiple_matches(what: str, n: int) -> OutcomeError:
    return OutcomeError(
        Outcome.PRECONDITION_FAILED,
        IssueType.MULTIPLE_MATCHES,
        f"{what}: the criteria match more than one resource ({n} or more); make them more selective",
    )
