"""The search shapes a clinical app issues, each as a FHIR query and as hand-written SQL.

The hand-written SQL is what a developer who knows the index tables would write for the same
question: the page (ORDER BY, LIMIT/OFFSET) and the total (`_total=accurate` is the server's
default, so both sides count), plus the included resources where the query asks for them.
Values come from the population's first patient (present at every size) so the same query
runs at 100, 1,000 and 10,000 patients.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from yilian.synth.population import records
from yilian.synth.resident_id import RESIDENT_ID_SYSTEM

__all__ = ["Probe", "Shape", "probe", "shapes"]

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
_LIVE = "r.res_type || '' = ? AND NOT r.deleted"
"""The type test is written so no engine drives the query from the (type, last updated) index:
the index tables are far more selective, as anyone tuning the query by hand would see."""
_LIVE_BY_ID = "r.res_type = ? AND NOT r.deleted"
_PROBE = re.compile(r"FROM (idx_\w+) z WHERE")


def _tuned(sql: str, backend: str) -> str:
    """SQLite: probes go through the (rid, param) index (its planner otherwise prefers the
    value index and scans a whole parameter's rows)."""
    return _PROBE.sub(r"FROM \1 z INDEXED BY \1_rid WHERE", sql) if backend == "sqlite" else sql


@dataclass(frozen=True, slots=True)
class Probe:
    """The values the queries look for."""

    patient_id: str
    name: str
    resident_id: str
    family_pinyin: str


def probe(seed: int) -> Probe:
    patient = next(records(1, seed)).resources[0]
    resident = next(i["value"] for i in patient["identifier"] if i["system"] == RESIDENT_ID_SYSTEM)
    return Probe(patient["id"], patient["name"][0]["text"], resident, patient["name"][1]["family"])


@dataclass(frozen=True, slots=True)
class Shape:
    """One search: the FHIR query and its hand-written SQL (a WHERE clause over `resource r`,
    an ORDER BY, a page, and an optional include query over the page's rids or ids)."""

    name: str
    resource_type: str
    params: tuple[tuple[str, str], ...]
    where: str
    args: tuple[object, ...]
    order: str = "r.rid"
    count: int = 20
    offset: int = 0
    include: str | None = None  # SQL with {rids} or {ids}: the included resources
    include_args: tuple[object, ...] = field(default=())
    by_id: bool = False  # the query names the id: the (type, id) key is the way in

    @property
    def path(self) -> str:
        from urllib.parse import urlencode

        return f"{self.resource_type}?{urlencode(self.params)}"

    def page_sql(self, backend: str = "postgresql") -> tuple[str, tuple[object, ...]]:
        return (
            _tuned(
                f"SELECT r.rid, r.res_id, r.content FROM resource r WHERE {self._live()} AND {self.where} "
                f"ORDER BY {self.order} LIMIT ? OFFSET ?",
                backend,
            ),
            (self.resource_type, *self.args, self.count, self.offset),
        )

    def count_sql(self, backend: str = "postgresql") -> tuple[str, tuple[object, ...]]:
        sql = f"SELECT COUNT(*) FROM resource r WHERE {self._live()} AND {self.where}"
        return _tuned(sql, backend), (self.resource_type, *self.args)

    def _live(self) -> str:
        return _LIVE_BY_ID if self.by_id else _LIVE

    def include_sql(self, page: Sequence[tuple[Any, ...]]) -> tuple[str, tuple[object, ...]] | None:
        if self.include is None or not page:
            return None
        marks = ", ".join("?" for _ in page)
        key = 0 if "{rids}" in self.include else 1
        return (
            self.include.format(rids=marks, ids=marks),
            (*self.include_args, *(row[key] for row in page)),
        )


def _ref(param: str) -> str:
    return (
        "r.rid IN (SELECT x.rid FROM idx_reference x WHERE x.target_id = ? "
        f"AND x.target_type = 'Patient' AND x.param = '{param}')"
    )


def _prefix(param: str) -> str:
    """A string search: the normalised value starts with the query (both bounds bound)."""
    return (
        f"r.rid IN (SELECT s.rid FROM idx_string s WHERE s.param = '{param}' "
        "AND s.value_norm >= ? AND s.value_norm < ?)"
    )


def _token(param: str, with_system: bool = True) -> str:
    system = " AND t.system = ?" if with_system else ""
    return f"r.rid IN (SELECT t.rid FROM idx_token t WHERE t.param = '{param}' AND t.code = ?{system})"


def _date(param: str, condition: str) -> str:
    return f"r.rid IN (SELECT d.rid FROM idx_date d WHERE d.param = '{param}' AND {condition})"


def _probe(table: str, param: str, condition: str) -> str:
    """A further criterion checked per candidate through the (rid, param) index, once a more
    selective criterion has found the candidates."""
    return f"EXISTS (SELECT 1 FROM {table} z WHERE z.rid = r.rid AND z.param = '{param}' AND {condition})"


def shapes(p: Probe) -> list[Shape]:
    """Fourteen shapes (the issue's twelve and two more)."""
    pid = p.patient_id
    return [
        Shape(
            "Patient by name",
            "Patient",
            (("name", p.name),),
            _prefix("name"),
            (p.name.lower(), p.name.lower() + "\uffff"),
        ),
        Shape(
            "Patient by identifier",
            "Patient",
            (("identifier", f"{RESIDENT_ID_SYSTEM}|{p.resident_id}"),),
            _token("identifier"),
            (p.resident_id, RESIDENT_ID_SYSTEM),
        ),
        Shape(
            "Patient by birthdate range",
            "Patient",
            (("birthdate", "ge1960-01-01"), ("birthdate", "lt1961-01-01")),
            _date("birthdate", "d.low >= ? AND d.high < ?"),
            ("1960-01-01T00:00:00.000000", "1961-01-01T00:00:00.000000"),
        ),
        Shape(
            "Patient by family+gender",
            "Patient",
            (("family", p.family_pinyin), ("gender", "female")),
            _prefix("family") + " AND " + _probe("idx_token", "gender", "z.code = ?"),
            (p.family_pinyin.lower(), p.family_pinyin.lower() + "\uffff", "female"),
        ),
        Shape(
            "Observation by patient+code",
            "Observation",
            (("patient", f"Patient/{pid}"), ("code", f"{LOINC}|8480-6")),
            f"{_ref('patient')} AND " + _probe("idx_token", "code", "z.code = ? AND z.system = ?"),
            (pid, "8480-6", LOINC),
        ),
        Shape(
            "Observation by patient+date",
            "Observation",
            (("patient", f"Patient/{pid}"), ("date", "ge2016-01-01"), ("date", "lt2021-01-01")),
            f"{_ref('patient')} AND " + _probe("idx_date", "date", "z.low >= ? AND z.high < ?"),
            (pid, "2016-01-01T00:00:00.000000", "2021-01-01T00:00:00.000000"),
        ),
        Shape(
            "Observation by code+value",
            "Observation",
            (("code", f"{LOINC}|8480-6"), ("value-quantity", "gt170")),
            f"{_token('code')} AND " + _probe("idx_quantity", "value-quantity", "z.high > ?"),
            ("8480-6", LOINC, 170.5),  # gt170: above the implied range [169.5, 170.5]
        ),
        Shape(
            "Observation by patient (all)",
            "Observation",
            (("patient", f"Patient/{pid}"), ("_count", "50")),
            _ref("patient"),
            (pid,),
            count=50,
        ),
        Shape(
            "Encounter by patient+date",
            "Encounter",
            (("patient", f"Patient/{pid}"), ("date", "ge2018-01-01")),
            f"{_ref('patient')} AND " + _probe("idx_date", "date", "z.high >= ?"),
            (pid, "2018-01-01T00:00:00.000000"),
        ),
        Shape(
            "Condition by code +_include",
            "Condition",
            (("code", f"{ICD10}|J44.9"), ("_include", "Condition:subject")),
            _token("code"),
            ("J44.9", ICD10),
            include=(
                "SELECT p.content FROM resource p WHERE p.res_type = 'Patient' AND NOT p.deleted "
                "AND p.res_id IN (SELECT x.target_id FROM idx_reference x WHERE x.param = 'subject' "
                "AND x.target_type = 'Patient' AND x.rid IN ({rids}))"
            ),
        ),
        Shape(
            "MedicationRequest by patient+status",
            "MedicationRequest",
            (("patient", f"Patient/{pid}"), ("status", "completed")),
            f"{_ref('patient')} AND " + _probe("idx_token", "status", "z.code = ?"),
            (pid, "completed"),
        ),
        Shape(
            "Chained patient.identifier",
            "Observation",
            (("patient.identifier", f"{RESIDENT_ID_SYSTEM}|{p.resident_id}"), ("code", f"{LOINC}|8480-6")),
            "r.rid IN (SELECT x.rid FROM idx_reference x JOIN resource pt ON pt.res_type = 'Patient' "
            "AND pt.res_id = x.target_id JOIN idx_token i ON i.rid = pt.rid WHERE x.param = 'patient' "
            "AND x.target_type = 'Patient' AND i.param = 'identifier' AND i.code = ? AND i.system = ?) AND "
            + _probe("idx_token", "code", "z.code = ? AND z.system = ?"),
            (p.resident_id, RESIDENT_ID_SYSTEM, "8480-6", LOINC),
        ),
        Shape(
            "Patient +_revinclude Encounter",
            "Patient",
            (("_id", pid), ("_revinclude", "Encounter:subject")),
            "r.res_id = ?",
            (pid,),
            by_id=True,
            include=(
                "SELECT e.content FROM resource e WHERE e.res_type = 'Encounter' AND NOT e.deleted "
                "AND e.rid IN (SELECT x.rid FROM idx_reference x WHERE x.param = 'subject' "
                "AND x.target_type = 'Patient' AND x.target_id IN ({ids}))"
            ),
        ),
        Shape(
            "Observation _sort=-date page 5",
            "Observation",
            (("code", f"{LOINC}|8867-4"), ("_sort", "-date"), ("_count", "10"), ("_offset", "40")),
            _token("code"),
            ("8867-4", LOINC),
            order="(SELECT MAX(s.high) FROM idx_date s WHERE s.rid = r.rid AND s.param = 'date') DESC, r.rid",
            count=10,
            offset=40,
        ),
    ]
