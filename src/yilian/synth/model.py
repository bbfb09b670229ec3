"""What happened in the synthetic alliance, before any wire format.

The generator (`synth.alliance`) produces these events; one writer per format turns them into
FHIR (`synth.fhir_out`), HL7 v2 messages (`synth.hl7_out`) and front-sheet rows
(`synth.frontsheet_out`).  Every event carries the identifiers the source system would have
given it (medical record number, visit number, order and result numbers), and each writer
puts them where its format keeps them, so whatever format the alliance's data arrives in, the
FHIR yilian makes of it can be compared with the FHIR the generator wrote itself.

`Person` is the truth (who someone really is); `Registration` is what one institution's
registration desk typed (一院一卡: one record per institution, with the desk's errors).
Clinical events belong to a registration, never directly to a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

__all__ = [
    "Address",
    "Allergy",
    "Department",
    "Diagnosis",
    "Directory",
    "Encounter",
    "History",
    "Institution",
    "LabOrder",
    "LabResult",
    "MedicationOrder",
    "Person",
    "Practitioner",
    "Procedure",
    "Referral",
    "Registration",
    "VitalSign",
]

InstitutionLevel = Literal["county-hospital", "township-centre", "village-clinic"]
Sex = Literal["male", "female"]
EncounterKind = Literal["outpatient", "emergency", "inpatient"]


@dataclass(frozen=True, slots=True)
class Institution:
    """An alliance member.  `code` is its yilian partition (`/fhir/{code}/`); `facility` is
    what its HIS writes in MSH-4 (the facility-to-institution map pairs the two); `org_code`
    its 18-character unified social credit code (统一社会信用代码)."""

    code: str
    name: str
    level: InstitutionLevel
    facility: str
    org_code: str
    division: str  # 6-digit county division code (GB/T 2260)
    town: str  # the township it serves; the county hospital serves the county seat
    parent: str | None  # the member it reports to: village -> township -> county hospital


@dataclass(frozen=True, slots=True)
class Department:
    institution: str
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Practitioner:
    id: str  # unique in the alliance, e.g. "D0012"
    institution: str
    department: str
    name: str
    pinyin: str
    licence: str  # practising certificate number (执业证书编码)
    role: Literal["doctor", "nurse", "technician"]


@dataclass(frozen=True)
class Directory:
    """The alliance's members, departments and staff, for the writers to look up by code."""

    institutions: tuple[Institution, ...]
    departments: tuple[Department, ...]
    practitioners: tuple[Practitioner, ...]
    _institutions: dict[str, Institution] = field(init=False, repr=False, compare=False)
    _departments: dict[tuple[str, str], Department] = field(init=False, repr=False, compare=False)
    _practitioners: dict[str, Practitioner] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_institutions", {i.code: i for i in self.institutions})
        object.__setattr__(self, "_departments", {(d.institution, d.code): d for d in self.departments})
        object.__setattr__(self, "_practitioners", {p.id: p for p in self.practitioners})

    def institution(self, code: str) -> Institution:
        return self._institutions[code]

    def department(self, institution: str, code: str) -> Department:
        return self._departments[(institution, code)]

    def practitioner(self, id: str) -> Practitioner:
        return self._practitioners[id]


@dataclass(frozen=True, slots=True)
class Address:
    """An address by administrative level, as the national data set splits it."""

    province: str
    city: str
    county: str
    town: str
    village: str
    house: str  # what follows the village: "23号", "幸福路8号3单元"

    @property
    def text(self) -> str:
        return f"{self.province}{self.city}{self.county}{self.town}{self.village}{self.house}"


@dataclass(frozen=True, slots=True)
class Person:
    """Who someone really is (the truth files' subject)."""

    person_id: str
    family: str
    given: str
    family_pinyin: str
    given_pinyin: str
    sex: Sex
    birth_date: date
    resident_id: str
    phone: str
    address: Address
    mother: str | None = None  # person_id of the mother, for a newborn in the data
    twin: str | None = None  # person_id of the twin


@dataclass(frozen=True, slots=True)
class Registration:
    """One person's record at one institution, as its desk typed it: any field may differ
    from the `Person` (a typo or homophone in the name, a missing or mistyped resident ID,
    an old phone, an abbreviated address, an unnamed newborn "王芳之女"), and `variations`
    says which did."""

    registration_id: str  # unique in the alliance; the truth files pair it with person_id
    person_id: str
    institution: str
    mrn: str  # the institution's medical record number (病案号 / 门诊号)
    family: str
    given: str
    family_pinyin: str
    given_pinyin: str
    sex: Sex
    birth_date: date | None
    resident_id: str | None
    phone: str | None
    address: Address | None
    address_text: str  # as typed; may abbreviate the address's levels
    variations: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.family + self.given


