"""The database schema, as an ordered list of migrations.

`Repository.open()` applies every migration a database lacks, each in its own transaction,
and records it in `schema_migrations`, so an older database upgrades in place.  Migrations
are append-only: a released step is never edited, a change is a new step.

Tables (column types come from the `Dialect`):

* `partition`: the member institutions (DESIGN.md "Every row carries its partition").
* `resource`: the current version of every resource, keyed by the surrogate `rid`;
  `(res_type, res_id)` is unique across the alliance, the partition is an attribute.
* `resource_history`: every version, the current one included, so vread and history read
  one table (http://hl7.org/fhir/R4/http.html#history).
* `idx_*`: search-index rows extracted at write time, one table per search parameter type
  (http://hl7.org/fhir/R4/search.html#ptypes), keyed by `rid`.  Deleted resources have none.
* `audit_*`: the hash-chained audit log (migration 4; store/audit_log.py).
* `compartment`, `security_label`: per version, the patients whose compartment it is in and
  the security labels it carries, for consent grants (migration 3; store/sql/compartment.py).
* `bulk_job`: Bulk Data `$export`/`$import` jobs, so every worker answers polls (migration 6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from yilian.store.audit_log import GENESIS_HASH
from yilian.store.base import DEFAULT_PARTITION
from yilian.store.sql.compartment import compartment_tables
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.feed_log import feed_log_tables
from yilian.store.sql.fragment import Sql

__all__ = ["FEED_LOG_MIGRATION", "KEYS_MIGRATION", "MIGRATIONS", "Migration", "migrations_table"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its number (1, 2, ...), a name, and the statements for a dialect."""

    version: int
    name: str
    statements: Callable[[Dialect], list[Sql]]


KEYS_MIGRATION = 5
"""The migration that creates `encryption_key` (the start-up key check needs it)."""

FEED_LOG_MIGRATION = 7
"""The migration that creates `feed_message` (a key rotation re-seals its bytes)."""


def migrations_table(d: Dialect) -> Sql:
    """The bookkeeping table, created before any migration runs."""
    return Sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)"
    )


def _core(d: Dialect) -> list[Sql]:
    k, f, b = d.key_text, d.float_type, d.bool_type
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    return [
        Sql(
            "CREATE TABLE partition (code TEXT PRIMARY KEY, name TEXT NOT NULL, "
            "organization_id TEXT, created TEXT NOT NULL)"
        ),
        Sql(
            "INSERT INTO partition (code, name, organization_id, created) VALUES (?, ?, NULL, ?)",
            (DEFAULT_PARTITION, "Alliance-wide default partition", now),
        ),
        Sql(
            f"CREATE TABLE resource (rid {d.rid_primary_key}, res_type {k} NOT NULL, res_id {k} NOT NULL, "
            f"partition TEXT NOT NULL, version INTEGER NOT NULL, last_updated TEXT NOT NULL, "
            f"last_updated_key {k} NOT NULL, deleted {b} NOT NULL, content {d.content_type} NOT NULL, "
            "UNIQUE (res_type, res_id))"
        ),
        Sql("CREATE INDEX resource_type_updated ON resource (res_type, last_updated_key)"),
        Sql("CREATE INDEX resource_partition ON resource (partition, res_type)"),
        Sql(
            f"CREATE TABLE resource_history (rid {d.rid_type} NOT NULL REFERENCES resource (rid), "
            f"version INTEGER NOT NULL, partition TEXT NOT NULL, last_updated TEXT NOT NULL, "
            f"last_updated_key {k} NOT NULL, deleted {b} NOT NULL, content {d.content_type} NOT NULL, "
            "PRIMARY KEY (rid, version))"
        ),
        Sql("CREATE INDEX resource_history_updated ON resource_history (last_updated_key)"),
        Sql(
            f"CREATE TABLE idx_string (rid {d.rid_type} NOT NULL, param {k} NOT NULL, "
            f"value_norm {k}, value_exact {k})"
        ),
        Sql(
            f"CREATE TABLE idx_token (rid {d.rid_type} NOT NULL, param {k} NOT NULL, system {k}, code {k}, "
            f"display {k})"
        ),
        Sql(f"CREATE TABLE idx_date (rid {d.rid_type} NOT NULL, param {k} NOT NULL, low {k}, high {k})"),
        Sql(f"CREATE TABLE idx_number (rid {d.rid_type} NOT NULL, param {k} NOT NULL, low {f}, high {f})"),
        Sql(
            f"CREATE TABLE idx_quantity (rid {d.rid_type} NOT NULL, param {k} NOT NULL, "
            f"system {k}, code {k}, unit {k}, low {f}, high {f})"
        ),
        Sql(
            f"CREATE TABLE idx_reference (rid {d.rid_type} NOT NULL, param {k} NOT NULL, target_type {k}, "
            f"target_id {k}, url {k}, version {k}, ident_system {k}, ident_value {k})"
        ),
        Sql(f"CREATE TABLE idx_uri (rid {d.rid_type} NOT NULL, param {k} NOT NULL, value {k})"),
        *(
            Sql(f"CREATE INDEX {t}_rid ON {t} (rid, param)")
            for t in (
                "idx_string",
                "idx_token",
                "idx_date",
                "idx_number",
                "idx_quantity",
                "idx_reference",
                "idx_uri",
            )
        ),
    ]


