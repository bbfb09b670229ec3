"""Structure validation: the official examples and Synthea pass; each rule catches its violation
at the exact FHIRPath location; arbitrary JSON never makes the validator raise."""

from __future__ import annotations

import copy
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yilian.fhir.outcome import Issue, IssueSeverity, IssueType
from yilian.fhir.validation import validate_resource

# ---------------------------------------------------------------------------------------------
# helpers


def errors(resource: Any, **kwargs: Any) -> list[tuple[IssueType, str]]:
    """(code, location) of every error-severity issue."""
    return [
        (i.code, i.expression[0] if i.expression else "")
        for i in validate_resource(resource, **kwargs)
        if i.severity == IssueSeverity.ERROR
    ]


def patient(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "p1",
        "active": True,
        "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "telecom": [{"system": "phone", "value": "555", "rank": 1}],
        "managingOrganization": {"reference": "Organization/1"},
    }
    base.update(changes)
    return base


def observation(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2011-10-14T23:37:54+00:00",
        "issued": "2011-10-14T23:37:54.530+00:00",
        "valueQuantity": {"value": 176.35, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"},
    }
    base.update(changes)
    return base


def test_valid_resources_have_no_issues() -> None:
    assert validate_resource(patient()) == []
    assert validate_resource(observation()) == []


# ---------------------------------------------------------------------------------------------
# real data


# Inputs of the fhirpath.js test suite that its authors changed on purpose to exercise FHIRPath
# edge cases; each truly violates R4, so the exact issue is asserted.
MODIFIED_EXAMPLES: dict[str, list[tuple[IssueType, str]]] = {
    # A trimmed EOB without its mandatory status/type/use/patient/created/insurer/provider/
    # insurance/outcome, and items without productOrService.
    "explanationofbenefit-example.json": [
        (IssueType.REQUIRED, "ExplanationOfBenefit.item[0].productOrService"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.item[1].productOrService"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.status"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.type"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.use"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.patient"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.created"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.insurer"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.provider"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.outcome"),
        (IssueType.REQUIRED, "ExplanationOfBenefit.insurance"),
    ],
    # valueUuid written as an object {"value": ...} (a FHIRPath test of odd shapes).
    "parameters-example-types.json": [(IssueType.STRUCTURE, "Parameters.parameter[2].valueUuid")],
    # "reference": "1" (neither relative, absolute nor local), so the contained Organization is
    # also unreferenced (dom-3).
    "patient-container-example.json": [
        (IssueType.VALUE, "Patient.managingOrganization.reference"),
        (IssueType.INVARIANT, "Patient.contained[0]"),
    ],
    # "given": [null, "James"] with a one-entry "_given": the arrays do not align.
    "patient-name-extensions.json": [(IssueType.STRUCTURE, "Patient.name[0].given")],
}


@pytest.mark.shared_data
def test_official_r4_examples_validate(shared_data: Path) -> None:
    files = sorted((shared_data / "fhirpath-r4-tests" / "input-json").glob("*.json"))
    assert len(files) >= 10
    found = {f.name: errors(orjson.loads(f.read_bytes())) for f in files}
    expected = {f.name: MODIFIED_EXAMPLES.get(f.name, []) for f in files}
    assert found == expected


@pytest.mark.shared_data
def test_synthea_bundles_validate(shared_data: Path) -> None:
    files = sorted((shared_data / "synthea-r4-bundles").glob("*.json.gz"))[:10]
    assert len(files) == 10
    resources = 0
    for path in files:
        bundle = orjson.loads(gzip.decompress(path.read_bytes()))
        assert errors(bundle) == [], path.name
        for entry in bundle["entry"]:
            assert errors(entry["resource"]) == [], (path.name, entry["fullUrl"])
            resources += 1
    assert resources > 1000


# ---------------------------------------------------------------------------------------------
# resourceType, id, unknown elements, JSON types


def test_resource_must_be_an_object() -> None:
    assert errors([1, 2]) == [(IssueType.STRUCTURE, "")]


def test_resource_type_missing_or_unknown() -> None:
    assert errors({"id": "x"}) == [(IssueType.REQUIRED, "Resource")]
    assert errors({"resourceType": "Patientt"}) == [(IssueType.INVALID, "Resource")]
    assert errors({"resourceType": "DomainResource"}) == [(IssueType.INVALID, "Resource")]
    assert errors({"resourceType": "SubscriptionStatus"}) == [(IssueType.INVALID, "Resource")]


def test_resource_id_format() -> None:
    assert errors(patient(id="a_b")) == [(IssueType.VALUE, "Patient.id")]
    assert errors(patient(id="x" * 65)) == [(IssueType.VALUE, "Patient.id")]


def test_unknown_elements() -> None:
    assert errors(patient(foo=1)) == [(IssueType.STRUCTURE, "Patient.foo")]
    bad = patient(name=[{"family": "x", "middle": "y"}])
    assert errors(bad) == [(IssueType.STRUCTURE, "Patient.name[0].middle")]
    # a resourceType inside a datatype is not an element
    assert errors(patient(maritalStatus={"resourceType": "X", "text": "m"})) == [
        (IssueType.STRUCTURE, "Patient.maritalStatus.resourceType")
    ]


@pytest.mark.parametrize(
    ("resource", "location"),
    [
        (patient(active="true"), "Patient.active"),
        (patient(name=[{"family": 7}]), "Patient.name[0].family"),
        (patient(name=["Peter"]), "Patient.name[0]"),
        (observation(valueQuantity={"value": "1.5"}), "Observation.valueQuantity.value"),
        (patient(telecom=[{"rank": "1"}]), "Patient.telecom[0].rank"),
        (patient(maritalStatus="married"), "Patient.maritalStatus"),
    ],
)
def test_json_types(resource: dict[str, Any], location: str) -> None:
    assert errors(resource) == [(IssueType.STRUCTURE, location)]


def test_null_is_not_a_value() -> None:
    assert errors(patient(gender=None)) == [(IssueType.STRUCTURE, "Patient.gender")]


# ---------------------------------------------------------------------------------------------
# primitive formats


def ext(**value: Any) -> list[dict[str, Any]]:
    return [{"url": "http://example.org/x", **value}]


@pytest.mark.parametrize(
    ("resource", "location", "code"),
    [
        (patient(birthDate="1974-13-01"), "Patient.birthDate", IssueType.VALUE),
        (patient(birthDate="2023-02-29"), "Patient.birthDate", IssueType.VALUE),
        (patient(birthDate="25/12/1974"), "Patient.birthDate", IssueType.VALUE),
        (
            observation(effectiveDateTime="2011-10-14T23:37:54"),
            "Observation.effectiveDateTime",
            IssueType.VALUE,
        ),
        (observation(issued="2011-10-14"), "Observation.issued", IssueType.VALUE),
        (observation(valueQuantity=None, valueTime="25:00:00"), "Observation.valueTime", IssueType.VALUE),
        (patient(language=" en"), "Patient.language", IssueType.VALUE),
        (
            patient(extension=ext(valueDecimal=float("inf"))),
            "Patient.extension[0].valueDecimal",
            IssueType.VALUE,
        ),
        (patient(extension=ext(valueInteger=2**31)), "Patient.extension[0].valueInteger", IssueType.VALUE),
        (patient(extension=ext(valueInteger=1.5)), "Patient.extension[0].valueInteger", IssueType.VALUE),
        (patient(telecom=[{"value": "5", "rank": 0}]), "Patient.telecom[0].rank", IssueType.VALUE),
        (patient(photo=[{"size": -1}]), "Patient.photo[0].size", IssueType.VALUE),
        (patient(implicitRules="http://a b"), "Patient.implicitRules", IssueType.VALUE),
        (patient(photo=[{"url": "http://a b"}]), "Patient.photo[0].url", IssueType.VALUE),
        (
            patient(extension=ext(valueCanonical="a b")),
            "Patient.extension[0].valueCanonical",
            IssueType.VALUE,
        ),
        (patient(extension=ext(valueOid="1.2.3")), "Patient.extension[0].valueOid", IssueType.VALUE),
        (patient(extension=ext(valueUuid="urn:uuid:XYZ")), "Patient.extension[0].valueUuid", IssueType.VALUE),
        (patient(photo=[{"data": "!!!!"}]), "Patient.photo[0].data", IssueType.VALUE),
        (patient(photo=[{"data": "aGVsbG8"}]), "Patient.photo[0].data", IssueType.VALUE),
        # a near-miss that makes the R4 regex backtrack exponentially is rejected promptly
        (
            patient(photo=[{"data": " ".join(["AAAA"] * 40) + "  !"}]),
            "Patient.photo[0].data",
            IssueType.VALUE,
        ),
        (patient(text={"status": "generated", "div": "<p>x</p>"}), "Patient.text.div", IssueType.VALUE),
        (
            patient(text={"status": "made-up", "div": "<div>x</div>"}),
            "Patient.text.status",
            IssueType.CODE_INVALID,
        ),
        (patient(active="yes"), "Patient.active", IssueType.STRUCTURE),
        (patient(name=[{"family": ""}]), "Patient.name[0].family", IssueType.INVARIANT),
        (patient(language="   "), "Patient.language", IssueType.INVARIANT),
        (patient(extension=ext(valueMarkdown="")), "Patient.extension[0].valueMarkdown", IssueType.INVARIANT),
    ],
)
def test_primitive_formats(resource: dict[str, Any], location: str, code: IssueType) -> None:
    resource = {k: v for k, v in resource.items() if v is not None}
    assert errors(resource) == [(code, location)]


def test_valid_primitive_edge_values() -> None:
    good = patient(
        birthDate="2000-02-29",
        extension=[
            {"url": "http://example.org/a", "valueInteger": -(2**31)},
            {"url": "http://example.org/b", "valueDateTime": "2019"},
            {"url": "http://example.org/c", "valueInstant": "2015-02-07T13:28:17.239+02:00"},
            {"url": "http://example.org/d", "valueUuid": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"},
            {"url": "http://example.org/e", "valueBase64Binary": "aGVs\n bG8="},
            {"url": "http://example.org/f", "valueDecimal": 1e-3},
        ],
    )
    assert validate_resource(good) == []


def test_leading_whitespace_in_a_string_is_a_warning() -> None:
    (issue,) = validate_resource(patient(name=[{"family": " Chalmers"}]))
    assert issue == Issue(
        IssueType.VALUE,
        "a string should not have leading or trailing whitespace",
        IssueSeverity.WARNING,
        ("Patient.name[0].family",),
    )


def test_required_binding_codes() -> None:
    assert errors(patient(gender="mail")) == [(IssueType.CODE_INVALID, "Patient.gender")]
    assert errors(observation(status="done")) == [(IssueType.CODE_INVALID, "Observation.status")]


# ---------------------------------------------------------------------------------------------
# cardinality, arrays, choice types


def test_arrays_where_max_is_star_and_single_values_where_max_is_one() -> None:
    assert errors(patient(name={"family": "x"})) == [(IssueType.STRUCTURE, "Patient.name")]
    assert errors(patient(gender=["male"])) == [(IssueType.STRUCTURE, "Patient.gender")]
    assert errors(patient(name=[[{"family": "x"}]])) == [(IssueType.STRUCTURE, "Patient.name[0]")]


def test_required_elements() -> None:
    obs = observation()
    del obs["status"]
    assert errors(obs) == [(IssueType.REQUIRED, "Observation.status")]
    bad = patient(communication=[{"preferred": True}])
    assert errors(bad) == [(IssueType.REQUIRED, "Patient.communication[0].language")]
    # a required choice element is satisfied by any of its types
    med = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"display": "x"},
    }
    assert errors(med) == [(IssueType.REQUIRED, "MedicationRequest.medication[x]")]
    assert errors({**med, "medicationCodeableConcept": {"text": "aspirin"}}) == []


def test_choice_types() -> None:
    unknown = observation()
    del unknown["valueQuantity"]
    unknown["valueFoo"] = "x"
    assert errors(unknown) == [(IssueType.STRUCTURE, "Observation.valueFoo")]
    two = observation(valueString="tall")
    assert errors(two) == [(IssueType.STRUCTURE, "Observation.valueString")]


def test_empty_objects_and_arrays() -> None:
    assert errors(patient(maritalStatus={})) == [(IssueType.INVARIANT, "Patient.maritalStatus")]
    assert errors(patient(name=[])) == [(IssueType.INVARIANT, "Patient.name")]
    assert errors(patient(name=[{}])) == [(IssueType.INVARIANT, "Patient.name[0]")]


# ---------------------------------------------------------------------------------------------
# primitive extension siblings


def test_primitive_extension_siblings() -> None:
    birth_ext = {"extension": [{"url": "http://example.org/t", "valueTime": "14:35:45"}]}
    assert errors(patient(_birthDate=birth_ext)) == []
    # only the extension, no value: allowed
    no_value = patient(_birthDate=birth_ext)
    del no_value["birthDate"]
    assert errors(no_value) == []
    assert errors(patient(_birthDate="x")) == [(IssueType.STRUCTURE, "Patient.birthDate")]
    assert errors(patient(_birthDate={"extension": [{"valueString": "x"}]})) == [
        (IssueType.REQUIRED, "Patient.birthDate.extension[0].url")
    ]
    assert errors(patient(_birthDate={"value": "1974"})) == [(IssueType.STRUCTURE, "Patient.birthDate.value")]
    # a complex element has no _ sibling
    assert errors(patient(_name=[{"id": "x"}])) == [(IssueType.STRUCTURE, "Patient._name")]


def test_primitive_array_extension_siblings() -> None:
    given_ext = {"extension": [{"url": "http://example.org/s", "valueInteger": 2}]}
    aligned = patient(name=[{"given": [None, "James"], "_given": [given_ext, None]}])
    assert errors(aligned) == []
    assert errors(patient(name=[{"given": [None, "James"]}])) == [
        (IssueType.STRUCTURE, "Patient.name[0].given[0]")
    ]
    misaligned = patient(name=[{"given": ["Peter", "James"], "_given": [given_ext]}])
    assert errors(misaligned) == [(IssueType.STRUCTURE, "Patient.name[0].given")]
    not_objects = patient(name=[{"given": ["Peter"], "_given": ["x"]}])
    assert errors(not_objects) == [(IssueType.STRUCTURE, "Patient.name[0].given[0]")]
    inner = patient(name=[{"given": ["Peter"], "_given": [{"extension": [{"url": "u"}]}]}])
    assert errors(inner) == [(IssueType.INVARIANT, "Patient.name[0].given[0].extension[0]")]


# ---------------------------------------------------------------------------------------------
# references


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/p1",
        "Patient/p1/_history/2",
        "http://example.org/fhir/Patient/p1",
        "https://example.org/anything",
        "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
        "urn:oid:1.2.840.113619",
        "Patient?identifier=http://x|1",
    ],
)
def test_valid_reference_forms(reference: str) -> None:
    assert errors(observation(subject={"reference": reference})) == []


