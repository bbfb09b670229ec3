"""The alliance's members, their departments and staff: `directory(institutions, seed)`.

Member 0 is the county hospital (青溪县人民医院, `county-hospital`), then one township health
centre per town (乡镇卫生院, `{town}-thc`: the first two are the demo's `dongshan-thc` and
`baishui-thc`), then village clinics (村卫生室, `{village}-vc`) spread over the towns that have
a centre, each reporting to its town's centre.  Every member has an 18-character unified social
credit code (统一社会信用代码, GB 32100-2015) with valid check characters: public hospitals are
registered by the staffing authority as public institutions, hence the prefix `12`.

Department codes are the national department codes (科室代码, as the settlement list's
`caty` value set spells them: A03 内科, A04 外科...), so front sheets can carry them as is.
"""

from __future__ import annotations

import random
from typing import Literal

from pypinyin import Style, lazy_pinyin

from yilian.synth import names
from yilian.synth.model import Department, Directory, Institution, Practitioner, Sex
from yilian.synth.places import COUNTY, COUNTY_SEAT, DIVISION, TOWNS

__all__ = [
    "COUNTY_HOSPITAL",
    "DEPARTMENTS",
    "MAX_INSTITUTIONS",
    "credit_code",
    "department_for",
    "directory",
]

COUNTY_HOSPITAL = "county-hospital"
MAX_INSTITUTIONS = 200

DEPARTMENTS = {
    "A02": "全科医疗科",
    "A03": "内科",
    "A04": "外科",
    "A04.03": "骨科专业",
    "A05": "妇产科",
    "A07": "儿科",
    "A10": "眼科",
    "A20": "急诊医学科",
    "A21": "康复医学科",
    "A30": "医学检验科",
    "A50": "中医科",
}
"""Department code -> name (科室代码)."""

_COUNTY_DEPARTMENTS = ("A03", "A04", "A04.03", "A05", "A07", "A10", "A20", "A21", "A30", "A50")
_CENTRE_DEPARTMENTS = ("A02", "A05", "A21", "A30", "A50")
_CLINIC_DEPARTMENTS = ("A02",)

SPECIALTY_DEPARTMENT = {
    "internal": "A03",
    "surgery": "A04",
    "orthopaedics": "A04.03",
    "obstetrics": "A05",
    "paediatrics": "A07",
    "ophthalmology": "A10",
    "emergency": "A20",
    "rehabilitation": "A21",
}
"""A diagnosis's specialty (synth/data/diagnoses.csv) -> the county hospital's department."""

LAB_DEPARTMENT = "A30"
Role = Literal["doctor", "nurse", "technician"]

