"""The synthetic alliance generator: deterministic, streaming, flat in memory, with every
desk variation and hard case it promises, each consistent with the truth it records."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from yilian.synth.alliance import Alliance
from yilian.synth.model import History
from yilian.synth.output import write
from yilian.synth.people import VARIATIONS
from yilian.synth.resident_id import is_valid_resident_id


@pytest.fixture(scope="module")
def histories() -> list[History]:
    return list(Alliance(3000, 12, 11).histories())


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_files_other_seed_differs(tmp_path: Path) -> None:
    write(tmp_path / "a", 60, 5, 3, ["fhir"])
    write(tmp_path / "b", 60, 5, 3, ["fhir"])
    write(tmp_path / "c", 60, 5, 4, ["fhir"])
    a, b, c = (_tree_digest(tmp_path / x) for x in "abc")
    assert a == b and len(a) > 20
    assert a != c


def test_patients_counts_persons_and_groups_are_slices_of_the_stream() -> None:
    alliance = Alliance(101, 4, 5)
    people = list(alliance.histories())
    assert len(people) == 101
    groups = list(alliance.groups())
    assert [h.person for g in groups[:-1] for h in g] == [h.person for h in people[: -len(groups[-1])]]
    assert alliance.group(7) == groups[7]  # group 7 alone, without the ones before it


def test_resident_ids_valid_except_where_the_desk_mistyped(histories: list[History]) -> None:
    mistyped = 0
    for h in histories:
        assert is_valid_resident_id(h.person.resident_id)
        for reg in h.registrations:
            if reg.resident_id is None:
                assert "missing-id" in reg.variations
            elif {"id-digit", "id-transposed"} & set(reg.variations):
                assert not is_valid_resident_id(reg.resident_id)
                assert (
                    sorted(reg.resident_id) == sorted(h.person.resident_id)
                    or sum(x != y for x, y in zip(reg.resident_id, h.person.resident_id, strict=True)) == 1
                )
                mistyped += 1
            else:
                assert reg.resident_id == h.person.resident_id
    assert mistyped > 0


def test_every_variation_and_hard_case_occurs(histories: list[History]) -> None:
    variations = Counter(v for h in histories for r in h.registrations for v in r.variations)
    assert set(VARIATIONS) <= set(variations)
    registrations = sum(len(h.registrations) for h in histories)
    assert variations["address-abbreviated"] < registrations * 0.2  # realistic, not everywhere
    kinds = Counter(kind for h in histories for kind, _ in h.hard_cases)
    assert {"namesake", "twin", "mother-newborn", "unnamed-newborn"} <= set(kinds)


def test_hard_cases_are_consistent(histories: list[History]) -> None:
    people = {h.person.person_id: h.person for h in histories}
    for h in histories:
        p = h.person
        for kind, other_id in h.hard_cases:
            other = people[other_id]
            if kind == "twin":
                assert (p.birth_date, p.address, p.phone, p.mother) == (
                    other.birth_date, other.address, other.phone, other.mother,
                )  # fmt: skip
                assert p.family == other.family and p.given != other.given and p.twin == other_id
            elif kind == "namesake":
                assert (p.family, p.given, p.birth_date.year) == (
                    other.family,
                    other.given,
                    other.birth_date.year,
                )
                assert p.resident_id != other.resident_id
            elif kind in ("mother-newborn", "unnamed-newborn"):
                assert p.phone == other.phone and p.address == other.address
                assert other_id == p.mother or other.mother == p.person_id
        for reg in h.registrations:
            if "unnamed-newborn" in reg.variations:
                mother = people[p.mother or ""]
                assert reg.name == mother.family + mother.given + ("之女" if p.sex == "female" else "之子")
                assert reg.resident_id is None
                named = [r for r in h.registrations if r is not reg]
                assert named and all(r.institution != reg.institution for r in named)


def test_identifiers_unique_per_member_and_labs_flag_their_values(histories: list[History]) -> None:
    seen: set[tuple[str, str]] = set()
    for h in histories:
        for e in h.encounters:
            ids = [e.visit_number] + [o.order_id for o in e.labs] + [m.order_id for m in e.medications]
            for value in ids + [r.result_id for o in e.labs for r in o.results]:
                assert (e.institution, value) not in seen
                seen.add((e.institution, value))
            assert e.start.utcoffset() is not None and e.start.utcoffset().total_seconds() == 8 * 3600
            for order in e.labs:
                for r in order.results:
                    if isinstance(r.value, str):
                        assert r.flag == ("N" if r.value == "阴性" else "A")
                    elif r.high is not None and r.value > r.high:
                        assert r.flag == "H"
                    elif r.low is not None and r.value < r.low:
                        assert r.flag == "L"
                    else:
                        assert r.flag == "N"
            if e.kind == "inpatient":
                assert e.visit_number.startswith("ZY") and e.costs and e.admission_way and e.admission_count
                assert all(v == v.quantize(v) and v.as_tuple().exponent == -2 for v in e.costs.values())


def test_referrals_repeats_and_outbreaks_occur(histories: list[History]) -> None:
    directions = Counter(r.direction for h in histories for r in h.referrals)
    assert directions["up"] and directions["down"]
    for h in histories:
        received = {e.referral: e for e in h.encounters if e.referral}
        for r in h.referrals:
            assert received[r.referral_id].institution == r.to_institution
    repeats = [o for h in histories for e in h.encounters for o in e.labs if o.repeat_of]
    assert repeats
    notifiable = Counter(
        d.code[:3] for h in histories for e in h.encounters for d in e.diagnoses if d.notifiable
    )
    assert {"J11", "B08", "A09"} <= set(notifiable)
    flu_months = Counter(
        e.start.month
        for h in histories
        for e in h.encounters
        for d in e.diagnoses
        if d.code.startswith("J11")
    )
    assert set(flu_months) <= {12, 1, 2}


def _peak(groups: int) -> int:
    alliance = Alliance(1, 20, 9)
    tracemalloc.start()
    try:
        for _ in alliance.groups(0, groups):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat() -> None:
    small, large = _peak(2_000), _peak(20_000)
    assert large < small * 3, (small, large)