@dataclass(frozen=True, slots=True)
class Diagnosis:
    code: str  # ICD-10 医保版 2.0, e.g. "I10.x00"
    name: str  # its Chinese name
    rank: int  # 1 = the main diagnosis
    admission_condition: Literal["1", "2", "3", "4"] = "1"  # 入院病情: 有 / 临床未确定 / 情况不明 / 无
    notifiable: bool = False  # a notifiable infectious disease (法定传染病)


@dataclass(frozen=True, slots=True)
class Procedure:
    code: str  # ICD-9-CM-3 医保版 2.0, e.g. "47.0900"
    name: str
    rank: int  # 1 = the main procedure
    performed: datetime
    operator: str  # Practitioner.id
    anaesthesia: str | None = None  # 麻醉方式, e.g. "全身麻醉"; None when none was given


@dataclass(frozen=True, slots=True)
class LabResult:
    result_id: str  # unique within its institution
    code: str  # LOINC
    name: str  # Chinese display name
    value: float | str
    unit: str  # UCUM
    low: float | None
    high: float | None
    flag: Literal["N", "H", "L", "A"]
    observed: datetime


@dataclass(frozen=True, slots=True)
class LabOrder:
    """One ordered test or panel and its report."""

    order_id: str  # placer order number, unique within its institution
    filler_id: str  # the lab's accession number
    code: str  # LOINC of the test or panel
    name: str
    ordered: datetime
    reported: datetime
    orderer: str  # Practitioner.id
    results: tuple[LabResult, ...]
    repeat_of: str | None = None  # "institution/order_id" of the same test done elsewhere weeks before


@dataclass(frozen=True, slots=True)
class VitalSign:
    code: str  # LOINC
    name: str
    value: float
    unit: str  # UCUM
    observed: datetime


@dataclass(frozen=True, slots=True)
class MedicationOrder:
    order_id: str
    code: str  # ATC
    name: str  # Chinese generic name
    dosage: str
    route: str
    ordered: datetime
    orderer: str
    status: Literal["active", "completed", "stopped"]


@dataclass(frozen=True, slots=True)
class Allergy:
    allergy_id: str
    registration_id: str
    substance_code: str
    substance: str
    category: Literal["medication", "food", "environment"]
    reaction: str
    severity: Literal["mild", "moderate", "severe"]
    recorded: datetime


@dataclass(frozen=True, slots=True)
class Referral:
    referral_id: str
    direction: Literal["up", "down"]  # clinic -> county hospital, or back for rehabilitation
    from_institution: str
    to_institution: str
    from_registration: str
    to_registration: str
    reason: str
    requested: datetime
    from_encounter: str  # Encounter.visit_number at the referring member


@dataclass(frozen=True, slots=True)
class Encounter:
    """A visit or a stay.  Inpatient stays carry what the front sheet (病案首页) records:
    admission and discharge ways, the attending department and costs by category."""

    visit_number: str  # unique within its institution
    registration_id: str
    institution: str
    kind: EncounterKind
    start: datetime
    end: datetime
    department: str  # Department.code
    practitioner: str  # Practitioner.id
    diagnoses: tuple[Diagnosis, ...]
    procedures: tuple[Procedure, ...] = ()
    labs: tuple[LabOrder, ...] = ()
    vitals: tuple[VitalSign, ...] = ()
    medications: tuple[MedicationOrder, ...] = ()
    admission_way: str | None = None  # 入院途径: 1 急诊 2 门诊 3 其他医疗机构转入 9 其他
    discharge_way: str | None = (
        None  # 离院方式: 1 医嘱离院 2 医嘱转院 3 医嘱转社区 4 非医嘱离院 5 死亡 9 其他
    )
    admission_count: int | None = None  # 住院次数: this stay's number for the patient here
    # front-sheet cost category (ingest.frontsheet.costs.COST_CATEGORIES keys) -> amount in yuan
    costs: dict[str, Decimal] = field(default_factory=dict)
    referral: str | None = None  # Referral.referral_id that brought the patient here


@dataclass(frozen=True, slots=True)
class History:
    """Everything about one person, in time order: the unit the generator streams.  A
    household (a mother and her newborn, twins) comes as consecutive histories."""

    person: Person
    registrations: tuple[Registration, ...]
    encounters: tuple[Encounter, ...]
    allergies: tuple[Allergy, ...] = ()
    referrals: tuple[Referral, ...] = ()
    hard_cases: tuple[tuple[str, str], ...] = ()  # (kind, other person_id): namesake, twin, mother-newborn
