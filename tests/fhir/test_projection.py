"""`_summary` and `_elements` projection (http://hl7.org/fhir/R4/search.html#summary)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from yilian.fhir.outcome import OutcomeError
from yilian.fhir.projection import SUBSETTED, select_elements, summarize


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "3", "tag": [{"system": "urn:x", "code": "keep"}]},
        "text": {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'>Jim</div>"},
        "extension": [{"url": "http://example.org/x", "valueString": "x"}],
        "identifier": [{"system": "urn:oid:1.2.3", "value": "42"}],
        "name": [{"family": "Chalmers", "given": ["Peter"]}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://example.org/t", "valueTime": "14:35:45"}]},
        "deceasedBoolean": False,
        "maritalStatus": {"text": "married"},
        "contact": [{"relationship": [{"text": "partner"}], "name": {"family": "Chalmers"}}],
        "link": [{"other": {"reference": "Patient/p2"}, "type": "seealso"}],
    }


def tags(resource: dict[str, Any]) -> list[dict[str, str]]:
    return list(resource["meta"]["tag"])


def test_summary_true_keeps_only_summary_elements() -> None:
    out = summarize(patient(), "true")
    assert set(out) == {
        "resourceType",
        "id",
        "meta",
        "identifier",
        "name",
        "gender",
        "birthDate",
        "_birthDate",
        "deceasedBoolean",
        "link",
    }
    assert dict(SUBSETTED) in tags(out)
    assert {"system": "urn:x", "code": "keep"} in tags(out)
    assert out["meta"]["versionId"] == "3"


def test_summary_true_filters_inline_groups_and_keeps_their_mandatory_elements() -> None:
    questionnaire: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"fullUrl": "urn:uuid:1", "resource": patient(), "search": {"mode": "match"}}],
        "signature": {"type": [{"code": "1.2"}], "when": "2020-01-01T00:00:00Z", "who": {"display": "x"}},
    }
    out = summarize(questionnaire, "true")
    # Bundle.entry is summary; within it, fullUrl, resource and search are summary too.
    assert out["entry"][0]["search"] == {"mode": "match"}
    assert "signature" in out and out["type"] == "searchset"
    med = {
        "resourceType": "MedicationKnowledge",
        "id": "m",
        "code": {"text": "x"},
        "monitoringProgram": [{"type": {"text": "t"}, "name": "n"}],
    }
    assert "monitoringProgram" not in summarize(med, "true")


def test_summary_text_keeps_text_id_meta_and_mandatory() -> None:
    obs = {
        "resourceType": "Observation",
        "id": "o",
        "text": {"status": "generated", "div": "<div>x</div>"},
        "status": "final",
        "code": {"text": "bp"},
        "valueString": "x",
        "subject": {"reference": "Patient/p"},
    }
    out = summarize(obs, "text")
    assert set(out) == {"resourceType", "id", "meta", "text", "status", "code"}
    assert tags(out) == [dict(SUBSETTED)]


def test_summary_data_drops_only_text() -> None:
    out = summarize(patient(), "data")
    assert set(out) == set(patient()) - {"text"}
    assert dict(SUBSETTED) in tags(out)


def test_summary_false_is_the_whole_resource_untagged() -> None:
    assert summarize(patient(), "false") == patient()


def test_summary_unknown_mode_is_a_client_error() -> None:
    with pytest.raises(OutcomeError) as caught:
        summarize(patient(), "count")
    assert caught.value.issues[0].expression == ("_summary",)


def test_elements_selects_top_level_names_and_expands_choices() -> None:
    out = select_elements(patient(), ["gender", "deceased", "birthDate"])
    assert set(out) == {"resourceType", "id", "meta", "gender", "deceasedBoolean", "birthDate", "_birthDate"}
    assert dict(SUBSETTED) in tags(out)
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": {"value": 1},
    }
    chosen = select_elements(obs, ["value[x]"])
    # status and code are mandatory (min 1) and SHOULD be returned anyway.
    assert set(chosen) == {"resourceType", "meta", "status", "code", "valueQuantity"}
    assert set(select_elements(obs, ["Observation.value"])) == set(chosen)


def test_subsetted_tag_is_not_duplicated() -> None:
    once = select_elements(patient(), ["name"])
    twice = select_elements(once, ["name"])
    assert tags(twice).count(dict(SUBSETTED)) == 1


@pytest.mark.parametrize("mode", ["true", "text", "data", "false"])
def test_projection_never_mutates_its_input(mode: str) -> None:
    original = patient()
    before = copy.deepcopy(original)
    summarize(original, mode)
    select_elements(original, ["name", "gender"])
    assert original == before