@pytest.mark.parametrize(
    ("reference", "code"),
    [
        ("Patient/", IssueType.VALUE),
        ("Patient/a_b", IssueType.VALUE),
        ("Foo/1", IssueType.VALUE),
        ("p1", IssueType.VALUE),
        ("urn:uuid:not-a-uuid", IssueType.VALUE),
        ("urn:oid:1.02", IssueType.VALUE),
        ("#missing", IssueType.INVARIANT),
        ("Practitioner/1", IssueType.INVALID),
        ("http://example.org/fhir/Medication/1", IssueType.INVALID),
    ],
)
def test_invalid_references(reference: str, code: IssueType) -> None:
    assert errors(observation(subject={"reference": reference})) == [(code, "Observation.subject.reference")]


def test_reference_type_must_be_an_allowed_target() -> None:
    bad = observation(subject={"reference": "Patient/p1", "type": "Practitioner"})
    assert errors(bad) == [(IssueType.INVALID, "Observation.subject.type")]
    # Reference(Any) accepts every type
    assert errors(patient(extension=ext(valueReference={"reference": "Practitioner/1"}))) == []


# ---------------------------------------------------------------------------------------------
# extensions


def test_extension_rules() -> None:
    assert errors(patient(extension=[{"valueString": "x"}])) == [
        (IssueType.REQUIRED, "Patient.extension[0].url")
    ]
    both = [{"url": "http://e", "valueString": "x", "extension": ext(valueString="y")}]
    assert errors(patient(extension=both)) == [(IssueType.INVARIANT, "Patient.extension[0]")]
    assert errors(patient(extension=[{"url": "http://e"}])) == [(IssueType.INVARIANT, "Patient.extension[0]")]
    nested = [
        {"url": "http://e", "extension": [{"url": "a", "valueString": "x"}, {"url": "b", "valueBoolean": 3}]}
    ]
    assert errors(patient(extension=nested)) == [
        (IssueType.STRUCTURE, "Patient.extension[0].extension[1].valueBoolean")
    ]
    # an unknown value type is reported as such (and still counts as the value for ext-1)
    assert errors(patient(modifierExtension=[{"url": "http://e", "valueFoo": 1}])) == [
        (IssueType.STRUCTURE, "Patient.modifierExtension[0].valueFoo"),
    ]


