"""Search statements read through indexes, whatever the data size (issue 4): the most selective
criterion drives, the others are probed per candidate through the (rid, param) index, and no
shape walks a whole index table or every resource of a type.

SQLite without statistics plans from the statement's shape alone, so its `EXPLAIN QUERY PLAN`
on an empty, fully migrated database is the plan it uses at any size.  Nothing here is timed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import pytest

from yilian.fhir.search.parse import parse_search
from yilian.store.base import Scope
from yilian.store.factory import open_repository
from yilian.store.sql.criteria import DateRange, drive_order, low_bounds, merge_dates, single_date
from yilian.store.sql.fragment import Sql
from yilian.store.sql.includes import _include, _revinclude
from yilian.store.sql.query import search_statements
from yilian.store.sqlite.dialect import SqliteDialect

D = SqliteDialect()
ALL = Scope.everything()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    path = Path(tmp_path_factory.mktemp("plans")) / "plans.sqlite"

    async def migrate() -> None:
        repository = open_repository(f"sqlite:///{path}")
        await repository.open()
        await repository.close()

    anyio.run(migrate)
    conn = sqlite3.connect(path)
    yield conn
    conn.close()


def plan(conn: sqlite3.Connection, statement: Sql | None) -> list[str]:
    assert statement is not None
    return [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + statement.text, statement.params)]


def full_scans(steps: Sequence[str]) -> list[str]:
    """Steps that read a whole table, or every resource of a type through (type, updated)."""
    return [s for s in steps if s.startswith("SCAN") or "resource_type_updated (res_type=?)" in s]


SHAPES = [
    ("Patient", [("name", "wang")]),
    ("Patient", [("identifier", "urn:x|123")]),
    ("Patient", [("family", "wang"), ("gender", "female")]),
    ("Observation", [("patient", "Patient/p1"), ("code", "http://loinc.org|8480-6")]),
    ("Observation", [("patient", "Patient/p1"), ("date", "ge2016-01-01"), ("date", "lt2021-01-01")]),
    ("Observation", [("code", "http://loinc.org|8480-6"), ("value-quantity", "gt170")]),
    ("Encounter", [("patient", "Patient/p1"), ("date", "ge2018-01-01")]),
    ("MedicationRequest", [("patient", "Patient/p1"), ("status", "completed")]),
    ("Observation", [("patient.identifier", "urn:x|123"), ("code", "http://loinc.org|8480-6")]),
    ("Observation", [("code", "http://loinc.org|8480-6"), ("subject:missing", "true")]),
    ("Observation", [("code:not", "http://loinc.org|8480-6"), ("patient", "Patient/p1")]),
    ("Patient", [("_has:Observation:patient:code", "http://loinc.org|8480-6"), ("name", "wang")]),
    ("Patient", [("_id", "p1")]),
    ("Patient", [("_id", "p1"), ("gender", "female")]),
    ("Patient", [("birthdate", "eq1960")]),
    ("Patient", [("birthdate", "ge1970-01-01"), ("birthdate", "lt1980-01-01")]),
    ("Encounter", [("date", "ge2018-01-01"), ("date", "lt2019-01-01")]),
]


@pytest.mark.parametrize(("resource_type", "params"), SHAPES, ids=lambda v: str(v))
def test_no_shape_walks_a_table(
    db: sqlite3.Connection, resource_type: str, params: list[tuple[str, str]]
) -> None:
    statements = search_statements(D, parse_search((resource_type,), params), ALL)
    for statement in (statements.page, statements.count):
        steps = plan(db, statement)
        assert not full_scans(steps), steps


def test_further_criteria_are_probed_through_the_rid_index(db: sqlite3.Connection) -> None:
    request = parse_search(
        ("Observation",),
        [("patient", "Patient/p1"), ("date", "ge2016-01-01"), ("date", "lt2021-01-01")],
    )
    steps = plan(db, search_statements(D, request, ALL).page)
    assert any("idx_reference_target" in s for s in steps), steps
    # Observation.effective has at most one value: both date criteria in one probe.
    assert sum("idx_date_rid (rid=? AND param=?)" in s for s in steps) == 1, steps
    assert not any("idx_date_search" in s for s in steps), steps


def test_date_criteria_on_a_single_value_merge_into_one_bounded_range(db: sqlite3.Connection) -> None:
    """`birthdate=ge1970-01-01&birthdate=lt1980-01-01`: one idx_date row read through the
    (param, low, high) index between two bounds on low, driving the statement."""
    request = parse_search(("Patient",), [("birthdate", "ge1970-01-01"), ("birthdate", "lt1980-01-01")])
    merged = merge_dates(request.conditions)
    assert len(merged) == 1 and isinstance(merged[0], DateRange)
    assert low_bounds(merged[0]) == ("1968-12-31T23:59:59.999999", "1980-01-01T00:00:00.000000")
    statements = search_statements(D, request, ALL)
    for statement in (statements.page, statements.count):
        steps = plan(db, statement)
        assert any("idx_date_search (param=? AND low>? AND low<?)" in s for s in steps), steps
        assert sum("idx_date" in s for s in steps) == 1, steps
        assert not full_scans(steps), steps


def test_only_single_valued_date_parameters_merge() -> None:
    assert single_date("Patient", "birthdate") is True  # date, 0..1
    assert single_date("Patient", "death-date") is True  # (deceased as dateTime), 0..1
    assert single_date("Encounter", "date") is False  # a Period: one row, but no width bound
    assert single_date("Encounter", "location-period") is None  # location is 0..*
    assert single_date("Condition", "onset-date") is None  # a union: not a plain path
    assert single_date("Patient", "name") is None  # not a date
    repeated = parse_search(
        ("Encounter",), [("location-period", "ge2018"), ("location-period", "lt2019")]
    ).conditions
    assert merge_dates(repeated) == list(repeated)
    negated = parse_search(("Patient",), [("birthdate", "ge1970"), ("birthdate:missing", "false")]).conditions
    assert merge_dates(negated) == list(negated)
    mixed = parse_search(
        ("Patient",), [("gender", "female"), ("birthdate", "ge1970"), ("name", "x"), ("birthdate", "lt1980")]
    ).conditions
    assert [type(c).__name__ for c in merge_dates(mixed)] == ["Criterion", "DateRange", "Criterion"]


def test_id_uses_the_type_id_key(db: sqlite3.Connection) -> None:
    steps = plan(db, search_statements(D, parse_search(("Patient",), [("_id", "p1")]), ALL).page)
    assert any("(res_type=? AND res_id=?)" in s for s in steps), steps


def test_includes_start_from_the_page(db: sqlite3.Connection) -> None:
    page = [("Patient", "p1", 1, "", "default", b"", 0, 1), ("Condition", "c1", 1, "", "default", b"", 0, 2)]
    rev = parse_search(("Patient",), [("_revinclude", "Encounter:subject")]).revincludes[0]
    inc = parse_search(("Condition",), [("_include", "Condition:subject")]).includes[0]
    for statement in (_revinclude(D, ALL, rev, page), _include(D, ALL, inc, page)):
        steps = plan(db, statement)
        assert not full_scans(steps), steps


def test_the_most_selective_criterion_drives() -> None:
    request = parse_search(
        ("Observation",),
        [("date", "ge2016"), ("status", "final"), ("code", "http://loinc.org|1"), ("patient", "Patient/p1")],
    )
    driver, rest = drive_order(request.conditions)
    assert driver is not None and getattr(driver, "code", None) == "patient"
    assert [getattr(c, "code", None) for c in rest] == ["date", "status", "code"]
    negated = parse_search(
        ("Observation",), [("code:not", "http://loinc.org|1"), ("subject:missing", "true")]
    )
    assert drive_order(negated.conditions)[0] is None
