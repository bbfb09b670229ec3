"""The R4 structure table: compact, complete, and faithful to the StructureDefinitions."""

from __future__ import annotations

import dataclasses
from importlib import resources

import pytest

from yilian.fhir.definitions import structures
from yilian.fhir.definitions.structures import TypeRef


def test_table_is_compact_and_loaded_once() -> None:
    raw = resources.files("yilian.fhir.definitions").joinpath("structures.json").read_bytes()
    assert len(raw) < 1_500_000
    assert structures() is structures()


def test_every_r4_resource_type_and_no_r4b_ones() -> None:
    table = structures()
    assert len(table.resource_types) == 146
    for name in ("Patient", "Observation", "Bundle", "Parameters", "Binary", "Questionnaire"):
        assert table.is_resource_type(name)
        assert table.get(name) is not None
    # The npm package also carries R4B's SubscriptionStatus; it is not R4.
    assert not table.is_resource_type("SubscriptionStatus")
    assert not table.is_resource_type("Resource")
    assert not table.is_resource_type("DomainResource")


def test_complex_datatypes_and_inline_groups() -> None:
    table = structures()
    for name in (
        "HumanName",
        "Quantity",
        "Reference",
        "Extension",
        "Element",
        "Timing.repeat",
        "Patient.contact",
    ):
        assert table.get(name) is not None, name
    contact = table.get("Patient")
    assert contact is not None
    assert contact.elements["contact"].types == (TypeRef("Patient.contact"),)
    assert contact.elements["contact"].types[0].is_nested


def test_content_reference_points_at_the_reused_group() -> None:
    item = structures().get("Questionnaire.item")
    assert item is not None
    assert item.elements["item"].types == (TypeRef("Questionnaire.item"),)
    part = structures().get("Parameters.parameter")
    assert part is not None
    assert part.elements["part"].types == (TypeRef("Parameters.parameter"),)


def test_element_cardinality_summary_and_types() -> None:
    patient = structures().get("Patient")
    observation = structures().get("Observation")
    assert patient is not None and observation is not None
    name = patient.elements["name"]
    assert (name.min, name.max, name.summary, name.is_array) == (0, None, True, True)
    assert patient.elements["id"].types == (TypeRef("id"),)
    assert not patient.elements["maritalStatus"].summary
    status = observation.elements["status"]
    assert (status.min, status.max, status.is_array) == (1, 1, False)
    value = observation.elements["value[x]"]
    assert value.is_choice and value.base_name == "value"
    assert {t.code for t in value.types} >= {"Quantity", "CodeableConcept", "string", "dateTime", "Period"}


def test_reference_targets() -> None:
    observation = structures().get("Observation")
    assert observation is not None
    (subject,) = observation.elements["subject"].types
    assert subject == TypeRef("Reference", frozenset({"Patient", "Group", "Device", "Location"}))
    bundle_entry = structures().get("Bundle.entry")
    assert bundle_entry is not None
    assert bundle_entry.elements["resource"].types == (TypeRef("Resource"),)


def test_required_small_bindings_carry_their_codes() -> None:
    patient = structures().get("Patient")
    observation = structures().get("Observation")
    assert patient is not None and observation is not None
    assert patient.elements["gender"].codes == frozenset({"male", "female", "other", "unknown"})
    assert observation.elements["status"].codes == frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    )
    # Patient.language is bound to all languages (not enumerable), so no codes are kept.
    assert patient.elements["language"].codes is None


def test_primitive_regexes_come_from_the_definitions() -> None:
    primitives = structures().primitives
    assert set(primitives) >= {"date", "dateTime", "instant", "time", "id", "code", "decimal", "uuid", "oid"}
    assert primitives["id"] == r"[A-Za-z0-9\-\.]{1,64}"


def test_objects_are_frozen() -> None:
    patient = structures().get("Patient")
    assert patient is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        patient.elements["name"].min = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        patient.elements["name"] = patient.elements["gender"]  # type: ignore[index]
