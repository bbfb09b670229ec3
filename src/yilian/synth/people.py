"""Residents and what registration desks made of them: `group(rng, n, directory, room)`.

The generator works in groups: a person living alone, a couple, a family with a child, and the
groups that make record linkage hard (`History.hard_cases`): two unrelated namesakes born the
same year (同名同姓: same name, different people, different villages), twins (same birth date,
address, phone and mother, names one character apart) and a mother with her newborn (same
phone and address; the baby first registered at the county hospital as "王芳之女" without an ID,
later named at the township centre).  Each group comes from its own random stream.

Each person is registered at one to four members (一院一卡): most often the health centre of
their town and the county hospital, sometimes their village clinic, now and then another
town's centre.  Each desk may get something wrong, at rates meant to look like a county's
registration data, and `Registration.variations` says what: `name-typo`, `homophone`,
`pinyin-only`, `traditional`, `missing-id`, `id-digit`, `id-transposed`, `birth-day-month-swap`,
`phone-changed`, `address-abbreviated`, `unnamed-newborn`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta

from yilian.synth import names
from yilian.synth.directory import COUNTY_HOSPITAL
from yilian.synth.model import Address, Directory, Person, Registration, Sex
from yilian.synth.places import CITY, COUNTY, COUNTY_SEAT, DIVISION, NEIGHBOUR_DIVISIONS, PROVINCE, TOWNS
from yilian.synth.resident_id import make_resident_id

__all__ = ["END", "START", "VARIATIONS", "Resident", "group"]

START = date(2022, 1, 1)
END = date(2026, 6, 30)
"""The span the alliance's records cover."""

VARIATIONS = (
    "name-typo",
    "homophone",
    "pinyin-only",
    "traditional",
    "missing-id",
    "id-digit",
    "id-transposed",
    "birth-day-month-swap",
    "phone-changed",
    "address-abbreviated",
    "unnamed-newborn",
)
"""Every kind of desk variation a registration can record."""

_MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "170",
    "171",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "193",
    "195",
    "198",
    "199",
]

_GROUP_KINDS = (  # (kind, persons, weight)
    ("single", 1, 44.0),
    ("couple", 2, 27.0),
    ("family", 3, 20.0),
    ("mother-newborn", 2, 4.5),
    ("twins", 3, 2.0),
    ("namesakes", 2, 2.5),
)


@dataclass(frozen=True, slots=True)
class Resident:
    """A person, their registrations and hard cases, and what the care model must know:
    the day a mother gave birth (her delivery stay) and whether this is the newborn."""

    person: Person
    registrations: tuple[Registration, ...]
    hard_cases: tuple[tuple[str, str], ...] = ()
    delivered: date | None = None
    newborn: bool = False


def group(rng: random.Random, n: int, directory: Directory, room: int) -> list[Resident]:
    """The residents of group `n` (at most `room` of them), registered at `directory`'s members."""
    kinds = [k for k in _GROUP_KINDS if k[1] <= room]
    kind = rng.choices(kinds, weights=[k[2] for k in kinds])[0][0]
    builder = _Builder(rng, n, directory)
    return builder.build(kind)