COMPOSITE_SLOTS = (1, 2, 3)
"""Component positions of a composite row.  The R4 composites are token or reference first,
then token, quantity, date, string, uri or number (three components at most)."""


def _composite(d: Dialect) -> list[Sql]:
    """Composite parameters (http://hl7.org/fhir/R4/search.html#composite): one row per
    combination, with a generic set of columns per component slot, so one table serves every
    shape: token/reference in system+code, quantity in system+code+unit+nlo/nhi, number in
    nlo/nhi, date in dlo/dhi, string (normalised) and uri in text."""
    k, f = d.key_text, d.float_type
    cols = ", ".join(
        f"c{i}_system {k}, c{i}_code {k}, c{i}_unit {k}, c{i}_text {k}, "
        f"c{i}_nlo {f}, c{i}_nhi {f}, c{i}_dlo {k}, c{i}_dhi {k}"
        for i in COMPOSITE_SLOTS
    )
    return [
        Sql(f"CREATE TABLE idx_composite (rid {d.rid_type} NOT NULL, param {k} NOT NULL, {cols})"),
        Sql("CREATE INDEX idx_composite_rid ON idx_composite (rid, param)"),
        Sql("CREATE INDEX idx_composite_search ON idx_composite (param, c1_code, c1_system)"),
    ]


def _search_indexes(d: Dialect) -> list[Sql]:
    """B-tree indexes that let a search start from the index tables instead of scanning
    resources: equality and prefix ranges on the value columns, led by the parameter code."""
    return [
        Sql("CREATE INDEX idx_string_search ON idx_string (param, value_norm)"),
        Sql("CREATE INDEX idx_token_search ON idx_token (param, code, system)"),
        Sql("CREATE INDEX idx_date_search ON idx_date (param, low, high)"),
        Sql("CREATE INDEX idx_number_search ON idx_number (param, low, high)"),
        Sql("CREATE INDEX idx_quantity_search ON idx_quantity (param, code, low)"),
        Sql("CREATE INDEX idx_reference_target ON idx_reference (target_id, target_type, param)"),
        Sql("CREATE INDEX idx_reference_url ON idx_reference (url, param)"),
        Sql("CREATE INDEX idx_reference_ident ON idx_reference (ident_value, ident_system)"),
        Sql("CREATE INDEX idx_uri_search ON idx_uri (param, value)"),
    ]


