"""A comma-separated OR beside another criterion: every criterion still holds.

The values of one criterion are ORed inside the SQL of that criterion; without their own
parentheses, `param = ? AND (a) OR (b)` let `b` match index rows of any parameter (and, in a
probe, of any resource).  These are the shapes a user found wrong, each checked against the
criteria taken one at a time and intersected, on both backends, and across a paging walk."""

from __future__ import annotations

import pytest
from tests.contract.conftest import ids

from yilian.fhir.search.parse import parse_search
from yilian.store.base import DEFAULT_PARTITION, Repository, Scope

pytestmark = pytest.mark.anyio

SNOMED = "http://snomed.info/sct"
CVX = "http://hl7.org/fhir/sid/cvx"


async def _load(repo: Repository) -> None:
    everything = Scope.everything()
    async with repo.transaction() as s:
        for i, family in enumerate(["Zulauf", "Reynolds", "Koepp", "Zulauf", "Adams"]):
            tag = [{"system": "urn:t", "code": "S" if i % 2 == 0 else "T"}]
            patient = {
                "resourceType": "Patient",
                "id": f"p{i}",
                "meta": {"tag": tag},
                "name": [{"family": family, "given": ["Reynolda" if family == "Adams" else "Ann"]}],
                "address": [{"city": "Zulauftown"}],
            }
            await s.update(patient, DEFAULT_PARTITION, scope=everything)
        for i, code in enumerate(["A", "B", "C", "A", "C", "B"]):
            encounter = {
                "resourceType": "Encounter",
                "id": f"e{i}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "type": [{"coding": [{"system": SNOMED, "code": code}]}],
                "subject": {"reference": f"Patient/p{i % 2}"},
            }
            await s.update(encounter, DEFAULT_PARTITION, scope=everything)
        for i in range(30):
            immunization = {
                "resourceType": "Immunization",
                "id": f"i{i}",
                "status": "completed",
                "vaccineCode": {"coding": [{"system": CVX, "code": ["140", "08", "113"][i % 3]}]},
                "patient": {"reference": "Patient/p0"},
                "occurrenceDateTime": f"{1995 + i}-03-01",
            }
            await s.update(immunization, DEFAULT_PARTITION, scope=everything)


async def _intersected(repo: Repository, rtype: str, query: list[tuple[str, str]]) -> set[str]:
    found: set[str] | None = None
    for criterion in query:
        one = await ids(repo, rtype, [criterion])
        found = one if found is None else found & one
    return found or set()


@pytest.mark.parametrize(
    ("rtype", "query", "expected"),
    [
        ("Patient", [("_tag", "urn:t|S"), ("name", "zulauf,reynolds")], {"p0"}),
        ("Patient", [("_tag", "urn:t|T"), ("family", "zulauf,reynolds")], {"p1", "p3"}),
        ("Patient", [("name", "zulauf,reynolds"), ("_tag", "urn:t|S,urn:t|T")], {"p0", "p1", "p3"}),
        ("Encounter", [("patient", "Patient/p0"), ("type", f"{SNOMED}|A,{SNOMED}|B")], {"e0"}),
        ("Encounter", [("type", "A,B"), ("subject", "p1")], {"e1", "e3", "e5"}),
        ("Immunization", [("vaccine-code", "140,08"), ("date", "ge2001")], None),
        ("Immunization", [("vaccine-code", f"{CVX}|113"), ("date", "lt2000,gt2020")], None),
    ],
)
async def test_or_beside_another_criterion(
    repo: Repository, rtype: str, query: list[tuple[str, str]], expected: set[str] | None
) -> None:
    await _load(repo)
    found = await ids(repo, rtype, query)
    assert found == await _intersected(repo, rtype, query)
    if expected is not None:
        assert found == expected


async def test_a_paging_walk_repeats_nothing(repo: Repository) -> None:
    await _load(repo)
    query = [("vaccine-code", "140,08"), ("date", "ge2001"), ("_count", "4")]
    walked: list[str] = []
    offset = 0
    while True:
        request = parse_search(("Immunization",), [*query, ("_offset", str(offset))])
        async with repo.transaction() as s:
            page = await s.search(request, Scope.everything())
        walked += [m.id for m in page.matches]
        if len(page.matches) < 4:
            break
        offset += 4
    assert len(walked) == len(set(walked))
    assert set(walked) == await _intersected(repo, "Immunization", query[:2])
    assert len(walked) == sum(1 for i in range(30) if 1995 + i >= 2001 and i % 3 != 2)
