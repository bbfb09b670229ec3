"""The search parser against http://hl7.org/fhir/R4/search.html, feature by feature."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.fhir.search.model import (
    ChainCriterion,
    CompositeQuery,
    Condition,
    Criterion,
    DateQuery,
    HasCriterion,
    Include,
    MissingQuery,
    NumberQuery,
    QuantityQuery,
    ReferenceQuery,
    SearchRequest,
    SortKey,
    StringQuery,
    TokenQuery,
    UriQuery,
)
from yilian.fhir.search.parse import parse_criteria, parse_search


def search(rtype: str | list[str], query: str, **kw: object) -> SearchRequest:
    types = [rtype] if isinstance(rtype, str) else rtype
    return parse_search(types, parse_qsl(query, keep_blank_values=True), **kw)  # type: ignore[arg-type]


def one(rtype: str, query: str) -> Condition:
    (cond,) = search(rtype, query).conditions
    return cond


def crit(rtype: str, query: str) -> Criterion:
    cond = one(rtype, query)
    assert isinstance(cond, Criterion)
    return cond


def error(rtype: str | list[str], query: str, **kw: object) -> OutcomeError:
    with pytest.raises(OutcomeError) as info:
        search(rtype, query, **kw)
    assert info.value.kind is Outcome.BAD_REQUEST
    return info.value


# --------------------------------------------------------------------------- parameter types


def test_string_and_modifiers() -> None:
    assert crit("Patient", "name=Zhang") == Criterion(
        "Patient", "name", "string", None, (StringQuery("Zhang"),)
    )
    assert crit("Patient", "family:exact=Li").modifier == "exact"
    assert crit("Patient", "family:contains=an").values == (StringQuery("an"),)


def test_or_by_comma_and_by_repetition_and_escaping() -> None:
    c = crit("Patient", r"name=a\,b,c\\,d\$e")
    assert c.values == (StringQuery("a,b"), StringQuery("c\\"), StringQuery("d$e"))
    request = search("Patient", "name=a&name=b")
    assert [v.values for v in request.conditions if isinstance(v, Criterion)] == [
        (StringQuery("a"),),
        (StringQuery("b"),),
    ]


def test_tokens() -> None:
    assert crit("Patient", "identifier=urn:sys|123").values == (TokenQuery("urn:sys", "123"),)
    assert crit("Patient", "identifier=|123").values == (TokenQuery("", "123"),)
    assert crit("Patient", "identifier=urn:sys|").values == (TokenQuery("urn:sys", None),)
    assert crit("Patient", "gender=female").values == (TokenQuery(None, "female"),)
    assert crit("Patient", r"identifier=urn:a\|b|c").values == (TokenQuery("urn:a|b", "c"),)
    not_ = crit("Patient", "gender:not=male")
    assert (not_.modifier, not_.type) == ("not", "token")


def test_token_text_becomes_string() -> None:
    c = crit("Observation", "code:text=blood pressure")
    assert (c.type, c.modifier, c.values) == ("string", "text", (StringQuery("blood pressure"),))


def test_identifier_of_type() -> None:
    c = crit("Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053")
    assert (c.type, c.modifier) == ("token", "of-type")
    assert c.values == (TokenQuery("http://terminology.hl7.org/CodeSystem/v2-0203", "MR|446053"),)
    for bad in ("MR|446053", "a|b|", "a||c"):
        assert "of-type" in str(error("Patient", f"identifier:of-type={bad}"))


def test_dates_and_prefixes() -> None:
    c = crit("Patient", "birthdate=ge2020-03")
    assert c.values == (DateQuery("ge", "2020-03-01T00:00:00.000000", "2020-03-31T23:59:59.999999"),)
    for prefix in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"):
        (value,) = crit("Observation", f"date={prefix}2021").values
        assert isinstance(value, DateQuery) and value.prefix == prefix
        # ap keeps the value's own range: the store widens it (see parse_values).
        assert (value.low, value.high) == ("2021-01-01T00:00:00.000000", "2021-12-31T23:59:59.999999")
    assert "prefix" in str(error("Patient", "birthdate=xx2020"))
    assert "date" in str(error("Patient", "birthdate=2020-13-01"))
    assert "date" in str(error("Patient", "birthdate=yesterday"))


def test_numbers() -> None:
    (value,) = crit("RiskAssessment", "probability=gt0.8").values
    assert value == NumberQuery("gt", 0.8, pytest.approx(0.75), pytest.approx(0.85))  # type: ignore[arg-type]
    (value,) = crit("RiskAssessment", "probability=1e2").values
    assert value == NumberQuery("eq", 100.0, 50.0, 150.0)
    assert "number" in str(error("RiskAssessment", "probability=abc"))
    assert "number" in str(error("RiskAssessment", "probability=ap"))


def test_quantities() -> None:
    (value,) = crit("Observation", "value-quantity=le5.4|http://unitsofmeasure.org|mg").values
    assert isinstance(value, QuantityQuery)
    assert (value.prefix, value.value, value.system, value.code) == (
        "le",
        5.4,
        "http://unitsofmeasure.org",
        "mg",
    )
    assert (value.low, value.high) == (pytest.approx(5.35), pytest.approx(5.45))
    (value,) = crit("Observation", "value-quantity=5.4||mg").values
    assert isinstance(value, QuantityQuery) and (value.system, value.code) == (None, "mg")
    (value,) = crit("Observation", "value-quantity=5").values
    assert isinstance(value, QuantityQuery) and (value.system, value.code) == (None, None)
    assert "quantity" in str(error("Observation", "value-quantity=5|mg"))
    assert "number" in str(error("Observation", "value-quantity=five||mg"))


def test_references() -> None:
    assert crit("Observation", "subject=Patient/123").values == (ReferenceQuery("Patient", "123"),)
    assert crit("Observation", "subject=123").values == (ReferenceQuery(None, "123"),)
    typed = crit("Observation", "subject:Patient=123")
    assert (typed.modifier, typed.values) == ("Patient", (ReferenceQuery("Patient", "123"),))
    assert crit("Observation", "subject=http://x.org/fhir/Patient/1").values == (
        ReferenceQuery(url="http://x.org/fhir/Patient/1"),
    )
    assert crit("PlanDefinition", "depends-on=http://x.org/Library/a|1.0").values == (
        ReferenceQuery(url="http://x.org/Library/a", version="1.0"),
    )
    ident = crit("Observation", "subject:identifier=urn:oid:1.2|99")
    assert (ident.type, ident.modifier, ident.values) == (
        "token",
        "identifier",
        (TokenQuery("urn:oid:1.2", "99"),),
    )
    assert "Practitioner" in str(error("Observation", "subject:Practitioner=1"))
    assert "resource type" in str(error("Observation", "subject:Nonsense=1"))
    assert "names a Group" in str(error("Observation", "subject:Patient=Group/1"))


def test_uris() -> None:
    assert crit("ValueSet", "url=http://x.org/vs").values == (UriQuery("http://x.org/vs"),)
    assert crit("ValueSet", "url:below=http://x.org/").modifier == "below"
    assert crit("ValueSet", "url:above=http://x.org/vs/a").modifier == "above"


def test_composite() -> None:
    c = crit("Observation", "code-value-quantity=http://loinc.org|8480-6$gt100")
    (value,) = c.values
    assert isinstance(value, CompositeQuery)
    token, quantity = value.components
    assert token == TokenQuery("http://loinc.org", "8480-6")
    assert isinstance(quantity, QuantityQuery) and (quantity.prefix, quantity.value) == ("gt", 100.0)
    two = crit("Observation", "code-value-quantity=8480-6$gt100,8462-4$lt90")
    assert len(two.values) == 2
    escaped = crit("Observation", r"code-value-string=a\$b$x")
    (value,) = escaped.values
    assert isinstance(value, CompositeQuery) and value.components == (
        TokenQuery(None, "a$b"),
        StringQuery("x"),
    )
    assert "components" in str(error("Observation", "code-value-quantity=8480-6"))
    assert "prefix" in str(error("Observation", "code-value-quantity=8480-6$zz100"))


def test_missing() -> None:
    assert crit("Patient", "birthdate:missing=true").values == (MissingQuery(True),)
    assert crit("Patient", "name:missing=false").values == (MissingQuery(False),)
    assert "true or false" in str(error("Patient", "name:missing=yes"))


def test_unknown_and_unsupported_modifiers() -> None:
    assert "unknown modifier" in str(error("Patient", "name:text=x"))
    assert "unknown modifier" in str(error("Patient", "birthdate:exact=2020"))
    assert "unknown modifier" in str(error("Patient", "gender:contains=m"))
    assert "empty modifier" in str(error("Patient", "name:=x"))
    unsupported = error("Observation", "code:in=http://x.org/vs")
    assert unsupported.issues[0].code is IssueType.NOT_SUPPORTED


def test_empty_values_are_errors() -> None:
    assert "empty" in str(error("Patient", "name="))
    assert "empty" in str(error("Patient", "name=a,,b"))
    assert "empty" in str(error("Patient", "birthdate="))


def test_id_and_last_updated() -> None:
    assert crit("Patient", "_id=a1,b2").values == (TokenQuery(None, "a1"), TokenQuery(None, "b2"))
    (value,) = crit("Patient", "_lastUpdated=gt2020-01-01T00:00:00Z").values
    assert value == DateQuery("gt", "2020-01-01T00:00:00.000000", "2020-01-01T00:00:00.999999")
    assert crit("Patient", "_tag=urn:t|x").values == (TokenQuery("urn:t", "x"),)


# --------------------------------------------------------------------------- chains and _has


def test_chain_with_type() -> None:
    c = one("Observation", "subject:Patient.name=peter")
    assert c == ChainCriterion(
        "Observation",
        "subject",
        ("Patient",),
        Criterion("Patient", "name", "string", None, (StringQuery("peter"),)),
    )


def test_ambiguous_chain_searches_every_target_with_the_parameter() -> None:
    c = one("Observation", "subject.name=peter")
    assert isinstance(c, ChainCriterion)
    assert set(c.target_types) == {"Patient", "Location"}  # Device and Group have no `name`
    c = one("Observation", "subject.identifier=urn:x|1")
    assert isinstance(c, ChainCriterion)
    assert set(c.target_types) == {"Patient", "Device", "Group", "Location"}


def test_two_level_chain() -> None:
    c = one("Observation", "subject:Patient.organization.name=Central")
    assert isinstance(c, ChainCriterion) and c.target_types == ("Patient",)
    inner = c.inner
    assert isinstance(inner, ChainCriterion)
    assert (inner.resource_type, inner.code, inner.target_types) == (
        "Patient",
        "organization",
        ("Organization",),
    )
    assert inner.inner == Criterion("Organization", "name", "string", None, (StringQuery("Central"),))


def test_chain_errors() -> None:
    assert "cannot be chained" in str(error("Patient", "name.family=x"))
    assert "resource type" in str(error("Observation", "subject:Nonsense.name=x"))
    assert "refers to" in str(error("Observation", "subject:Practitioner.name=x"))
    unknown = error("Observation", "subject:Patient.nonsense=x")
    assert unknown.issues[0].code is IssueType.NOT_SUPPORTED
    assert "chain" in str(error("Observation", "subject:Patient.=x")) or "parameter" in str(
        error("Observation", "subject:Patient.=x")
    )
    assert "bad" in str(error("Observation", "subject:Patient.birthdate=bad"))


def test_reverse_chain() -> None:
    c = one("Patient", "_has:Observation:patient:code=1234-5")
    assert c == HasCriterion(
        "Patient",
        "Observation",
        "patient",
        Criterion("Observation", "code", "token", None, (TokenQuery(None, "1234-5"),)),
    )
    nested = one("Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/1")
    assert isinstance(nested, HasCriterion) and isinstance(nested.inner, HasCriterion)
    assert nested.inner.source_type == "AuditEvent"
    chained = one("Patient", "_has:Observation:subject:performer:Practitioner.name=x")
    assert isinstance(chained, HasCriterion) and isinstance(chained.inner, ChainCriterion)


def test_reverse_chain_errors() -> None:
    assert "resource type" in str(error("Patient", "_has:Nonsense:patient:code=1"))
    assert "_has:Type" in str(error("Patient", "_has:Observation:patient=1"))
    assert "not a reference" in str(error("Patient", "_has:Observation:code:code=1"))
    assert "does not refer to Patient" in str(error("Patient", "_has:Observation:encounter:code=1"))
    assert error("Patient", "_has:Observation:patient:nonsense=1").issues[0].code is IssueType.NOT_SUPPORTED


# --------------------------------------------------------------------------- result controls


def test_sort() -> None:
    request = search("Observation", "_sort=-date,code,_id,-_lastUpdated")
    assert request.sort == (
        SortKey("date", "date", True),
        SortKey("code", "token", False),
        SortKey("_id", "token", False),
        SortKey("_lastUpdated", "date", True),
    )
    assert "not a search parameter" in str(error("Observation", "_sort=nonsense"))
    assert "empty" in str(error("Observation", "_sort=date,,code"))


def test_count_offset_total_summary_elements() -> None:
    request = search("Patient", "_count=50&_offset=100&_total=none&_summary=data&_elements=name,birthDate")
    assert (request.count, request.offset, request.total, request.summary) == (50, 100, "none", "data")
    assert request.elements == ("name", "birthDate")
    assert search("Patient", "").count == 20
    assert search("Patient", "", default_count=7).count == 7
    assert search("Patient", "_count=99999", max_count=500).count == 500
    assert search("Patient", "_count=0").count == 0
    assert search("Patient", "_summary=count").count == 0
    for bad in ("_count=-1", "_count=ten", "_offset=abc", "_offset=-5", "_offset=1.5", "_total=maybe"):
        error("Patient", bad)
    for bad in (
        "_summary=all",
        "_elements=name,",
        "_elements=na me",
        "_count=",
        "_count=99999999999999999999",
    ):
        error("Patient", bad)


def test_include_and_revinclude() -> None:
    request = search(
        "Observation",
        "_include=Observation:subject&_include=Observation:subject:Patient&_include:iterate=Patient:organization"
        "&_revinclude=Provenance:target&_revinclude:iterate=AuditEvent:entity",
    )
    assert request.includes == (
        Include("Observation", "subject"),
        Include("Observation", "subject", "Patient"),
        Include("Patient", "organization", None, True),
    )
    assert request.revincludes == (
        Include("Provenance", "target"),
        Include("AuditEvent", "entity", None, True),
    )
    assert search("Observation", "_include=*").includes == (Include("Observation", "*"),)
    assert search("Observation", "_include=Observation:*").includes == (Include("Observation", "*"),)
    for bad in (
        "Observation",
        "Nonsense:subject",
        "Observation:code",
        "Observation:nonsense",
        "Observation:subject:X",
    ):
        error("Observation", f"_include={bad}")
    assert "does not refer" in str(error("Observation", "_include=Observation:subject:Practitioner"))


def test_type_restricts_a_system_search() -> None:
    request = search(["Patient", "Observation", "Encounter"], "_type=Patient,Observation&_id=1")
    assert request.resource_types == ("Patient", "Observation")
    (cond,) = request.conditions
    assert isinstance(cond, Criterion) and cond.resource_type == "Resource"
    assert "resource type" in str(error(["Patient"], "_type=Nonsense"))
    assert "names no type" in str(error(["Patient"], "_type=Observation"))


def test_search_over_every_type_allows_common_parameters_only() -> None:
    request = search([], "_lastUpdated=gt2020&_sort=-_lastUpdated")
    assert request.resource_types == ()
    assert [c.code for c in request.conditions if isinstance(c, Criterion)] == ["_lastUpdated"]
    assert request.sort == (SortKey("_lastUpdated", "date", True),)
    assert error([], "name=x").issues[0].code is IssueType.NOT_SUPPORTED
    assert "not a search parameter" in str(error([], "_sort=name"))
    assert search([], "_type=Patient,Observation").resource_types == ("Patient", "Observation")


def test_system_search_needs_parameters_every_type_has() -> None:
    request = search(["Patient", "Observation"], "_lastUpdated=gt2020&_tag=x")
    assert [c.code for c in request.conditions if isinstance(c, Criterion)] == ["_lastUpdated", "_tag"]
    assert error(["Patient", "Observation"], "name=x").issues[0].code is IssueType.NOT_SUPPORTED


def test_format_and_pretty_are_ignored() -> None:
    request = search("Patient", "_format=json&_pretty=true&name=x")
    assert len(request.conditions) == 1 and request.ignored == ()


# --------------------------------------------------------------------------- strict / lenient


def test_unknown_parameter_strict_names_it() -> None:
    exc = error("Patient", "foo=1")
    assert exc.issues[0].code is IssueType.NOT_SUPPORTED
    assert exc.issues[0].expression == ("Patient?foo",)
    assert "foo" in exc.issues[0].diagnostics


def test_unknown_parameter_lenient_is_ignored_but_bad_values_are_not() -> None:
    request = search("Patient", "foo=1&name=x&_has:Observation:patient:bar=1", strict=False)
    assert request.ignored == ("foo", "_has:Observation:patient:bar")
    assert len(request.conditions) == 1
    error("Patient", "birthdate=bad", strict=False)
    error("Patient", "name:nonsense=x", strict=False)


def test_unknown_resource_type_is_an_error() -> None:
    assert "resource type" in str(error("Nonsense", "name=x"))


# --------------------------------------------------------------------------- conditional criteria


def test_parse_criteria() -> None:
    expected = (Criterion("Patient", "identifier", "token", None, (TokenQuery("urn:sys", "1"),)),)
    assert parse_criteria("Patient", "identifier=urn:sys|1") == expected
    assert parse_criteria("Patient", "?identifier=urn:sys|1&_format=json") == expected
    assert parse_criteria("Patient", [("identifier", "urn:sys|1")]) == expected
    for bad in ("", "_format=json", "identifier=x&_count=1", "_sort=name", "_include=Patient:organization"):
        with pytest.raises(OutcomeError) as info:
            parse_criteria("Patient", bad)
        assert info.value.kind is Outcome.BAD_REQUEST
    with pytest.raises(OutcomeError) as info:
        parse_criteria("Patient", "foo=1")
    assert info.value.issues[0].code is IssueType.NOT_SUPPORTED


# --------------------------------------------------------------------------- robustness

_names = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["name", "_has", "subject", "code-value-quantity", "_sort", "_include", "birthdate"]
    ).flatmap(
        lambda base: st.text(alphabet=":._-$|,\\ABCPatientObservation*", max_size=30).map(lambda t: base + t)
    ),
)
_values = st.one_of(st.text(max_size=40), st.text(alphabet="0123456789-:T.Z+|$,\\eglsapnbtq*", max_size=30))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([("Patient",), ("Observation",), ("Encounter",), (), ("Patient", "Observation")]),
    st.lists(st.tuples(_names, _values), max_size=4),
    st.booleans(),
)
def test_parse_search_raises_only_outcome_errors(
    rtypes: tuple[str, ...], params: list[tuple[str, str]], strict: bool
) -> None:
    try:
        request = parse_search(rtypes, params, strict=strict)
    except OutcomeError as exc:
        assert exc.kind is Outcome.BAD_REQUEST
        assert exc.issues and exc.issues[0].diagnostics
    else:
        # _type may narrow the types, never widen them or empty them
        assert set(request.resource_types) <= set(rtypes) or not rtypes
        assert request.resource_types or not rtypes
