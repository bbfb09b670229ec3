"""What happens to a resident at the alliance's members from 2022 to mid-2026: `Care.history`.

For each registration, outpatient and emergency visits (chronic follow-ups and acute
problems drawn by age, sex and frequency from `catalogue.diagnoses()`), with vital signs, lab
orders whose H/L flags follow from value and range, and prescriptions; for about one resident
in ten an inpatient stay (surgical ones at the county hospital, with the operation, its
operator and anaesthesia, and front-sheet costs by category).  Referrals go up (a centre's
visit, then the county hospital: `admission_way` 3, `Encounter.referral`) and down (a county
stay discharged to the community, `discharge_way` 3, then rehabilitation at the centre).  A
lab test done again at another member within one to six weeks carries `repeat_of`.

Notifiable diseases come in their seasons: influenza (J11.1) in winter, hand-foot-mouth
disease (B08.4) in small children from May to July, infectious diarrhoea (A09) and bacillary
dysentery (A03) in summer; and one outbreak, a cluster of hand-foot-mouth disease among the
children of one town in one week, chosen by the seed (`Care.cluster`).

Identifiers are built from the group number and the resident's place in it, so they are
unique within each member and the same for the same seed: visit numbers look like a HIS's
(门诊 "MZ", 急诊 "JZ", 住院 "ZY" + year + digits), orders are the visit number and a sequence,
the lab's accession numbers start with "JY".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal

from yilian.synth import catalogue
from yilian.synth.care_costs import stay_costs
from yilian.synth.catalogue import DiagnosisSpec, LabPanel
from yilian.synth.directory import COUNTY_HOSPITAL, LAB_DEPARTMENT, department_for
from yilian.synth.model import (
    Allergy,
    Diagnosis,
    Directory,
    Encounter,
    EncounterKind,
    History,
    LabOrder,
    LabResult,
    MedicationOrder,
    Procedure,
    Referral,
    Registration,
    VitalSign,
)
from yilian.synth.people import END, START, Resident
from yilian.synth.places import COUNTY_SEAT, TOWNS

__all__ = ["BEIJING", "Care", "Cluster"]

BEIJING = timezone(timedelta(hours=8))
Flag = Literal["N", "H", "L", "A"]
_CONDITIONS: tuple[Literal["1", "2", "3"], ...] = ("1", "1", "2", "3")  # 入院病情: mostly 有
_REPEAT_WINDOW = (timedelta(days=7), timedelta(days=42))


@dataclass(frozen=True, slots=True)
class Cluster:
    """The outbreak week: hand-foot-mouth disease among one town's small children."""

    town: str
    start: date  # a Monday
    code: str = "B08.401"


class Care:
    """The care model of one alliance: its directory, staff by department, the outbreak."""

    def __init__(self, directory: Directory, seed: int) -> None:
        self.directory = directory
        self.staff: dict[tuple[str, str], list[str]] = {}
        for p in directory.practitioners:
            if p.role == "doctor" or p.department == LAB_DEPARTMENT:
                self.staff.setdefault((p.institution, p.department), []).append(p.id)
        rng = random.Random(f"{seed}:outbreak")
        towns = [
            t for t in TOWNS if t is COUNTY_SEAT or any(i.town == t.name for i in directory.institutions)
        ]
        monday = date(2024, 5, 6) + timedelta(weeks=rng.randrange(10))
        self.cluster = Cluster(rng.choice(towns).name, monday)
        specs = catalogue.diagnoses()
        self.by_code = {d.code: d for d in specs}
        self.acute = [d for d in specs if not d.chronic and d.weight > 0 and d.setting != "inpatient"]
        self.chronic = [d for d in specs if d.chronic and d.weight > 0]
        self.stays = [d for d in specs if d.setting in ("inpatient", "both") and d.weight > 0]

    def doctor(self, rng: random.Random, institution: str, department: str) -> str:
        ids = self.staff.get((institution, department)) or self.staff[(institution, _any(self, institution))]
        return rng.choice(ids)

    def history(self, rng: random.Random, resident: Resident) -> History:
        return _PersonCare(self, rng, resident).build()


