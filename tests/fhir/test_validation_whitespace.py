"""Whitespace as R4 means it (XML whitespace: space, tab, newline, carriage return) in every
primitive check: a no-break space U+00A0 or an ideographic space U+3000 is ordinary text in a
string, a code, a uri or a conditional reference; a string of whitespace alone or with
whitespace at its ends is a warning, never an error; each primitive type keeps refusing what
http://hl7.org/fhir/R4/datatypes.html refuses."""

from __future__ import annotations

from typing import Any

import pytest

from yilian.fhir.outcome import IssueSeverity, IssueType
from yilian.fhir.validation import validate_resource, validator

NAMES = ["张\u3000伟", "Anna\u00a0Maria", "\u3000\u3000李", "王\u00a0", "\u3000"]


def patient(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "gender": "male"}
    base.update(changes)
    return base


def errors(resource: Any) -> list[tuple[IssueType, str]]:
    return [
        (i.code, i.expression[0] if i.expression else "")
        for i in validate_resource(resource)
        if i.severity in (IssueSeverity.ERROR, IssueSeverity.FATAL)
    ]


def test_names_with_unicode_spaces_have_no_issue_on_either_path() -> None:
    resource = patient(name=[{"text": n, "family": n, "given": [n, n]} for n in NAMES])
    fast = validator().fast
    assert fast.clean(resource)
    assert fast.clean(resource)  # again, now from the remembered strings
    assert validator().validate_fully(resource) == []
    assert validate_resource(resource) == []


@pytest.mark.parametrize("code", ["a\u00a0b", "a \u00a0b", "a\u00a0\u00a0b", "\u3000", "张\u3000伟", "a b"])
def test_a_code_is_runs_of_non_xml_whitespace(code: str) -> None:
    assert errors(patient(maritalStatus={"coding": [{"code": code}]})) == []


@pytest.mark.parametrize("code", ["a  b", " a", "a ", "a\t\tb", "   "])
def test_a_code_refuses_xml_whitespace_at_its_ends_or_doubled(code: str) -> None:
    found = errors(patient(maritalStatus={"coding": [{"code": code}]}))
    assert [location for _, location in found] == ["Patient.maritalStatus.coding[0].code"]


@pytest.mark.parametrize("value", [" ", "\t\n", "  \r\n  "])
def test_a_string_of_only_whitespace_is_a_warning(value: str) -> None:
    (issue,) = validate_resource(patient(name=[{"text": value}]))
    assert issue.severity == IssueSeverity.WARNING
    assert issue.expression == ("Patient.name[0].text",)
    assert "whitespace" in issue.diagnostics


@pytest.mark.parametrize("value", [" Anna", "Anna ", "\tAnna", "Anna\n"])
def test_leading_or_trailing_xml_whitespace_is_a_warning(value: str) -> None:
    (issue,) = validate_resource(patient(name=[{"text": value}]))
    assert (issue.severity, issue.expression) == (IssueSeverity.WARNING, ("Patient.name[0].text",))


def test_a_conditional_reference_may_search_text_with_unicode_spaces() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "体温"},
        "subject": {"reference": "Patient?name=张\u3000伟"},
        "performer": [{"reference": "Practitioner?name=Anna\u00a0Maria"}],
    }
    assert validate_resource(resource) == []
    resource["subject"] = {"reference": "Patient?name=张 伟"}
    assert errors(resource) == [(IssueType.VALUE, "Observation.subject.reference")]


def test_a_resource_id_keeps_its_ascii_alphabet() -> None:
    assert errors(patient(id="a\u00a0b")) == [(IssueType.VALUE, "Patient.id")]
    assert errors(patient(id="x" * 64)) == []
    assert errors(patient(id="x" * 65)) == [(IssueType.VALUE, "Patient.id")]


# ---------------------------------------------------------------------------------------------
# each R4 primitive type at its edges, through the check the validator uses

