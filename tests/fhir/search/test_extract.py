"""Index-value extraction: every R4 expression compiles, each datatype converts as search.html
says, and real Synthea resources give the values their JSON holds."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from yilian.fhir.definitions import registry
from yilian.fhir.search.extract import index_values, values_for
from yilian.fhir.search.model import (
    DATE_MAX,
    DATE_MIN,
    CompositeValue,
    DateValue,
    IndexValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)
from yilian.fhir.search.pathexpr import UnsupportedPath, compile_path

# Expressions the compiler may reject, with the reason.  Empty: all of R4 compiles.
KNOWN_UNSUPPORTED: dict[str, str] = {}


def _by_param(values: list[IndexValue], param: str) -> list[IndexValue]:
    return [v for v in values if v.param == param]


def _one(resource: dict[str, Any], code: str) -> list[IndexValue]:
    param = registry().get(resource["resourceType"], code)
    assert param is not None
    return values_for(param, resource)


# --------------------------------------------------------------------------- compilation


def test_every_registry_expression_compiles() -> None:
    reg = registry()
    failures: list[str] = []
    total = 0
    for rtype in reg.resource_types_with_parameters():
        for param in reg.for_type(rtype).values():
            for expression in (param.expression, *(c.expression for c in param.components)):
                total += 1
                try:
                    compile_path(expression, rtype)
                except UnsupportedPath as exc:
                    if expression not in KNOWN_UNSUPPORTED:
                        failures.append(f"{rtype}.{param.code}: {expression}: {exc}")
    assert total > 2000
    assert failures == []


def test_unsupported_fhirpath_is_rejected_at_compile_time() -> None:
    for expression in ("Patient.name.select(given)", "Patient.name[x]", "%context.id", "Patient.name +"):
        with pytest.raises(UnsupportedPath):
            compile_path(expression, "Patient")


def test_every_resource_type_extracts_from_an_empty_resource() -> None:
    for rtype in registry().resource_types_with_parameters():
        values = index_values({"resourceType": rtype, "id": "x"})
        # Only computed booleans (Patient.deceased) may index something on an empty resource.
        assert all(isinstance(v, TokenValue) and v.code == "false" for v in values), rtype


def test_path_filters_and_choices() -> None:
    obs = {
        "resourceType": "Observation",
        "subject": {"reference": "Patient/1"},
        "valueQuantity": {"value": 3, "unit": "mg"},
        "effectivePeriod": {"start": "2020-01-01"},
    }
    assert compile_path("Observation.subject.where(resolve() is Patient)", "Observation")([obs]) == [
        {"reference": "Patient/1"}
    ]
    assert compile_path("Observation.subject.where(resolve() is Group)", "Observation")([obs]) == []
    quantity = compile_path("(Observation.value as Quantity)", "Observation")
    assert quantity([obs]) == [{"value": 3, "unit": "mg"}]
    assert compile_path("Observation.value.as(CodeableConcept)", "Observation")([obs]) == []
    assert compile_path("Observation.effective", "Observation")([obs]) == [{"start": "2020-01-01"}]
    assert compile_path("Patient.name", "Observation")([obs]) == []
    ext = {"extension": [{"url": "a", "valueString": "x"}, {"url": "b", "valueString": "y"}]}
    assert compile_path("extension('b').value")([ext]) == ["y"]
    assert compile_path("extension.where(url='a').value.first()")([ext]) == ["x"]
    assert compile_path("extension.exists()")([{}]) == [False]
    bundle = {"entry": [{"resource": 1}, {"resource": 2}]}
    assert compile_path("Bundle.entry[1].resource", "Bundle")([bundle]) == [2]


# --------------------------------------------------------------------------- datatypes


def test_strings_from_humanname_and_address() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Zhāng", "given": ["San", "Er"], "prefix": ["Dr."], "text": "张三"}],
        "address": [{"line": ["1 Road"], "city": "Hangzhou", "district": "Xihu", "postalCode": "310000"}],
    }
    names = {(v.value, v.normalized) for v in _one(patient, "name") if isinstance(v, StringValue)}
    assert names == {("Zhāng", "zhang"), ("San", "san"), ("Er", "er"), ("Dr.", "dr."), ("张三", "张三")}
    address = {v.value for v in _one(patient, "address") if isinstance(v, StringValue)}
    assert address == {"1 Road", "Hangzhou", "Xihu", "310000"}
    assert [v.value for v in _one(patient, "address-city") if isinstance(v, StringValue)] == ["Hangzhou"]


def test_tokens_from_codeable_concept_coding_code_and_boolean() -> None:
    cond = {
        "resourceType": "Condition",
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"}],
            "text": "Type 2 Diabètes",
        },
        "clinicalStatus": {"coding": [{"code": "active"}]},
    }
    assert _one(cond, "code") == [
        TokenValue("code", "http://snomed.info/sct", "44054006", "diabetes"),
        TokenValue("code", None, None, "type 2 diabetes"),
    ]
    assert _one(cond, "clinical-status") == [TokenValue("clinical-status", None, "active")]
    patient = {"resourceType": "Patient", "gender": "female", "active": True}
    assert _one(patient, "gender") == [TokenValue("gender", None, "female")]
    assert _one(patient, "active") == [TokenValue("active", None, "true")]


def test_identifier_tokens_and_of_type() -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {
                "system": "urn:oid:2.16.840.1.113883.2.4.6.3",
                "value": "110101199003071234",
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}]
                },
            },
            {"value": "no-system"},
        ],
    }
    assert _one(patient, "identifier") == [
        TokenValue("identifier", "urn:oid:2.16.840.1.113883.2.4.6.3", "110101199003071234"),
        TokenValue(
            "identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203", "NI|110101199003071234"
        ),
        TokenValue("identifier", None, "no-system"),
    ]


def test_contact_point_tokens_and_telecom_filters() -> None:
    patient = {
        "resourceType": "Patient",
        "telecom": [
            {"system": "phone", "value": "138-0000", "use": "mobile"},
            {"system": "email", "value": "a@b.cn"},
        ],
    }
    assert _one(patient, "phone") == [TokenValue("phone", None, "138-0000")]
    assert _one(patient, "email") == [TokenValue("email", None, "a@b.cn")]
    assert {v.code for v in _one(patient, "telecom") if isinstance(v, TokenValue)} == {"138-0000", "a@b.cn"}


def test_references_of_every_shape() -> None:
    obs = {
        "resourceType": "Observation",
        "subject": {"reference": "Patient/p1/_history/2"},
        "performer": [
            {"reference": "http://other.org/fhir/Practitioner/9"},
            {"reference": "#contained"},
            {"identifier": {"system": "urn:sys", "value": "42"}},
            {"reference": "urn:uuid:0c3d2e4f-0000-4000-8000-000000000000"},
        ],
        "basedOn": [{"display": "no reference"}],
    }
    assert _one(obs, "subject") == [ReferenceValue("subject", target_type="Patient", target_id="p1")]
    assert _one(obs, "patient") == [ReferenceValue("patient", target_type="Patient", target_id="p1")]
    assert _one(obs, "performer") == [
        ReferenceValue("performer", url="http://other.org/fhir/Practitioner/9"),
        ReferenceValue("performer", identifier_system="urn:sys", identifier_value="42"),
        ReferenceValue("performer", url="urn:uuid:0c3d2e4f-0000-4000-8000-000000000000"),
    ]
    assert _one(obs, "based-on") == []
    group_subject = {"resourceType": "Observation", "subject": {"reference": "Group/g"}}
    assert _one(group_subject, "patient") == []


def test_canonical_references_and_uris() -> None:
    vs = {
        "resourceType": "ValueSet",
        "url": "http://x.org/vs",
        "compose": {"include": [{"valueSet": ["http://x.org/a|2.0"]}]},
    }
    assert _one(vs, "url") == [UriValue("url", "http://x.org/vs")]
    assert _one(vs, "reference") == [] or all(isinstance(v, UriValue) for v in _one(vs, "reference"))
    plan = {"resourceType": "PlanDefinition", "library": ["http://x.org/Library/lib|1.2"]}
    assert _one(plan, "depends-on") == [
        ReferenceValue("depends-on", url="http://x.org/Library/lib", version="1.2")
    ]


def test_dates_from_datetime_period_and_timing() -> None:
    patient = {"resourceType": "Patient", "birthDate": "1990-03"}
    assert _one(patient, "birthdate") == [
        DateValue("birthdate", "1990-03-01T00:00:00.000000", "1990-03-31T23:59:59.999999")
    ]
    enc = {"resourceType": "Encounter", "period": {"start": "2020-01-02T10:00:00+08:00"}}
    assert _one(enc, "date") == [DateValue("date", "2020-01-02T02:00:00.000000", DATE_MAX)]
    enc_end = {"resourceType": "Encounter", "period": {"end": "2020"}}
    assert _one(enc_end, "date") == [DateValue("date", DATE_MIN, "2020-12-31T23:59:59.999999")]
    med = {
        "resourceType": "MedicationRequest",
        "dosageInstruction": [{"timing": {"event": ["2021-05-02", "2021-05-01"]}}],
    }
    # MedicationRequest.date selects Timing.event itself: one value per event.
    assert {(v.low, v.high) for v in _one(med, "date") if isinstance(v, DateValue)} == {
        ("2021-05-01T00:00:00.000000", "2021-05-01T23:59:59.999999"),
        ("2021-05-02T00:00:00.000000", "2021-05-02T23:59:59.999999"),
    }
    timing = {"event": ["2021-05-02", "2021"]}
    care = {"resourceType": "CarePlan", "activity": [{"detail": {"scheduledTiming": timing}}]}
    assert _one(care, "activity-date") == [
        DateValue("activity-date", "2021-01-01T00:00:00.000000", "2021-12-31T23:59:59.999999")
    ]
    bad = {"resourceType": "Patient", "birthDate": "not a date"}
    assert _one(bad, "birthdate") == []


def test_numbers_and_quantities_carry_their_precision() -> None:
    obs = {
        "resourceType": "Observation",
        "valueQuantity": {
            "value": 100,
            "unit": "mmHg",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]",
        },
    }
    assert _one(obs, "value-quantity") == [
        QuantityValue("value-quantity", 99.5, 100.5, "http://unitsofmeasure.org", "mm[Hg]", "mmHg")
    ]
    ranged = {
        "resourceType": "Condition",
        "onsetRange": {"low": {"value": 5, "code": "a"}, "high": {"value": 10.5}},
    }
    (onset,) = _one(ranged, "onset-age")
    assert isinstance(onset, QuantityValue)
    assert (onset.low, onset.high, onset.code) == (4.5, pytest.approx(10.55), "a")
    money = {"resourceType": "ChargeItem", "priceOverride": {"value": 12.5, "currency": "CNY"}}
    (price,) = _one(money, "price-override")
    assert isinstance(price, QuantityValue)
    assert (price.system, price.code) == ("urn:iso:std:iso:4217", "CNY")
    assert price.low == pytest.approx(12.45)
    risk = {"resourceType": "RiskAssessment", "prediction": [{"probabilityDecimal": 0.25}]}
    (prob,) = _one(risk, "probability")
    assert isinstance(prob, NumberValue)
    assert (prob.low, prob.high) == (pytest.approx(0.245), pytest.approx(0.255))


def test_composite_is_a_product_per_element() -> None:
    obs = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}], "text": "BP"},
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 120},
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "valueQuantity": {"value": 80},
            },
        ],
    }
    values = _one(obs, "component-code-value-quantity")
    pairs = set()
    for v in values:
        assert isinstance(v, CompositeValue)
        token, quantity = v.components
        assert isinstance(token, TokenValue) and isinstance(quantity, QuantityValue)
        assert (token.param, quantity.param) == ("component-code", "component-value-quantity")
        pairs.add((token.code, quantity.low))
    # 8480-6 never pairs with 80: components are combined within one element only.
    assert pairs == {("8480-6", 119.5), ("8462-4", 79.5)}
    assert _one(obs, "code-value-quantity") == []  # the Observation itself has no value


def test_common_parameters_and_no_column_parameters() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "meta": {
            "lastUpdated": "2020-01-01T00:00:00Z",
            "tag": [{"system": "urn:t", "code": "x"}],
            "profile": ["http://p.org/StructureDefinition/a"],
            "security": [{"system": "urn:s", "code": "R"}],
            "source": "urn:src#1",
        },
    }
    values = index_values(patient)
    assert {v.param for v in values} == {"_tag", "_profile", "_security", "_source", "deceased"}
    assert _by_param(values, "_tag") == [TokenValue("_tag", "urn:t", "x")]
    assert _by_param(values, "_profile") == [
        ReferenceValue("_profile", url="http://p.org/StructureDefinition/a")
    ] or _by_param(values, "_profile") == [UriValue("_profile", "http://p.org/StructureDefinition/a")]
    assert _by_param(values, "_source") == [UriValue("_source", "urn:src#1")]


def test_patient_deceased_is_a_computed_boolean() -> None:
    assert _one({"resourceType": "Patient", "deceasedDateTime": "2020"}, "deceased") == [
        TokenValue("deceased", None, "true")
    ]
    assert _one({"resourceType": "Patient", "deceasedBoolean": False}, "deceased") == [
        TokenValue("deceased", None, "false")
    ]


def test_duplicates_are_removed_and_odd_shapes_are_skipped() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Li"}, {"family": "Li"}],
        "gender": {"unexpected": "object"},
        "birthDate": 19900101,
        "telecom": "not a list of objects",
        "identifier": [None, 3, {"system": 5, "value": ["x"]}],
    }
    values = index_values(patient)
    assert _by_param(values, "family") == [StringValue("family", "Li", "li")]
    assert _by_param(values, "birthdate") == []
    assert _by_param(values, "identifier") == []
    assert index_values({"no": "type"}) == []


# --------------------------------------------------------------------------- Synthea


def _synthea_resources(shared_data: Path) -> list[dict[str, Any]]:
    files = sorted((shared_data / "synthea-r4-bundles").glob("*.json.gz"))[:10]
    if not files:
        pytest.skip("no Synthea bundles in shared data")
    return [e["resource"] for f in files for e in orjson.loads(gzip.decompress(f.read_bytes()))["entry"]]


@pytest.mark.shared_data
def test_synthea_resources_index_what_their_json_holds(shared_data: Path) -> None:
    resources = _synthea_resources(shared_data)
    checked = {"Observation": 0, "Patient": 0, "Encounter": 0}
    for res in resources:
        values = index_values(res)
        rtype = res["resourceType"]
        if rtype == "Observation":
            codings = {(c.get("system"), c["code"]) for c in res["code"]["coding"]}
            coded = {
                (v.system, v.code) for v in _by_param(values, "code") if isinstance(v, TokenValue) and v.code
            }
            assert coded == codings
            if "valueQuantity" in res:
                (q,) = _by_param(values, "value-quantity")
                assert isinstance(q, QuantityValue)
                assert q.low <= res["valueQuantity"]["value"] <= q.high
                assert q.code == res["valueQuantity"].get("code")
            subject = _by_param(values, "subject")
            assert subject == [ReferenceValue("subject", url=res["subject"]["reference"])]
            checked[rtype] += 1
        elif rtype == "Patient":
            (birth,) = _by_param(values, "birthdate")
            assert isinstance(birth, DateValue)
            assert birth.low == res["birthDate"] + "T00:00:00.000000"
            assert birth.high == res["birthDate"] + "T23:59:59.999999"
            families = {n["family"] for n in res["name"]}
            assert {v.value for v in _by_param(values, "family") if isinstance(v, StringValue)} == families
            ids = {(i.get("system"), i["value"]) for i in res["identifier"]}
            got = {(v.system, v.code) for v in _by_param(values, "identifier") if isinstance(v, TokenValue)}
            assert got == ids
            checked[rtype] += 1
        elif rtype == "Encounter":
            (period,) = _by_param(values, "date")
            assert isinstance(period, DateValue)
            assert period.low[:10] <= res["period"]["start"][:10] and period.low <= period.high
            checked[rtype] += 1
        assert len(values) == len(set(values))
    assert all(checked.values()), checked


def _every_value_unskipped(resource: dict[str, Any]) -> set[IndexValue]:
    """index_values without its skip-by-absent-member shortcut, for comparison."""
    params = registry().for_type(resource["resourceType"]).values()
    return {v for p in params if p.code not in ("_id", "_lastUpdated") for v in values_for(p, resource)}


@pytest.mark.shared_data
def test_skipping_absent_members_changes_nothing(shared_data: Path) -> None:
    resources = _synthea_resources(shared_data)[:400] + _official_examples(shared_data)
    for res in resources:
        assert set(index_values(res)) == _every_value_unskipped(res), res["resourceType"]


def _official_examples(shared_data: Path) -> list[dict[str, Any]]:
    folder = shared_data / "fhirpath-r4-tests" / "input-json"
    examples = [orjson.loads(p.read_bytes()) for p in sorted(folder.glob("*.json"))]
    bulk = shared_data / "synthea-r4-bulk-ndjson"
    for path in sorted(bulk.glob("*.ndjson")):
        lines = path.read_bytes().splitlines()[:20]
        examples.extend(orjson.loads(line) for line in lines if line.strip())
    return [e for e in examples if isinstance(e, dict) and "resourceType" in e]


@pytest.mark.shared_data
def test_official_examples(shared_data: Path) -> None:
    folder = shared_data / "fhirpath-r4-tests" / "input-json"
    patient = orjson.loads((folder / "patient-example.json").read_bytes())
    values = index_values(patient)
    assert TokenValue("identifier", "urn:oid:1.2.36.146.595.217.0.1", "12345", None) in [
        TokenValue(v.param, v.system, v.code)
        for v in _by_param(values, "identifier")
        if isinstance(v, TokenValue)
    ]
    assert TokenValue(
        "identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203", "MR|12345"
    ) in _by_param(values, "identifier:of-type")
    assert {v.value for v in _by_param(values, "given") if isinstance(v, StringValue)} >= {"Peter", "James"}
    assert _by_param(values, "birthdate") == [
        DateValue("birthdate", "1974-12-25T00:00:00.000000", "1974-12-25T23:59:59.999999")
    ]
    assert ReferenceValue("organization", target_type="Organization", target_id="1") in values
    obs = orjson.loads((folder / "observation-example.json").read_bytes())
    obs_values = index_values(obs)
    assert TokenValue("code", "http://loinc.org", "29463-7", "body weight") in obs_values
    (weight,) = _by_param(obs_values, "value-quantity")
    assert isinstance(weight, QuantityValue) and weight.code == "[lb_av]" and weight.low < 185 < weight.high
    for example in _official_examples(shared_data):
        for value in index_values(example):
            assert value.param  # every resource extracts without raising
