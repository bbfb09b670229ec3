"""Chains, reverse chains (`_has`), `_include` and `_revinclude` with `:iterate`
(http://hl7.org/fhir/R4/search.html#chaining, #has, #include)."""

from __future__ import annotations

import pytest
from tests.contract.conftest import ids, search

from yilian.store.base import Repository

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("rtype", "query", "expected"),
    [
        ("Observation", [("subject:Patient.name", "zhang")], {"o1", "o2"}),
        ("Observation", [("subject.gender", "female")], {"o3"}),
        ("Observation", [("patient.identifier", "http://county-hospital.example/mrn|MRN-002")], {"o3"}),
        ("Observation", [("subject:Patient.birthdate", "lt1980")], {"o4"}),
        # two levels: the observation's patient is managed by an organisation named ...
        ("Observation", [("subject:Patient.organization.name", "township")], {"o1", "o2"}),
        ("Observation", [("subject:Patient.organization.name", "beijing")], {"o3"}),
        ("Encounter", [("subject:Patient.organization.partof", "Organization/org1")], {"e1"}),
        ("Observation", [("encounter.service-provider.name", "beijing")], {"o1"}),
        # chain ANDed with a plain criterion
        ("Observation", [("subject:Patient.name", "zhang"), ("code", "8867-4")], {"o1"}),
        # _has: patients with a heart-rate observation over 80
        ("Patient", [("_has:Observation:subject:code", "8867-4")], {"p1", "p2"}),
        ("Patient", [("_has:Observation:subject:value-quantity", "gt80")], {"p2", "p1"}),
        ("Patient", [("_has:Observation:patient:status", "preliminary")], {"p2"}),
        ("Patient", [("_has:Condition:subject:code", "E11.9")], {"p1"}),
        ("Patient", [("_has:Condition:subject:code", "E11.9"), ("gender", "female")], set()),
        # _has nested: patients with an encounter that some condition points at
        ("Patient", [("_has:Encounter:subject:_has:Condition:encounter:code", "E11.9")], {"p1"}),
        ("Organization", [("_has:Patient:organization:gender", "female")], {"org1"}),
    ],
)
async def test_chains_and_has(
    clinic: Repository, rtype: str, query: list[tuple[str, str]], expected: set[str]
) -> None:
    assert await ids(clinic, rtype, query) == expected


async def test_include_targets_of_the_page(clinic: Repository) -> None:
    result = await search(clinic, "Observation", [("code", "8867-4"), ("_include", "Observation:subject")])
    assert {m.id for m in result.matches} == {"o1", "o3"}
    assert sorted(r.id for r in result.included) == ["p1", "p2"]
    assert result.total == 2  # includes are not counted


async def test_include_with_target_type_and_wildcard(clinic: Repository) -> None:
    typed = await search(
        clinic, "Observation", [("_id", "o1"), ("_include", "Observation:encounter:Encounter")]
    )
    assert [r.id for r in typed.included] == ["e1"]
    wrong = await search(clinic, "Observation", [("_id", "o1"), ("_include", "Observation:subject:Group")])
    assert wrong.included == []
    everything = await search(clinic, "Observation", [("_id", "o1"), ("_include", "Observation:*")])
    assert sorted(r.id for r in everything.included) == ["e1", "p1"]


async def test_include_iterate_follows_included_resources(clinic: Repository) -> None:
    params = [
        ("_id", "o1"),
        ("_include", "Observation:subject"),
        ("_include:iterate", "Patient:organization"),
        ("_include:iterate", "Organization:partof"),
    ]
    result = await search(clinic, "Observation", params)
    assert sorted(r.id for r in result.included) == ["org1", "org2", "p1"]
    flat = await search(clinic, "Observation", [("_id", "o1"), ("_include", "Observation:subject")])
    assert [r.id for r in flat.included] == ["p1"]


async def test_revinclude_and_iterate(clinic: Repository) -> None:
    result = await search(clinic, "Patient", [("_id", "p1"), ("_revinclude", "Observation:subject")])
    assert [m.id for m in result.matches] == ["p1"]
    assert sorted(r.id for r in result.included) == ["o1", "o2"]
    chained = await search(
        clinic,
        "Patient",
        [
            ("_id", "p1"),
            ("_revinclude", "Encounter:subject"),
            ("_revinclude:iterate", "Condition:encounter"),
        ],
    )
    assert sorted(r.id for r in chained.included) == ["c1", "e1"]
    both = await search(
        clinic,
        "Patient",
        [("gender", "female"), ("_revinclude", "Observation:subject"), ("_include", "Patient:organization")],
    )
    assert sorted(r.id for r in both.included) == ["o3", "org1"]


async def test_includes_are_deduplicated_against_matches(clinic: Repository) -> None:
    # org2 is a match and also the partof-target of nothing; org1 is a match and org2's parent.
    result = await search(clinic, "Organization", [("_include", "Organization:partof")])
    assert {m.id for m in result.matches} == {"org1", "org2"}
    assert result.included == []


async def test_iterate_terminates_on_cycles(fresh_clinic: Repository) -> None:
    from yilian.store.base import Scope

    async with fresh_clinic.transaction() as s:
        # org1 partOf org2 and org2 partOf org1: a cycle.
        await s.update(
            {
                "resourceType": "Organization",
                "id": "org1",
                "name": "X",
                "partOf": {"reference": "Organization/org2"},
            },
            "default",
            scope=Scope.everything(),
        )
    result = await search(
        fresh_clinic,
        "Patient",
        [
            ("_id", "p2"),
            ("_include:iterate", "Patient:organization"),
            ("_include:iterate", "Organization:partof"),
        ],
    )
    assert sorted(r.id for r in result.included) == ["org1", "org2"]