class _Builder:
    def __init__(self, rng: random.Random, n: int, directory: Directory) -> None:
        self.rng = rng
        self.n = n
        self.directory = directory
        self.count = 0
        codes = {i.code for i in directory.institutions}
        self.towns = [COUNTY_SEAT] + [t for t in TOWNS[1:] if f"{t.code}-thc" in codes]
        self.clinics = {
            (i.town, i.name.removeprefix(f"{COUNTY}{i.town}").removesuffix("卫生室")): i.code
            for i in directory.institutions
            if i.level == "village-clinic"
        }

    # -- people ---------------------------------------------------------------------------------

    def _address(self) -> Address:
        rng = self.rng
        if rng.random() < 0.3 or len(self.towns) == 1:
            town = COUNTY_SEAT
            street = rng.choice(("解放路", "人民路", "新华街", "城东路", "溪滨路", "府前街"))
            unit, floor, room = rng.randint(1, 6), rng.randint(1, 6), rng.randint(1, 4)
            house = f"{street}{rng.randint(1, 260)}号{unit}单元{floor}0{room}室"
        else:
            town = rng.choice(self.towns[1:])
            house = f"{rng.randint(1, 180)}号"
        return Address(PROVINCE, CITY, COUNTY, town.name, rng.choice(town.villages), house)

    def _phone(self) -> str:
        return self.rng.choice(_MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def _birth(self, youngest: int, oldest: int) -> date:
        age_days = self.rng.randint(youngest * 365, oldest * 365 + 364)
        return END - timedelta(days=age_days)

    def person(
        self,
        sex: Sex,
        birth: date,
        address: Address,
        phone: str,
        family: tuple[str, str] | None = None,
        given: str | None = None,
        **links: str | None,
    ) -> Person:
        rng = self.rng
        family_zh, family_py = family or names.surname(rng)
        given = given or names.given_name(rng, sex)
        division = DIVISION if rng.random() < 0.85 else rng.choice(NEIGHBOUR_DIVISIONS)
        sequence = rng.randrange(500) * 2 + (1 if sex == "male" else 0)
        person_id = f"P{self.n:07d}{self.count}"
        self.count += 1
        return Person(
            person_id=person_id,
            family=family_zh,
            given=given,
            family_pinyin=family_py,
            given_pinyin=names.given_pinyin(given),
            sex=sex,
            birth_date=birth,
            resident_id=make_resident_id(division, birth.isoformat(), sequence),
            phone=phone,
            address=address,
            mother=links.get("mother"),
            twin=links.get("twin"),
        )

    def adult(self, sex: Sex | None = None, youngest: int = 18, oldest: int = 90, **kw: object) -> Person:
        sex = sex or self.rng.choice(("male", "female"))
        address = kw.pop("address", None) or self._address()
        return self.person(sex, self._birth(youngest, oldest), address, self._phone(), **kw)  # type: ignore[arg-type]

    # -- groups ---------------------------------------------------------------------------------

    def build(self, kind: str) -> list[Resident]:
        rng = self.rng
        if kind == "single":
            return [self.register(self.adult())]
        if kind == "couple":
            first = self.adult("male", 22, 90)
            second = self.adult("female", max(18, _age(first) - 8), _age(first) + 2, address=first.address)
            return [self.register(first), self.register(second)]
        if kind == "family":
            father = self.adult("male", 26, 50)
            mother = self.adult("female", 24, _age(father), address=father.address)
            sex: Sex = rng.choice(("male", "female"))
            child = self.person(
                sex,
                self._birth(0, min(17, _age(mother) - 20)),
                father.address,
                mother.phone,
                family=(father.family, father.family_pinyin),
                mother=mother.person_id,
            )
            return [self.register(father), self.register(mother), self.register(child)]
        if kind == "namesakes":
            first = self.adult()
            year = first.birth_date.year
            birth = date(year, rng.randint(1, 12), rng.randint(1, 28))
            other_town = self._address()
            second = self.person(
                first.sex,
                birth,
                other_town,
                self._phone(),
                family=(first.family, first.family_pinyin),
                given=first.given,
            )
            return [
                self.register(first, (("namesake", second.person_id),)),
                self.register(second, (("namesake", first.person_id),)),
            ]
        if kind == "twins":
            mother = self.adult("female", 24, 45)
            birth = self._birth(0, min(15, _age(mother) - 20))
            family = names.surname(rng)
            shared = names.given_name(rng, "female")[0]
            a_sex: Sex = rng.choice(("male", "female"))
            b_sex: Sex = a_sex if rng.random() < 0.6 else ("female" if a_sex == "male" else "male")
            first_id, second_id = f"P{self.n:07d}1", f"P{self.n:07d}2"
            a = self.person(
                a_sex,
                birth,
                mother.address,
                mother.phone,
                family=family,
                given=shared + names.given_name(rng, a_sex)[-1],
                mother=mother.person_id,
                twin=second_id,
            )
            b_given = shared + names.given_name(rng, b_sex)[-1]
            if b_given == a.given:
                b_given = shared + ("一" if a.given[-1] != "一" else "二")
            b = self.person(
                b_sex,
                birth,
                mother.address,
                mother.phone,
                family=family,
                given=b_given,
                mother=mother.person_id,
                twin=first_id,
            )
            return [
                self.register(mother),
                self.register(a, (("twin", b.person_id),)),
                self.register(b, (("twin", a.person_id),)),
            ]
        # mother-newborn: a birth inside the covered span, at the county hospital
        mother = self.adult("female", 21, 40)
        born = START + timedelta(days=rng.randrange((END - START).days - 30))
        father_family = names.surname(rng) if rng.random() < 0.85 else (mother.family, mother.family_pinyin)
        baby = self.person(
            rng.choice(("male", "female")),
            born,
            mother.address,
            mother.phone,
            family=father_family,
            mother=mother.person_id,
        )
        mother_res = self.register(mother, (("mother-newborn", baby.person_id),))
        return [
            replace(mother_res, delivered=born),
            self.register_newborn(baby, mother),
        ]

    # -- registrations ----------------------------------------------------------------------------

    def members_for(self, person: Person) -> list[str]:
        """The members `person` is registered at, the home one first."""
        rng = self.rng
        codes = {i.code for i in self.directory.institutions}
        centre = next((f"{t.code}-thc" for t in TOWNS if t.name == person.address.town), None)
        chosen: list[str] = []
        if centre is not None and centre in codes and rng.random() < 0.85:
            chosen.append(centre)
        if rng.random() < 0.6 or not chosen:
            chosen.append(COUNTY_HOSPITAL)
        clinic = self.clinics.get((person.address.town, person.address.village))
        if clinic and rng.random() < 0.6:
            chosen.append(clinic)
        others = [c for c in codes if c.endswith("-thc") and c not in chosen]
        if others and rng.random() < 0.08:
            chosen.append(rng.choice(sorted(others)))
        return chosen[:4]

    def register(self, person: Person, hard_cases: tuple[tuple[str, str], ...] = ()) -> Resident:
        members = self.members_for(person)
        registrations = tuple(self.registration(person, code, j) for j, code in enumerate(members))
        return Resident(person, registrations, hard_cases)

    def register_newborn(self, baby: Person, mother: Person) -> Resident:
        """A newborn: unnamed at the county hospital (most births there), then named at the home
        centre when the alliance has another member to name it at."""
        members = [m for m in self.members_for(baby) if m != COUNTY_HOSPITAL]
        cases = (("mother-newborn", mother.person_id),)
        if not members or self.rng.random() < 0.35:  # born and named at one place: no unnamed record
            return Resident(baby, self.register(baby).registrations, cases, newborn=True)
        suffix = "之女" if baby.sex == "female" else "之子"
        given = mother.given + suffix
        unnamed = Registration(
            registration_id=f"{baby.person_id}-0",
            person_id=baby.person_id,
            institution=COUNTY_HOSPITAL,
            mrn=self._mrn(baby, 0),
            family=mother.family,
            given=given,
            family_pinyin=mother.family_pinyin,
            given_pinyin=names.given_pinyin(given),
            sex=baby.sex,
            birth_date=baby.birth_date,
            resident_id=None,
            phone=mother.phone,
            address=baby.address,
            address_text=baby.address.text,
            variations=("unnamed-newborn", "missing-id"),
        )
        named = tuple(self.registration(baby, code, j + 1) for j, code in enumerate(members))
        return Resident(
            baby, (unnamed, *named), (*cases, ("unnamed-newborn", mother.person_id)), newborn=True
        )

    def _mrn(self, person: Person, j: int) -> str:
        return f"{person.person_id[1:]}{j}"

    def registration(self, person: Person, institution: str, j: int) -> Registration:
        rng = self.rng
        variations: list[str] = []
        family, given = person.family, person.given
        family_py, given_py = person.family_pinyin, person.given_pinyin
        roll = rng.random()
        if roll < 0.025 and (changed := names.homophone(rng, given)):
            given, variations = changed, ["homophone"]
        elif roll < 0.04 and (changed := names.typo(rng, given)):
            given, variations = changed, ["name-typo"]
        elif 0.04 <= roll < 0.045:
            family, given, variations = family_py, given_py, ["pinyin-only"]
        elif 0.045 <= roll < 0.05 and names.traditional(family + given) != family + given:
            family, given, variations = names.traditional(family), names.traditional(given), ["traditional"]
        if variations and variations[0] != "pinyin-only":
            given_py = names.given_pinyin(given) if variations[0] != "traditional" else given_py
        resident_id: str | None = person.resident_id
        roll = rng.random()
        elderly = person.birth_date.year < 1950
        if roll < (0.09 if elderly else 0.04):
            resident_id = None
            variations.append("missing-id")
        elif roll < 0.105 if elderly else roll < 0.055:
            resident_id = _wrong_digit(rng, person.resident_id)
            variations.append("id-digit")
        elif roll < 0.112 if elderly else roll < 0.062:
            transposed = _transposed(rng, person.resident_id)
            if transposed is not None:
                resident_id = transposed
                variations.append("id-transposed")
        born = person.birth_date
        birth: date | None = born
        if rng.random() < 0.012 and born.day <= 12 and born.day != born.month:
            birth = date(born.year, born.day, born.month)
            variations.append("birth-day-month-swap")
        phone: str | None = person.phone
        if rng.random() < 0.07:
            phone = self._phone()
            variations.append("phone-changed")
        address = person.address
        if rng.random() < 0.12:
            address = replace(address, province="", city="")
            variations.append("address-abbreviated")
        return Registration(
            registration_id=f"{person.person_id}-{j}",
            person_id=person.person_id,
            institution=institution,
            mrn=self._mrn(person, j),
            family=family,
            given=given,
            family_pinyin=family_py,
            given_pinyin=given_py,
            sex=person.sex,
            birth_date=birth,
            resident_id=resident_id,
            phone=phone,
            address=address,
            address_text=address.text,
            variations=tuple(variations),
        )


def _age(person: Person) -> int:
    return (END - person.birth_date).days // 365


def _wrong_digit(rng: random.Random, value: str) -> str:
    """One of the first 17 digits replaced by another: the check character no longer fits."""
    i = rng.randrange(17)
    digit = rng.choice([d for d in "0123456789" if d != value[i]])
    return value[:i] + digit + value[i + 1 :]


def _transposed(rng: random.Random, value: str) -> str | None:
    """Two adjacent differing digits of the first 17 swapped (None if all are equal)."""
    pairs = [i for i in range(16) if value[i] != value[i + 1]]
    if not pairs:
        return None
    i = rng.choice(pairs)
    return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