def _encryption_keys(d: Dialect) -> list[Sql]:
    """The keys the database has used (store/sql/keys.py): encryption key ids named in the
    envelopes of sensitive identifiers, and the id of the key their search rows are hashed
    with.  A key is retired once `yilian keys rotate` has moved every value off it; the
    server refuses to start when a key still in use is not configured."""
    k = d.key_text
    return [
        Sql(
            f"CREATE TABLE encryption_key (purpose {k} NOT NULL, key_id {k} NOT NULL, "
            "first_used TEXT NOT NULL, retired TEXT, PRIMARY KEY (purpose, key_id))"
        )
    ]


def _audit_log(d: Dialect) -> list[Sql]:
    """The append-only, hash-chained audit log (store/audit_log.py, store/sql/audit.py):
    one row per AuditEvent with the columns its search reads, the patients it names, the
    chain head (the one row appenders lock, so the chain never forks) and the signed
    checkpoints."""
    k, c = d.key_text, d.content_type
    return [
        Sql(
            f"CREATE TABLE audit_log (seq BIGINT PRIMARY KEY, recorded TEXT NOT NULL, "
            f"recorded_key {k} NOT NULL, subject {k} NOT NULL, role TEXT NOT NULL, institution {k}, "
            f"partition {k}, outcome {k} NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, "
            f"event {c} NOT NULL)"
        ),
        Sql("CREATE INDEX audit_log_subject ON audit_log (subject, seq)"),
        Sql("CREATE INDEX audit_log_recorded ON audit_log (recorded_key)"),
        Sql("CREATE INDEX audit_log_institution ON audit_log (institution, seq)"),
        Sql("CREATE INDEX audit_log_partition ON audit_log (partition, seq)"),
        Sql(
            f"CREATE TABLE audit_patient (patient {k} NOT NULL, seq BIGINT NOT NULL, "
            "PRIMARY KEY (patient, seq))"
        ),
        Sql("CREATE INDEX audit_patient_seq ON audit_patient (seq)"),
        Sql("CREATE TABLE audit_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)"),
        Sql("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?)", (GENESIS_HASH,)),
        Sql(
            "CREATE TABLE audit_checkpoint (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, "
            "signature TEXT NOT NULL, created TEXT NOT NULL)"
        ),
    ]


def _bulk_jobs(d: Dialect) -> list[Sql]:
    """Bulk Data jobs (bulk/jobs.py, store/sql/jobs.py): one row per `$export`/`$import` job,
    its JSON document plus the columns a poll or a cleanup reads, so any worker process can
    answer a status poll for a job another one runs."""
    k, c = d.key_text, d.content_type
    return [
        Sql(
            f"CREATE TABLE bulk_job (id {k} PRIMARY KEY, kind {k} NOT NULL, status {k} NOT NULL, "
            f"owner {k} NOT NULL, updated TEXT NOT NULL, content {c} NOT NULL)"
        ),
        Sql("CREATE INDEX bulk_job_status ON bulk_job (status, updated)"),
    ]


def _tables(d: Dialect) -> list[Sql]:
    return [*_core(d), *_composite(d)]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables: partition, resource, history, one search-index table per parameter type", _tables),
    Migration(2, "search-path b-tree indexes", _search_indexes),
    # issue 3, consent: the patient-compartment index (store/sql/compartment.py)
    Migration(3, "patient compartment and security labels per version", compartment_tables),
    Migration(
        4, "audit log: hash-chained entries, their patients, the chain head, signed checkpoints", _audit_log
    ),
    Migration(KEYS_MIGRATION, "encryption key metadata: the key ids stored values use", _encryption_keys),
    # issue 4, bulk data: the job table of $export / $import (bulk/jobs.py)
    Migration(6, "bulk data jobs: $export and $import status, shared by every worker", _bulk_jobs),
    # issue 9, feeds: every HL7 v2 message received, with its status and ACK (store/sql/feed_log.py)
    Migration(
        FEED_LOG_MIGRATION, "feed log: received messages, their status, ACK and error", feed_log_tables
    ),
)
