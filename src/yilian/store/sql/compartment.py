"""The patient-compartment index and the consent part of the scope predicate.

Consent and break-the-glass open a patient's compartment in other institutions
(`ConsentGrant`), less the data classes the patient excluded.  So the store keeps, for every
stored version, which patients' compartments it is in (`compartment`) and which security
labels it carries (`security_label`), both filled at write time from the index values the
extractor already produced (http://hl7.org/fhir/R4/compartmentdefinition-patient.html,
http://hl7.org/fhir/R4/security-labels.html).

Rows are per version and append-only, like `resource_history`: a grant is checked against
the very version read, so vread or history of an old version can never show data that
belonged to another patient or carried an excluded label at the time, and a deletion
version has no rows (a granted reader does not see deletions).  Migration 3 backfills the
current versions of an existing database from its index tables; older versions stay outside
every grant (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence

from yilian.fhir.definitions.compartments import patient_compartment, security_labels
from yilian.fhir.search.model import IndexValue
from yilian.store.base import ConsentGrant
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import BatchStatement, Sql

__all__ = ["compartment_statements", "compartment_tables", "grant_predicate"]

_INSERT_COMPARTMENT = "INSERT INTO compartment (rid, version, patient_id) VALUES (?, ?, ?)"
_INSERT_LABEL = "INSERT INTO security_label (rid, version, system, code) VALUES (?, ?, ?, ?)"


def _clean(text: str | None) -> str | None:
    return text.replace("\x00", "") if text is not None else None


def compartment_statements(
    rid: int, version: int, resource_type: str, resource_id: str, values: Sequence[IndexValue]
) -> list[BatchStatement]:
    """The compartment and label rows of one stored version."""
    out: list[BatchStatement] = []
    patients = patient_compartment().members(resource_type, resource_id, values)
    if patients:
        out.append((_INSERT_COMPARTMENT, [(rid, version, _clean(p)) for p in sorted(patients)]))
    labels = security_labels(values)
    if labels:
        out.append(
            (
                _INSERT_LABEL,
                [
                    (rid, version, _clean(s), _clean(c))
                    for s, c in sorted(labels, key=lambda x: (x[0] or "", x[1]))
                ],
            )
        )
    return out


def compartment_tables(d: Dialect) -> list[Sql]:
    """Migration 3: the two tables, their indexes, and the backfill of current versions."""
    k = d.key_text
    comp = patient_compartment()
    by_type = Sql.any_of(
        Sql("r.res_type = ? AND ", (rtype,)) + d.in_list("i.param", sorted(params))
        for rtype, params in sorted(comp.params.items())
    )
    return [
        Sql(
            f"CREATE TABLE compartment (rid {d.rid_type} NOT NULL, version INTEGER NOT NULL, "
            f"patient_id {k} NOT NULL, PRIMARY KEY (rid, version, patient_id))"
        ),
        Sql("CREATE INDEX compartment_patient ON compartment (patient_id, rid, version)"),
        Sql(
            f"CREATE TABLE security_label (rid {d.rid_type} NOT NULL, version INTEGER NOT NULL, "
            f"system {k}, code {k} NOT NULL)"
        ),
        Sql("CREATE INDEX security_label_version ON security_label (rid, version, code)"),
        Sql(
            "INSERT INTO compartment (rid, version, patient_id) "
            "SELECT DISTINCT r.rid, r.version, i.target_id "
            "FROM idx_reference i JOIN resource r ON r.rid = i.rid "
            "WHERE NOT r.deleted AND i.target_type = 'Patient' AND i.target_id IS NOT NULL AND ("
        )
        + by_type
        + ") ON CONFLICT DO NOTHING",
        Sql(
            "INSERT INTO compartment (rid, version, patient_id) "
            "SELECT r.rid, r.version, r.res_id FROM resource r "
            "WHERE r.res_type = 'Patient' AND NOT r.deleted "
            "ON CONFLICT DO NOTHING"
        ),
        Sql(
            "INSERT INTO security_label (rid, version, system, code) "
            "SELECT DISTINCT r.rid, r.version, t.system, t.code "
            "FROM idx_token t JOIN resource r ON r.rid = t.rid "
            "WHERE NOT r.deleted AND t.param = '_security' AND t.code IS NOT NULL"
        ),
    ]


def _label_match(labels: Sequence[str]) -> Sql:
    """Any of `labels` (`system|code`, or a bare code matching any system) on label row `l`."""
    bare = sorted(x for x in labels if "|" not in x)
    parts: list[Sql] = []
    if bare:
        parts.append(Sql(f"l.code IN ({', '.join('?' for _ in bare)})", tuple(bare)))
    for label in sorted(x for x in labels if "|" in x):
        system, _, code = label.partition("|")
        if system:
            parts.append(Sql("l.system = ? AND l.code = ?", (system, code)))
        else:
            parts.append(Sql("l.system IS NULL AND l.code = ?", (code,)))
    return Sql.any_of(parts)


def grant_predicate(d: Dialect, alias: str, type_column: str, grant: ConsentGrant) -> Sql:
    """The row (or version) `alias` is in one of the grant's patients' compartments, within
    the grant's partitions, of no excluded type, and carries no excluded label."""
    if not grant.patients:
        return Sql("1=0")
    inner = [d.in_list("c.patient_id", sorted(grant.patients))]
    if grant.excluded_labels:
        inner.append(
            Sql(
                "NOT EXISTS (SELECT 1 FROM security_label l "
                "WHERE l.rid = c.rid AND l.version = c.version AND ("
            )
            + _label_match(sorted(grant.excluded_labels))
            + "))"
        )
    parts = [
        Sql(
            f"EXISTS (SELECT 1 FROM compartment c "
            f"WHERE c.rid = {alias}.rid AND c.version = {alias}.version AND "
        )
        + Sql.all_of(inner)
        + ")"
    ]
    if grant.partitions is not None:
        parts.append(d.in_list(f"{alias}.partition", sorted(grant.partitions)))
    if grant.excluded_types:
        parts.append(
            Sql(f"{type_column} NOT IN ({', '.join('?' for _ in grant.excluded_types)})")
            + Sql("", tuple(sorted(grant.excluded_types)))
        )
    return Sql.all_of(parts)