# ---------------------------------------------------------------------------------------------
# contained resources


def org(**changes: Any) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": "o1", "name": "Acme", **changes}


def test_contained_resource_valid() -> None:
    good = patient(contained=[org()], managingOrganization={"reference": "#o1"})
    assert errors(good) == []
    # a contained resource may instead refer to its container with "#"
    back = {
        "resourceType": "Observation",
        "id": "x",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "#"},
    }
    assert errors(patient(contained=[back])) == []


def test_contained_resource_is_validated_recursively() -> None:
    bad = patient(contained=[org(name=5)], managingOrganization={"reference": "#o1"})
    assert errors(bad) == [(IssueType.STRUCTURE, "Patient.contained[0].ofType(Organization).name")]


def test_contained_resource_rules() -> None:
    ref = {"reference": "#o1"}
    no_id = {"resourceType": "Organization", "name": "Acme"}
    assert errors(patient(contained=[no_id], managingOrganization=ref)) == [
        (IssueType.INVARIANT, "Patient.managingOrganization.reference"),
        (IssueType.REQUIRED, "Patient.contained[0].ofType(Organization)"),
    ]
    nested = org(contained=[org(id="o2")])
    found = errors(patient(contained=[nested], managingOrganization=ref))
    assert (IssueType.INVARIANT, "Patient.contained[0].ofType(Organization)") in found
    versioned = org(meta={"versionId": "1"})
    assert errors(patient(contained=[versioned], managingOrganization=ref)) == [
        (IssueType.INVARIANT, "Patient.contained[0].ofType(Organization).meta")
    ]
    labelled = org(meta={"security": [{"code": "R"}]})
    assert errors(patient(contained=[labelled], managingOrganization=ref)) == [
        (IssueType.INVARIANT, "Patient.contained[0].ofType(Organization).meta")
    ]
    assert errors(patient(contained=[org()])) == [(IssueType.INVARIANT, "Patient.contained[0]")]


