"""XML Schema regexes translated for Python (fhir/validation/xsdregex.py): `\\s` is XML
whitespace only, matching is whole-value, `^`/`$` are literal, the escapes Python lacks and
class subtraction mean what XML Schema says, and what is not XML Schema is refused.  Every R4
primitive regex translates, and the string, code and uri ones agree with a definition of
XML Schema whitespace written without regexes on random Unicode text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yilian.fhir.definitions.structures import structures
from yilian.fhir.validation.primitives import is_base64
from yilian.fhir.validation.xsdregex import XSD_SPACE, XsdRegexError, compile_xsd, is_xsd_space, translate

R4 = structures().primitives
# Characters Python's `re` calls whitespace but XML Schema does not, and XML whitespace itself.
UNICODE_SPACES = "\u00a0\u3000\u2003\u2028\u2029\u0085\x0b\x0c\x1c\u1680\u202f\u205f"
TRICKY = " \t\n\r" + UNICODE_SPACES + "\ufeff\u200ba张_-.:^$9٣"


def full(pattern: str, text: str) -> bool:
    return compile_xsd(pattern).fullmatch(text) is not None


def test_every_r4_primitive_regex_translates() -> None:
    assert set(R4) >= {"string", "code", "id", "uri", "date", "dateTime", "instant", "time", "decimal"}
    for code, pattern in R4.items():
        re.compile(translate(pattern))  # no XsdRegexError, and valid Python
        assert code == "xhtml" or pattern


@pytest.mark.parametrize("char", list(UNICODE_SPACES))
def test_backslash_s_is_xml_whitespace_only(char: str) -> None:
    assert re.fullmatch(r"\S", char) is None  # what Python's own \S says
    assert full(r"\S", char)
    assert not full(r"\s", char)
    assert full(r"[^\s]", char) and not full(r"[\s]", char)


@pytest.mark.parametrize("char", list(XSD_SPACE))
def test_xml_whitespace_is_backslash_s(char: str) -> None:
    assert full(r"\s", char) and full(r"[\s]", char)
    assert not full(r"\S", char) and not full(r"[^\s]", char) and not full(r"[\S]", char)


def test_matching_is_whole_value_and_anchors_are_literal() -> None:
    assert full("a|ab", "ab")  # the second branch, because the whole value must match
    assert not full("[0]|([1-9][0-9]*)", "01")
    assert full("^a$", "^a$") and not full("^a$", "a")
    assert full("[$^]+", "^$^")
    assert full(r"\^", "^")


def test_wildcard_excludes_both_line_ends() -> None:
    assert full(".", "\u3000") and full(".", "\t")
    assert not full(".", "\n") and not full(".", "\r")
    assert re.fullmatch(".", "\r") is not None  # Python's lets \r through


def test_unicode_escapes_python_lacks() -> None:
    # \w: not punctuation, separators or "other", so "_" is out and "$" (a symbol) is in
    assert all(full(r"\w", c) for c in "a张9$٣+")
    assert not any(full(r"\w", c) for c in "_-. \u3000\u00a0\x00")
    assert full(r"\W", "_") and not full(r"\W", "a")
    assert full(r"\d", "٣") and not full(r"\d", "a") and full(r"\D", "a")
    assert full(r"\i\c*", "_a-1.b:张") and not full(r"\i\c*", "1a") and not full(r"\i", "-")
    assert full(r"\C", " ") and full(r"\I", "1")
    assert full(r"\p{Lu}\p{Ll}\p{Nd}", "Ab3") and not full(r"\p{Lu}", "a")
    assert full(r"\P{L}", "3") and not full(r"\P{L}", "張")
    assert full(r"\p{Zs}", "\u3000") and full(r"[\p{Zs}-[\s]]", "\u00a0") and not full(r"[\p{Zs}-[\s]]", " ")


def test_classes_union_negate_and_subtract() -> None:
    assert full(r"[ \r\n\t\S]+", " \u3000\t\u00a0x")
    assert full("[a-z-[aeiou]]+", "bcd") and not full("[a-z-[aeiou]]", "e")
    assert full("[a-z-[b-y-[c]]]", "c") and not full("[a-z-[b-y-[c]]]", "d")
    assert full("[^a-z-[0-9]]", "A") and not full("[^a-z-[0-9]]", "5") and not full("[^a-z-[0-9]]", "q")
    assert full(r"[+\-]", "-") and full("[+-]", "-") and full("[-a]", "-")
    assert full(r"[\[\]\\]{3}", "[]\\")
    assert full(r"[^\s]", "\u3000") and not full(r"[^\S]", "\u3000")


def test_quantifiers_and_groups() -> None:
    assert full("(ab){2}", "abab") and not full("(ab){2}", "ab")
    assert full("a{2,}", "aaaa") and full("a{1,2}", "aa") and not full("a{1,2}", "aaa")
    assert full("(a|b)*c?", "abba")
    assert compile_xsd("(a)(b)").fullmatch("ab").groups() == ()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "pattern",
    [
        "(?:a)",  # Python extension syntax
        "(?i)a",
        "a*?",  # a lazy quantifier in Python, two quantifiers in XML Schema
        "a++",
        "a{2}{3}",
        r"(a)\1",  # no back-references
        r"\b",
        r"\$",  # $ needs no escape and has none
        r"\p{IsGreek}",  # block escapes are not supported
        r"\p{Xx}",
        "[a",
        "(a",
        "a)",
        "*a",
        "a{2,1}",
        "a{,2}",
        "a{x}",
        "}",
        "[]",
        "[z-a]",
        "[a-\\s]",
        "[a-b-c]",
        "[[a]]",
    ],
)
def test_what_is_not_xml_schema_is_refused(pattern: str) -> None:
    with pytest.raises(XsdRegexError):
        translate(pattern)


def test_is_xsd_space() -> None:
    assert is_xsd_space(" \t\r\n") and not is_xsd_space("") and not is_xsd_space("\u3000")
    assert not is_xsd_space(" \u00a0 ")


# ---------------------------------------------------------------------------------------------
# every R4 primitive regex, at the edges http://hl7.org/fhir/R4/datatypes.html draws

R4_EDGES: dict[str, tuple[list[str], list[str]]] = {
    # type: (matched, not matched)
    "string": (["x", " ", "\u3000", "\u00a0", "张\u3000伟", "a\tb\nc\r", " lead"], [""]),
    "markdown": (["**b**\n\n* x", "\u3000\u3000段落", " "], [""]),
    "code": (
        ["a", "a b", "a\u00a0b", "\u3000", "张\u3000伟"],
        ["", " ", "a  b", " a", "a ", "a\tb\t", "a\n\nb"],
    ),
    "id": (["a", "A-1.b", "x" * 64], ["", "x" * 65, "a_b", "a b", "a\u00a0b", "张"]),
    "uri": (["", "http://a/b", "urn:x\u00a0y", "urn:张\u3000伟"], ["http://a b", "a\tb", "a\n"]),
    "url": (["http://example.org/fhir"], ["http://a b"]),
    "canonical": (["http://hl7.org/fhir/ValueSet/x|4.0.1"], ["a b"]),
    "oid": (
        ["urn:oid:1.2.3", "urn:oid:2.16.840.1.113883"],
        ["urn:oid:3.1", "urn:oid:1.02", "1.2.3", "urn:oid:1"],
    ),
    "uuid": (
        ["urn:uuid:c757873d-ec9a-4326-a141-556f43239520"],
        ["urn:uuid:C757873D-EC9A-4326-A141-556F43239520", "c757873d-ec9a-4326-a141-556f43239520"],
    ),
    "decimal": (
        ["0", "-0.5", "1.50", "1e-3", "6.02E23", "-1.0e+2"],
        ["01", "+1", ".5", "1.", "1e", "NaN", "1 "],
    ),
    "integer": (["0", "-0", "-2147483648", "42"], ["01", "+1", "1.0", "", "١"]),
    "positiveInt": (["1", "2147483647"], ["0", "01", "-1"]),
    "unsignedInt": (["0", "10"], ["00", "01", "-0"]),
    "boolean": (["true", "false"], ["True", "1", "truefalse"]),
    "date": (
        ["2019", "2019-02", "2019-02-28", "0001"],
        ["0000", "2019-2", "2019-13", "2019-02-32", "2019-02-28T"],
    ),
    "dateTime": (
        ["2019", "2019-02", "2015-02-07T13:28:17-05:00", "2017-01-01T00:00:00.000Z", "2016-12-31T23:59:60Z"],
        ["2015-02-07T13:28:17", "2015-02-07T24:00:00Z", "2015-02-07T13:28Z", "2015-02-07T13:28:17+15:00"],
    ),
    "instant": (
        ["2015-02-07T13:28:17.239+02:00", "2017-01-01T00:00:00Z"],
        ["2015-02-07", "2015-02-07T13:28:17", "2015-02-07T13:28Z"],
    ),
    "time": (["00:00:00", "23:59:60", "12:30:00.5"], ["24:00:00", "12:00", "12:00:00Z"]),
    "base64Binary": (
        ["aGVsbG8=", "aGVs bG8=", "aGVs\r\n\tbG8=", " AAAA "],
        ["", "aGVsbG8", "aG Vs", "aGVs\u00a0bG8="],
    ),
}


def test_the_edge_table_covers_every_r4_primitive_with_a_regex() -> None:
    assert set(R4_EDGES) == {code for code, pattern in R4.items() if pattern}


@pytest.mark.parametrize("code", sorted(R4_EDGES))
def test_r4_primitive_regex_edges(code: str) -> None:
    matched, refused = R4_EDGES[code]
    regex = compile_xsd(R4[code])
    assert [v for v in matched if regex.fullmatch(v) is None] == []
    assert [v for v in refused if regex.fullmatch(v) is not None] == []


# ---------------------------------------------------------------------------------------------
# properties: the translated regexes against definitions that use no regex at all

text = st.text(alphabet=st.one_of(st.sampled_from(TRICKY), st.characters()), max_size=24)


def xsd_string(value: str) -> bool:
    """`[ \\r\\n\\t\\S]+`: one or more characters, whichever they are."""
    return len(value) > 0


def xsd_code(value: str) -> bool:
    """`[^\\s]+(\\s[^\\s]+)*`: runs of non-XML-whitespace joined by one XML whitespace each."""
    runs = [""]
    for char in value:
        if char in XSD_SPACE:
            runs.append("")
        else:
            runs[-1] += char
    return all(runs)


def xsd_uri(value: str) -> bool:
    """`\\S*`: no XML whitespace anywhere."""
    return not any(char in XSD_SPACE for char in value)


@settings(max_examples=600)
@given(text)
def test_string_code_and_uri_regexes_agree_with_xml_whitespace(value: str) -> None:
    assert (compile_xsd(R4["string"]).fullmatch(value) is not None) == xsd_string(value)
    assert (compile_xsd(R4["markdown"]).fullmatch(value) is not None) == xsd_string(value)
    assert (compile_xsd(R4["code"]).fullmatch(value) is not None) == xsd_code(value)
    assert (compile_xsd(R4["uri"]).fullmatch(value) is not None) == xsd_uri(value)


@settings(max_examples=400)
@given(st.text(alphabet=st.sampled_from("A9+/= \t\r\n\u00a0\u3000!"), max_size=14))
def test_the_linear_base64_check_accepts_what_the_r4_regex_accepts(value: str) -> None:
    """The R4 base64Binary regex backtracks exponentially on long near-misses, so a linear
    check stands in for it; on short values the two can be compared directly."""
    assert is_base64(value) == (compile_xsd(R4["base64Binary"]).fullmatch(value) is not None)
