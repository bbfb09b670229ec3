"""The answers the synthetic alliance's data should lead to: the truth files.

Record linkage, referral tracking, duplicate-test and outbreak detection are judged against
these CSV files, written beside the data (`truth/`), one row per fact:

* `persons.csv`: person_id, family, given, sex, birth_date, resident_id, phone, town, village
  (who each person really is);
* `registrations.csv`: registration_id, institution, mrn, person_id, variations (`;`-joined
  kinds of desk variation; see `synth.people`);
* `hard_cases.csv`: kind (namesake, twin, mother-newborn, unnamed-newborn), person_id,
  other_person_id (each pair from both sides);
* `encounters.csv`: institution, visit, kind, start, registration_id, person_id;
* `referrals.csv`: referral_id, direction, from_institution, from_visit, from_registration,
  to_institution, to_visit, to_registration, requested, reason;
* `repeated_tests.csv`: institution, order_id, code, ordered, earlier_institution,
  earlier_order_id, person_id (a lab test done again at another member within six weeks);
* `outbreaks.csv`: date, institution, visit, code, person_id, cluster (1 when the case is
  part of the seed's outbreak week, `Care.cluster`): every notifiable diagnosis.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import IO

from yilian.synth.care import Cluster
from yilian.synth.model import History

__all__ = ["TRUTH_FILES", "TruthWriter"]

TRUTH_FILES: dict[str, tuple[str, ...]] = {
    "persons": (
        "person_id",
        "family",
        "given",
        "sex",
        "birth_date",
        "resident_id",
        "phone",
        "town",
        "village",
    ),
    "registrations": ("registration_id", "institution", "mrn", "person_id", "variations"),
    "hard_cases": ("kind", "person_id", "other_person_id"),
    "encounters": ("institution", "visit", "kind", "start", "registration_id", "person_id"),
    "referrals": (
        "referral_id",
        "direction",
        "from_institution",
        "from_visit",
        "from_registration",
        "to_institution",
        "to_visit",
        "to_registration",
        "requested",
        "reason",
    ),
    "repeated_tests": (
        "institution",
        "order_id",
        "code",
        "ordered",
        "earlier_institution",
        "earlier_order_id",
        "person_id",
    ),
    "outbreaks": ("date", "institution", "visit", "code", "person_id", "cluster"),
}
"""Each truth file's columns."""


class TruthWriter:
    """Writes the truth files row by row as histories stream past; counts rows per file."""

    def __init__(self, folder: Path, cluster: Cluster) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.cluster = cluster
        self.files: dict[str, IO[str]] = {}
        self.writers = {}
        self.rows = dict.fromkeys(TRUTH_FILES, 0)
        for name, header in TRUTH_FILES.items():
            handle = (folder / f"{name}.csv").open("w", encoding="utf-8", newline="")
            self.files[name] = handle
            self.writers[name] = csv.writer(handle)
            self.writers[name].writerow(header)

    def __enter__(self) -> TruthWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self.files.values():
            handle.close()

    def _row(self, name: str, *values: object) -> None:
        self.writers[name].writerow(values)
        self.rows[name] += 1

    def add(self, history: History) -> None:
        p = history.person
        self._row(
            "persons",
            p.person_id,
            p.family,
            p.given,
            p.sex,
            p.birth_date.isoformat(),
            p.resident_id,
            p.phone,
            p.address.town,
            p.address.village,
        )
        for reg in history.registrations:
            self._row(
                "registrations",
                reg.registration_id,
                reg.institution,
                reg.mrn,
                p.person_id,
                ";".join(reg.variations),
            )
        for kind, other in history.hard_cases:
            self._row("hard_cases", kind, p.person_id, other)
        received: dict[str, str] = {}
        cluster_end = self.cluster.start.toordinal() + 7
        for e in history.encounters:
            self._row(
                "encounters",
                e.institution,
                e.visit_number,
                e.kind,
                e.start.isoformat(),
                e.registration_id,
                p.person_id,
            )
            if e.referral:
                received[e.referral] = e.visit_number
            for order in e.labs:
                if order.repeat_of:
                    earlier_inst, _, earlier_order = order.repeat_of.partition("/")
                    self._row(
                        "repeated_tests",
                        e.institution,
                        order.order_id,
                        order.code,
                        order.ordered.isoformat(),
                        earlier_inst,
                        earlier_order,
                        p.person_id,
                    )
            for d in e.diagnoses:
                if d.notifiable:
                    day = e.start.date()
                    in_cluster = (
                        d.code == self.cluster.code
                        and p.address.town == self.cluster.town
                        and self.cluster.start.toordinal() <= day.toordinal() < cluster_end
                    )
                    self._row(
                        "outbreaks",
                        day.isoformat(),
                        e.institution,
                        e.visit_number,
                        d.code,
                        p.person_id,
                        int(in_cluster),
                    )
        for r in history.referrals:
            self._row(
                "referrals",
                r.referral_id,
                r.direction,
                r.from_institution,
                r.from_encounter,
                r.from_registration,
                r.to_institution,
                received.get(r.referral_id, ""),
                r.to_registration,
                r.requested.isoformat(),
                r.reason,
            )