# ---------------------------------------------------------------------------------------------
# nested resources in Bundle and Parameters


def test_bundle_entry_resources_are_validated_with_their_location() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "resource": patient()},
            {"resource": observation(), "request": {"method": "POST", "url": "Observation"}},
            {"resource": patient(birthDate="1974-02-30"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"id": "x"}},
        ],
    }
    assert errors(bundle) == [
        (IssueType.VALUE, "Bundle.entry[2].resource.ofType(Patient).birthDate"),
        (IssueType.REQUIRED, "Bundle.entry[3].resource"),
    ]


def test_parameters_resources_are_validated() -> None:
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "a", "resource": patient(gender="x")},
            {"name": "b", "part": [{"name": "c", "resource": observation(status=1)}]},
        ],
    }
    assert errors(params) == [
        (IssueType.CODE_INVALID, "Parameters.parameter[0].resource.ofType(Patient).gender"),
        (IssueType.STRUCTURE, "Parameters.parameter[1].part[0].resource.ofType(Observation).status"),
    ]


def test_content_reference_recursion() -> None:
    q = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "strin"}]}],
    }
    assert errors(q) == [(IssueType.CODE_INVALID, "Questionnaire.item[0].item[0].type")]


# ---------------------------------------------------------------------------------------------
# depth guard