# GB 32100-2015: the 31 characters allowed (no I, O, Z, S, V) and the weights 3^i mod 31.
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997: the 9-character organisation code inside it, weights of its 8 body characters.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code(division: str, body: str, prefix: str = "12") -> str:
    """A unified social credit code: `prefix` (registering authority and kind), the 6-digit
    `division`, the organisation code (8-character `body` and its GB 11714 check character)
    and the GB 32100 check character."""
    org_sum = sum(int(c, 36) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    org_check = 11 - org_sum % 11
    org = body + ("X" if org_check == 10 else "0" if org_check == 11 else str(org_check))
    first17 = prefix + division + org
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return first17 + _CREDIT_CHARS[(31 - total % 31) % 31]


def department_for(directory: Directory, institution: str, specialty: str) -> str:
    """The department of `institution` that sees a `specialty` problem: the county hospital's
    own, a centre's general practice (or its maternity / rehabilitation department when it has
    one), a clinic's only department."""
    wanted = SPECIALTY_DEPARTMENT.get(specialty, "A03")
    for code in (wanted, "A02", "A03"):
        if (institution, code) in directory._departments:
            return code
    return next(d.code for d in directory.departments if d.institution == institution)


def _initials(name: str) -> str:
    return "".join(p[0] for p in lazy_pinyin(name, style=Style.FIRST_LETTER)).upper()


def directory(institutions: int, seed: int = 2026) -> Directory:
    """The first `institutions` members (1..200) with their departments and practitioners;
    the same arguments give the same directory."""
    if not 1 <= institutions <= MAX_INSTITUTIONS:
        raise ValueError(f"institutions must be 1..{MAX_INSTITUTIONS}, got {institutions}")
    rng = random.Random(f"{seed}:directory")
    county_initials = _initials(COUNTY)
    members: list[Institution] = [
        Institution(
            COUNTY_HOSPITAL,
            f"{COUNTY}人民医院",
            "county-hospital",
            f"{county_initials}RMYY",
            credit_code(DIVISION, f"{rng.randrange(10**8):08d}"),
            DIVISION,
            COUNTY_SEAT.name,
            None,
        )
    ]
    # About half the other members are township centres, the rest village clinics under them,
    # as a county alliance is built (the first two centres keep the demo's codes).
    centres = min(len(TOWNS) - 1, institutions - 1, max(2, institutions // 2))
    towns = TOWNS[1 : 1 + centres]
    for town in towns:
        members.append(
            Institution(
                f"{town.code}-thc",
                f"{COUNTY}{town.name}卫生院",
                "township-centre",
                f"{county_initials}{_initials(town.name)}WSY",
                credit_code(DIVISION, f"{rng.randrange(10**8):08d}"),
                DIVISION,
                town.name,
                COUNTY_HOSPITAL,
            )
        )
    used = {m.code for m in members}
    facilities = {m.facility for m in members}
    for k in range(institutions - len(members)):
        town = towns[k % len(towns)]
        village = town.villages[k // len(towns)]
        code = f"{_pinyin(village[:-1])}-vc"
        if code in used:  # two villages read alike: the town tells them apart
            code = f"{town.code}-{code}"
        used.add(code)
        facility = f"{county_initials}{_initials(town.name + village)}WSS"
        while facility in facilities:  # initials collide more often than names: number them
            facility = f"{facility.rstrip('0123456789')}{len(facilities) % 97}"
        facilities.add(facility)
        members.append(
            Institution(
                code,
                f"{COUNTY}{town.name}{village}卫生室",
                "village-clinic",
                facility,
                credit_code(DIVISION, f"{rng.randrange(10**8):08d}", prefix="52"),
                DIVISION,
                town.name,
                f"{town.code}-thc",
            )
        )
    departments: list[Department] = []
    practitioners: list[Practitioner] = []
    for member in members:
        codes = {
            "county-hospital": _COUNTY_DEPARTMENTS,
            "township-centre": _CENTRE_DEPARTMENTS,
            "village-clinic": _CLINIC_DEPARTMENTS,
        }[member.level]
        for code in codes:
            departments.append(Department(member.code, code, DEPARTMENTS[code]))
            staff = {"county-hospital": 3, "township-centre": 2, "village-clinic": 1}[member.level]
            for n in range(staff + (1 if member.level == "county-hospital" else 0)):
                role: Role = "technician" if code == LAB_DEPARTMENT else "nurse" if n == staff else "doctor"
                practitioners.append(_practitioner(rng, len(practitioners) + 1, member, code, role))
    return Directory(tuple(members), tuple(departments), tuple(practitioners))


def _pinyin(name: str) -> str:
    return "".join(lazy_pinyin(name, style=Style.NORMAL)).lower()


def _practitioner(
    rng: random.Random, number: int, member: Institution, department: str, role: Role
) -> Practitioner:
    sex: Sex = "female" if rng.random() < (0.85 if role == "nurse" else 0.45) else "male"
    family, family_py = names.surname(rng)
    given = names.given_name(rng, sex)
    year = rng.randint(1995, 2022)
    if role == "nurse":  # 护士执业证书编号: year, province, sequence
        licence = f"{year}33{rng.randrange(10**6):06d}"
    else:  # 医师执业证书编码: level, category, year, division, sequence
        licence = f"11{year}{member.division}{rng.randrange(1000):03d}"
    return Practitioner(
        id=f"D{number:04d}",
        institution=member.code,
        department=department,
        name=family + given,
        pinyin=f"{family_py} {names.given_pinyin(given)}",
        licence=licence,
        role=role,
    )