OK, WARN, ERR = "ok", "warning", "error"
CASES: list[tuple[str, Any, str]] = [
    ("string", "张\u3000伟", OK),
    ("string", "Anna\u00a0Maria", OK),
    ("string", "\u3000", OK),  # an ideographic space is text, not whitespace
    ("string", "\u00a0", OK),
    ("string", "a\tb\r\nc", OK),
    ("string", "\u3000\u3000首行缩进", OK),
    ("string", " ", WARN),
    ("string", " padded ", WARN),
    ("string", "bell\x07", WARN),
    ("string", "", ERR),
    ("string", 12, ERR),
    ("markdown", "**粗体**\u3000说明\n\n* 项", OK),
    ("markdown", "\n", WARN),
    ("markdown", "", ERR),
    ("code", "a\u00a0b", OK),
    ("code", "a \u00a0b", OK),  # "a" and "\u00a0b", one space apart
    ("code", "final", OK),
    ("code", "a b", OK),
    ("code", "a  b", ERR),
    ("code", "a\n", ERR),
    ("code", " ", ERR),
    ("id", "A-1.b", OK),
    ("id", "a_b", ERR),
    ("id", "a\u3000b", ERR),
    ("uri", "urn:x\u00a0y", OK),
    ("uri", "http://example.org/张\u3000伟", OK),
    ("uri", "http://a b", ERR),
    ("uri", "a\tb", ERR),
    ("url", "http://example.org/fhir", OK),
    ("url", "http://a\nb", ERR),
    ("canonical", "http://hl7.org/fhir/ValueSet/x|4.0.1", OK),
    ("canonical", "a b", ERR),
    ("oid", "urn:oid:2.16.840.1.113883", OK),
    ("oid", "urn:oid:1.02", ERR),
    ("oid", "urn:oid:1.2.3\u00a0", ERR),
    ("uuid", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", OK),
    ("uuid", "urn:uuid:C757873D-EC9A-4326-A141-556F43239520", ERR),
    ("date", "2019", OK),
    ("date", "2020-02-29", OK),
    ("date", "2019-02-29", ERR),
    ("date", "2019-02-28\u00a0", ERR),
    ("dateTime", "2015-02-07T13:28:17-05:00", OK),
    ("dateTime", "2016-12-31T23:59:60Z", OK),
    ("dateTime", "2015-02-07T13:28:17", ERR),
    ("dateTime", "2015-02-07T24:00:00Z", ERR),
    ("instant", "2015-02-07T13:28:17.239+02:00", OK),
    ("instant", "2015-02-07", ERR),
    ("time", "23:59:60", OK),
    ("time", "24:00:00", ERR),
    ("time", "12:00", ERR),
    ("decimal", 1.5, OK),
    ("decimal", -0.0, OK),
    ("decimal", 1e-3, OK),
    ("decimal", "1.5", ERR),  # a JSON number, not a string
    ("decimal", float("inf"), ERR),
    ("integer", -(2**31), OK),
    ("integer", 2**31, ERR),
    ("integer", 1.5, ERR),
    ("integer", "1", ERR),
    ("positiveInt", 1, OK),
    ("positiveInt", 0, ERR),
    ("unsignedInt", 0, OK),
    ("unsignedInt", -1, ERR),
    ("boolean", True, OK),
    ("boolean", "true", ERR),
    ("base64Binary", "aGVsbG8=", OK),
    ("base64Binary", "aGVs\r\n bG8=", OK),
    ("base64Binary", "aGVs\u00a0bG8=", ERR),  # only XML whitespace may separate groups
    ("base64Binary", "aGVs\u3000bG8=", ERR),
    ("base64Binary", "aG Vs", ERR),  # nor split a group of four
    ("base64Binary", "aGVsbG8", ERR),
    ("xhtml", '\n <div xmlns="http://www.w3.org/1999/xhtml">张\u3000伟</div>', OK),
    ("xhtml", "\u3000<div>x</div>", ERR),
]


@pytest.mark.parametrize(("code", "value", "expected"), CASES)
def test_primitive_edges(code: str, value: Any, expected: str) -> None:
    check = validator().primitives.get(code)
    assert check is not None
    finding = check(value)
    found = OK if finding is None else WARN if finding.severity == IssueSeverity.WARNING else ERR
    assert found == expected, finding


def test_the_cases_cover_every_r4_primitive_type() -> None:
    assert {code for code, _, _ in CASES} == set(validator().table.primitives)