def deep_extension(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"url": "http://e", "valueString": "leaf"}
    for _ in range(levels):
        node = {"url": "http://e", "extension": [node]}
    return node


def test_depth_guard_reports_once() -> None:
    found = errors(patient(extension=[deep_extension(300)]))
    assert [code for code, _ in found] == [IssueType.TOO_COSTLY]
    assert errors(patient(extension=[deep_extension(30)])) == []
    shallow = errors(patient(extension=[deep_extension(30)]), max_depth=10)
    assert [code for code, _ in shallow] == [IssueType.TOO_COSTLY]
    assert shallow[0][1].startswith("Patient.extension[0].extension[0].")


def test_deep_unknown_content_is_not_walked() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    assert errors(patient(foo=deep)) == [(IssueType.STRUCTURE, "Patient.foo")]


# ---------------------------------------------------------------------------------------------
# never raises

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=40,
)
element_names = st.sampled_from(
    [
        "resourceType",
        "id",
        "meta",
        "name",
        "given",
        "_given",
        "extension",
        "url",
        "valueString",
        "contained",
        "birthDate",
        "_birthDate",
        "reference",
        "telecom",
        "gender",
        "text",
        "div",
        "status",
        "entry",
        "resource",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_never_raises_on_arbitrary_json(value: Any) -> None:
    issues = validate_resource(value)
    assert all(isinstance(i, Issue) for i in issues)
    assert issues  # nothing arbitrary is a valid resource without a resourceType


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(element_names, json_values, max_size=6),
    st.sampled_from(["Patient", "Bundle", "Parameters"]),
)
def test_never_raises_on_arbitrary_elements(body: dict[str, Any], rtype: str) -> None:
    issues = validate_resource({**body, "resourceType": rtype})
    assert all(isinstance(i, Issue) for i in issues)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


RICH_PATIENT = patient(
    contained=[org()],
    managingOrganization={"reference": "#o1"},
    _birthDate={"extension": [{"url": "http://e", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
    name=[{"family": "Chalmers", "given": [None, "James"], "_given": [{"id": "g"}, None]}],
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_never_raises_on_mutations_of_a_valid_patient(data: st.DataObject) -> None:
    assert validate_resource(RICH_PATIENT) == []
    resource = copy.deepcopy(RICH_PATIENT)
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(_paths(resource)[1:]))
        parent: Any = resource
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(element_names)] = data.draw(json_values)
        else:
            parent[path[-1]] = data.draw(json_values)
    issues = validate_resource(resource)
    assert all(isinstance(i, Issue) for i in issues)