def _any(care: Care, institution: str) -> str:
    return next(d for (i, d) in care.staff if i == institution)


def _fits(spec: DiagnosisSpec, age: int, sex: str) -> bool:
    return spec.min_age <= age <= spec.max_age and spec.sex in ("", sex)


class _PersonCare:
    def __init__(self, care: Care, rng: random.Random, resident: Resident) -> None:
        self.care = care
        self.rng = rng
        self.resident = resident
        self.person = resident.person
        self.regs = {r.institution: r for r in resident.registrations}
        if any("unnamed-newborn" in r.variations for r in resident.registrations):
            # the unnamed record is the birth's; later county visits use it too only if no other
            self.named = {
                r.institution: r for r in resident.registrations if "unnamed-newborn" not in r.variations
            }
        else:
            self.named = self.regs
        self.encounters: list[Encounter] = []
        self.referrals: list[Referral] = []
        self.serial = 0
        self.stays_at: dict[str, int] = {}
        begin = max(START, self.person.birth_date)
        self.begin = begin
        self.span = max((END - begin).days, 1)

    # -- helpers ------------------------------------------------------------------------------

    def age_on(self, day: date) -> int:
        b = self.person.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def day(self) -> date:
        return self.begin + timedelta(days=self.rng.randrange(self.span))

    def at(self, day: date, hour_from: int = 8, hour_to: int = 16) -> datetime:
        return datetime.combine(
            day, time(self.rng.randint(hour_from, hour_to), self.rng.randrange(60)), BEIJING
        )

    def visit_number(self, kind: EncounterKind, when: datetime) -> str:
        self.serial += 1
        prefix = {"outpatient": "MZ", "emergency": "JZ", "inpatient": "ZY"}[kind]
        return f"{prefix}{when.year % 100:02d}{self.person.person_id[1:]}{self.serial:03d}"

    def pick(self, specs: list[DiagnosisSpec], day: date) -> DiagnosisSpec | None:
        age, sex = self.age_on(day), self.person.sex
        fitting = [s for s in specs if _fits(s, age, sex)]
        if not fitting:
            return None
        return self.rng.choices(fitting, weights=[s.weight for s in fitting])[0]

    # -- the person's years ---------------------------------------------------------------------

    def build(self) -> History:
        rng = self.rng
        chronic = [s for s in self.care.chronic if _fits(s, self.age_on(END), self.person.sex)]
        problems = (
            [] if not chronic else rng.sample(chronic, k=min(len(chronic), rng.choice((0, 0, 1, 1, 2))))
        )
        if self.resident.newborn:
            self.newborn_visits()
        for inst, reg in self.named.items():
            level = self.care.directory.institution(inst).level
            visits = rng.randint(0, 2) + (
                len(problems) * rng.randint(1, 2) if level != "county-hospital" else 0
            )
            for _ in range(max(visits, 1 if reg is next(iter(self.named.values())) else 0)):
                day = self.day()
                spec = (
                    rng.choice(problems)
                    if problems and rng.random() < 0.6
                    else self.pick(self.care.acute, day)
                )
                if spec:
                    kind: EncounterKind = (
                        "emergency" if spec.specialty == "emergency" or rng.random() < 0.05 else "outpatient"
                    )
                    if kind == "emergency" and inst != COUNTY_HOSPITAL:
                        kind = "outpatient"
                    self.visit(reg, day, spec, problems, kind)
        self.seasonal()
        if self.resident.delivered:
            self.delivery(self.resident.delivered)
        elif rng.random() < 0.1 + 0.1 * (self.age_on(END) >= 60):
            day = self.day()
            spec = self.pick(self.care.stays, day)
            if spec and not spec.code.startswith(("O80", "O82")):
                self.stay(day, spec, problems)
        self.mark_repeats()
        allergies = self.allergies()
        encounters = tuple(sorted(self.encounters, key=lambda e: (e.start, e.visit_number)))
        return History(
            self.person,
            self.resident.registrations,
            encounters,
            allergies,
            tuple(self.referrals),
            self.resident.hard_cases,
        )

    def home(self) -> Registration:
        """The member a resident goes to first: the village clinic or centre before the county."""
        for level in ("township-centre", "village-clinic", "county-hospital"):
            for inst, reg in self.named.items():
                if self.care.directory.institution(inst).level == level:
                    return reg
        return next(iter(self.regs.values()))

    def newborn_visits(self) -> None:
        born = self.person.birth_date
        county = self.regs.get(COUNTY_HOSPITAL)
        if county:
            spec = self.care.by_code["P59.902"]
            day = min(born + timedelta(days=self.rng.randint(2, 6)), END)
            self.visit(county, day, spec, [], "outpatient")
        for months in (1, 3, 6, 12):
            day = born + timedelta(days=30 * months + self.rng.randint(0, 10))
            if day <= END and self.rng.random() < 0.7:
                self.visit(self.home(), day, self.care.by_code["Z00.100"], [], "outpatient")

    def seasonal(self) -> None:
        """Notifiable diseases in their seasons, and the cluster week in the chosen town."""
        rng, care = self.rng, self.care
        for year in range(START.year, END.year + 1):
            winter = date(year - 1, 12, 1) + timedelta(days=rng.randrange(88))
            age = self.age_on(winter)
            if self.begin <= winter <= END and rng.random() < (0.06 if age < 10 or age >= 65 else 0.025):
                self.visit(self.home(), winter, care.by_code["J11.100x001"], [], "outpatient")
            summer = date(year, 5, 1) + timedelta(days=rng.randrange(90))
            if self.begin <= summer <= END and self.age_on(summer) <= 5 and rng.random() < 0.05:
                self.visit(self.home(), summer, care.by_code["B08.401"], [], "outpatient")
            august = date(year, 7, 1) + timedelta(days=rng.randrange(60))
            if self.begin <= august <= END and rng.random() < 0.02:
                code = "A03.900" if rng.random() < 0.15 else "A09.000x001"
                self.visit(self.home(), august, care.by_code[code], [], "outpatient")
        cluster = care.cluster
        if (
            self.person.address.town == cluster.town
            and 0 <= self.age_on(cluster.start) <= 6
            and self.begin <= cluster.start
            and rng.random() < 0.3
        ):
            day = cluster.start + timedelta(days=rng.randrange(7))
            self.visit(self.home(), day, care.by_code[cluster.code], [], "outpatient")

    # -- encounters ------------------------------------------------------------------------------

    def visit(
        self,
        reg: Registration,
        day: date,
        spec: DiagnosisSpec,
        problems: list[DiagnosisSpec],
        kind: EncounterKind,
        referral: str | None = None,
        department: str | None = None,
        may_refer: bool = True,
    ) -> Encounter:
        rng, inst = self.rng, reg.institution
        dept = department or department_for(self.care.directory, inst, spec.specialty)
        doctor = self.care.doctor(rng, inst, dept)
        start = self.at(day, 0, 23) if kind == "emergency" else self.at(day)
        end = start + timedelta(minutes=rng.randint(60, 240) if kind == "emergency" else rng.randint(8, 40))
        visit = self.visit_number(kind, start)
        diagnoses = [Diagnosis(spec.code, spec.name, 1, notifiable=spec.notifiable)]
        for other in problems:
            if other is not spec and rng.random() < 0.3:
                diagnoses.append(Diagnosis(other.code, other.name, len(diagnoses) + 1))
        labs = self.labs(visit, spec, start, doctor, rng.random() < 0.45 or spec.notifiable)
        meds = self.medications(visit, [spec], start, doctor)
        encounter = Encounter(
            visit_number=visit,
            registration_id=reg.registration_id,
            institution=inst,
            kind=kind,
            start=start,
            end=end,
            department=dept,
            practitioner=doctor,
            diagnoses=tuple(diagnoses),
            labs=labs,
            vitals=self.vitals(start, spec, outpatient=True),
            medications=meds,
            referral=referral,
        )
        self.encounters.append(encounter)
        if (
            kind == "outpatient"
            and may_refer
            and not spec.notifiable
            and referral is None
            and inst != COUNTY_HOSPITAL
            and COUNTY_HOSPITAL in self.named
            and rng.random() < 0.06
        ):
            self.refer_up(encounter, spec, problems)
        return encounter

    def refer_up(self, source: Encounter, spec: DiagnosisSpec, problems: list[DiagnosisSpec]) -> None:
        """The centre sends the patient to the county hospital's specialist clinic, seen one to
        five weeks later, where the labs are usually done again."""
        referral = self.referral("up", source, COUNTY_HOSPITAL, spec)
        day = source.start.date() + timedelta(days=self.rng.randint(7, 35))
        if day <= END:
            target = self.visit(
                self.named[COUNTY_HOSPITAL], day, spec, problems, "outpatient", referral.referral_id
            )
            if not target.labs and source.labs:
                labs = self.labs(
                    target.visit_number, spec, target.start, target.practitioner, True, source.labs
                )
                self.encounters[-1] = replace(target, labs=labs)
            self.referrals.append(referral)

    def referral(self, direction: str, source: Encounter, to: str, spec: DiagnosisSpec) -> Referral:
        return Referral(
            referral_id=f"ZZ{source.visit_number[2:]}",
            direction=direction,  # type: ignore[arg-type]
            from_institution=source.institution,
            to_institution=to,
            from_registration=source.registration_id,
            to_registration=self.named[to].registration_id,
            reason=spec.name,
            requested=source.end,
            from_encounter=source.visit_number,
        )

    def delivery(self, born: date) -> None:
        where = COUNTY_HOSPITAL if COUNTY_HOSPITAL in self.named else None
        where = where or next(
            (i for i in self.named if self.care.directory.institution(i).level == "township-centre"), None
        )
        if where is None or born < self.begin:
            return
        caesarean = self.rng.random() < 0.35 and where == COUNTY_HOSPITAL
        spec = self.care.by_code["O82.000" if caesarean else "O80.000"]
        self.stay(born - timedelta(days=self.rng.randint(0, 1)), spec, [], where)

    def stay(
        self, day: date, spec: DiagnosisSpec, problems: list[DiagnosisSpec], where: str | None = None
    ) -> None:
        rng, care = self.rng, self.care
        surgical = bool(spec.procedure)
        inst = where or (
            COUNTY_HOSPITAL if COUNTY_HOSPITAL in self.named and (surgical or rng.random() < 0.75) else None
        )
        if inst is None:
            if surgical:
                return
            inst = next(
                (i for i in self.named if care.directory.institution(i).level == "township-centre"), None
            )
            if inst is None:
                return
        reg = self.named[inst]
        referral_id, admission_way = None, "2"
        if inst == COUNTY_HOSPITAL and rng.random() < 0.3:
            centre = next(
                (i for i in self.named if care.directory.institution(i).level == "township-centre"), None
            )
            if centre:
                source = self.visit(self.named[centre], day, spec, problems, "outpatient", may_refer=False)
                referral = self.referral("up", source, COUNTY_HOSPITAL, spec)
                self.referrals.append(referral)
                referral_id, admission_way = referral.referral_id, "3"
                day = day + timedelta(days=rng.randint(0, 3))
        elif spec.specialty in ("emergency", "orthopaedics") or rng.random() < 0.25:
            admission_way = "1"
        proc_spec = catalogue.procedures().get(spec.procedure)
        days = rng.randint(proc_spec.days_min, proc_spec.days_max) if proc_spec else rng.randint(3, 12)
        start = self.at(day, 8, 20)
        end = datetime.combine(
            day + timedelta(days=days), time(rng.randint(9, 11), rng.randrange(60)), BEIJING
        )
        if end.date() > END:
            return
        dept = department_for(care.directory, inst, spec.specialty)
        doctor = care.doctor(rng, inst, dept)
        visit = self.visit_number("inpatient", start)
        diagnoses = [Diagnosis(spec.code, spec.name, 1, "1")]
        for other in problems:
            diagnoses.append(Diagnosis(other.code, other.name, len(diagnoses) + 1, rng.choice(_CONDITIONS)))
        procedures: tuple[Procedure, ...] = ()
        if proc_spec:
            performed = start + timedelta(hours=rng.randint(4, 30))
            procedures = (
                Procedure(proc_spec.code, proc_spec.name, 1, performed, doctor, proc_spec.anaesthesia),
            )
        self.stays_at[inst] = self.stays_at.get(inst, 0) + 1
        centre = next(
            (i for i in self.named if care.directory.institution(i).level == "township-centre"), None
        )
        down = (
            inst == COUNTY_HOSPITAL
            and centre is not None
            and spec.specialty in ("orthopaedics", "surgery", "internal")
            and rng.random() < 0.3
        )
        labs = self.labs(visit, spec, start, doctor, True)
        encounter = Encounter(
            visit_number=visit,
            registration_id=reg.registration_id,
            institution=inst,
            kind="inpatient",
            start=start,
            end=end,
            department=dept,
            practitioner=doctor,
            diagnoses=tuple(diagnoses),
            procedures=procedures,
            labs=labs,
            vitals=self.vitals(start, spec, outpatient=False),
            medications=self.medications(visit, [spec, *problems], start, doctor),
            admission_way=admission_way,
            discharge_way="3" if down else rng.choice("1111111124"),
            admission_count=self.stays_at[inst],
            costs=stay_costs(rng, care.directory.institution(inst).level, days, proc_spec, spec.specialty),
            referral=referral_id,
        )
        self.encounters.append(encounter)
        if down and centre:
            referral = self.referral("down", encounter, centre, spec)
            rehab = end.date() + timedelta(days=rng.randint(3, 14))
            if rehab <= END:
                self.referrals.append(referral)
                self.visit(self.named[centre], rehab, spec, [], "outpatient", referral.referral_id, "A21")

    # -- what a visit records ------------------------------------------------------------------------

    def labs(
        self,
        visit: str,
        spec: DiagnosisSpec,
        when: datetime,
        doctor: str,
        ordered: bool,
        previous: tuple[LabOrder, ...] = (),
    ) -> tuple[LabOrder, ...]:
        if not ordered:
            return ()
        keys = list(spec.labs) or (["cbc"] if self.rng.random() < 0.5 else [])
        if previous:  # the county repeats what the centre did
            keys = [
                k for k, p in catalogue.LAB_PANELS.items() if any(o.code == p.code for o in previous)
            ] or keys
        orders = []
        for o, key in enumerate(keys, 1):
            panel = catalogue.LAB_PANELS[key]
            order_id = f"{visit}{o:02d}"
            filler = f"JY{visit[2:]}{o:02d}"
            reported = when + timedelta(hours=self.rng.randint(1, 6))
            results = self.results(panel, filler, spec, reported)
            orders.append(LabOrder(order_id, filler, panel.code, panel.name, when, reported, doctor, results))
        return tuple(orders)

    def results(
        self, panel: LabPanel, filler: str, spec: DiagnosisSpec, observed: datetime
    ) -> tuple[LabResult, ...]:
        rng = self.rng
        relevant = any(catalogue.LAB_PANELS[k] is panel for k in spec.labs)
        out = []
        for i, test in enumerate(panel.tests, 1):
            abnormal = rng.random() < (0.5 if relevant else 0.08)
            if not test.unit and test.low is None:
                value: float | str = (
                    catalogue.QUALITATIVE_ABNORMAL.get(test.code, "阳性") if abnormal else "阴性"
                )
                flag: Flag = "A" if abnormal else "N"
                out.append(
                    LabResult(f"{filler}-{i}", test.code, test.name, value, "", None, None, flag, observed)
                )
                continue
            low = test.low if test.low is not None else (test.high or 1) * 0.4
            high = test.high if test.high is not None else low * 2.2
            number = rng.uniform(low, high)
            if abnormal:
                number = low * rng.uniform(0.6, 0.95) if test.abnormal_low else high * rng.uniform(1.05, 1.8)
            number = round(number, test.decimals)
            flag = "N"
            if test.high is not None and number > test.high:
                flag = "H"
            elif test.low is not None and number < test.low:
                flag = "L"
            out.append(
                LabResult(
                    f"{filler}-{i}",
                    test.code,
                    test.name,
                    float(number),
                    test.unit,
                    test.low,
                    test.high,
                    flag,
                    observed,
                )
            )
        return tuple(out)

    def vitals(self, when: datetime, spec: DiagnosisSpec, outpatient: bool) -> tuple[VitalSign, ...]:
        rng, age = self.rng, self.age_on(when.date())
        v = catalogue.VITALS
        out: list[VitalSign] = []

        def add(key: str, value: float) -> None:
            code, name, unit = v[key]
            out.append(VitalSign(code, name, value, unit, when))

        if age >= 14:
            hypertensive = spec.code.startswith("I10") or rng.random() < 0.15
            systolic = rng.randint(140, 175) if hypertensive else rng.randint(105, 138)
            add("systolic", float(systolic))
            add("diastolic", float(rng.randint(max(55, systolic - 80), systolic - 40)))
        if not outpatient or spec.specialty in ("internal", "paediatrics", "emergency") or spec.notifiable:
            febrile = spec.notifiable or spec.code.startswith(("J", "R50"))
            add("temperature", round(rng.uniform(37.6, 39.6) if febrile else rng.uniform(36.2, 37.2), 1))
            add("pulse", float(rng.randint(60, 110)))
        if age < 14 or not outpatient:
            months = (when.date() - self.person.birth_date).days / 30.4
            first, later = min(months, 12.0), max(months - 12.0, 0.0) / 12
            weight = 3.3 + 0.55 * first + 2.4 * later if age < 18 else rng.uniform(45, 85)
            height = 50 + 2.1 * first + 6.3 * later if age < 18 else rng.uniform(150, 182)
            add("weight", round(weight * rng.uniform(0.9, 1.1), 1))
            add("height", round(height * rng.uniform(0.97, 1.03), 1))
        return tuple(out)

    def medications(
        self, visit: str, specs: list[DiagnosisSpec], when: datetime, doctor: str
    ) -> tuple[MedicationOrder, ...]:
        out: list[MedicationOrder] = []
        for spec in specs:
            if not spec.medication:
                continue
            name, dosage, route = catalogue.DRUGS[spec.medication]
            status = "active" if spec.chronic and (END - when.date()).days < 180 else "completed"
            if self.rng.random() < 0.02:
                status = "stopped"
            order_id = f"{visit}{50 + len(out):02d}"
            out.append(MedicationOrder(order_id, spec.medication, name, dosage, route, when, doctor, status))  # type: ignore[arg-type]
        return tuple(out)

    def mark_repeats(self) -> None:
        """Set `repeat_of` on a lab order when the same test was done at another member one to
        six weeks before."""
        done: list[tuple[datetime, str, LabOrder]] = []
        ordered = sorted(range(len(self.encounters)), key=lambda i: self.encounters[i].start)
        for i in ordered:
            encounter = self.encounters[i]
            labs = []
            for order in encounter.labs:
                earlier = next(
                    (
                        (inst, o)
                        for when, inst, o in reversed(done)
                        if inst != encounter.institution
                        and o.code == order.code
                        and _REPEAT_WINDOW[0] <= order.ordered - when <= _REPEAT_WINDOW[1]
                    ),
                    None,
                )
                labs.append(
                    replace(order, repeat_of=f"{earlier[0]}/{earlier[1].order_id}") if earlier else order
                )
            for order in labs:
                done.append((order.ordered, encounter.institution, order))
            if labs != list(encounter.labs):
                self.encounters[i] = replace(encounter, labs=tuple(labs))

    def allergies(self) -> tuple[Allergy, ...]:
        rng = self.rng
        if rng.random() >= 0.08:
            return ()
        reg = self.home()
        code, substance, category, reaction = rng.choice(catalogue.ALLERGENS)
        recorded = self.at(self.day())
        return (
            Allergy(
                allergy_id=f"GM{self.person.person_id[1:]}",
                registration_id=reg.registration_id,
                substance_code=code,
                substance=substance,
                category=category,  # type: ignore[arg-type]
                reaction=reaction,
                severity=rng.choice(("mild", "mild", "moderate", "severe")),
                recorded=recorded,
            ),
        )
