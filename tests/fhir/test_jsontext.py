"""Decimals keep their text through parsing, copying, patching, validation, indexing and
serialisation (http://hl7.org/fhir/R4/datatypes.html#decimal: the precision written is
significant), and documents without such numbers are parsed and written exactly as orjson
alone does."""

from __future__ import annotations

import copy
import glob
import pickle
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yilian.fhir import jsontext
from yilian.fhir.bundle import ReferenceMap
from yilian.fhir.jsontext import DecimalText
from yilian.fhir.patch import apply_patch
from yilian.fhir.search.extract import index_values
from yilian.fhir.search.model import NumberValue, QuantityValue
from yilian.fhir.validation import validate_resource
from yilian.store.base import same_content

# Texts a float would write differently, each a valid JSON number.
CHANGED = ["1.50", "0.10", "100.000", "1.0e2", "1e2", "1E+2", "0.100000000000000005551", "-0.00", "0.0000099"]
# Texts a float writes back as they are: no DecimalText for them.
KEPT = ["1.5", "3.0", "-0.0", "72.5", "0.00001", "123.456", "5e-324"]


def observation(value: str) -> bytes:
    return (
        '{"resourceType":"Observation","status":"final","code":{"text":"x"},'
        f'"valueQuantity":{{"value":{value},"unit":"mg"}},'
        f'"component":[{{"code":{{"text":"y"}},"valueQuantity":{{"value": {value} }}}}]}}'
    ).encode()


def number_texts(raw: bytes) -> list[str]:
    """The number tokens of a JSON text (values after `:`, `,` or `[`)."""
    return re.findall(r"(?<=[:,\[])\s*(-?[0-9][0-9.eE+-]*)", raw.decode())


@pytest.mark.parametrize("text", CHANGED)
def test_a_decimal_a_float_would_change_keeps_its_text(text: str) -> None:
    parsed = jsontext.loads(observation(text))
    value = parsed["valueQuantity"]["value"]
    assert type(value) is DecimalText and value.text == text
    assert value == float(text)
    assert jsontext.dumps(parsed).count(f"{text}".encode()) == 2
    assert orjson.dumps(float(text)) != text.encode()  # the case the module exists for


@pytest.mark.parametrize("text", KEPT)
def test_a_decimal_a_float_writes_back_stays_a_float(text: str) -> None:
    parsed = jsontext.loads(observation(text))
    assert type(parsed["valueQuantity"]["value"]) is float
    assert jsontext.dumps(parsed) == orjson.dumps(orjson.loads(observation(text)))


def test_integers_are_untouched() -> None:
    raw = b'{"a":[0,-0,7,12345678901234567],"b":{"c":100}}'
    parsed = jsontext.loads(raw)
    assert parsed == orjson.loads(raw) and all(type(x) is int for x in parsed["a"])
    assert jsontext.dumps(parsed) == orjson.dumps(parsed)


def test_a_document_without_such_numbers_is_parsed_and_written_as_orjson_does() -> None:
    raw = orjson.dumps(
        {
            "resourceType": "Observation",
            "effectiveDateTime": "2020-01-01T10:00:00.000+08:00",
            "note": [{"text": "ratio 1.50e3 and 0.10 in prose"}],
            "valueQuantity": {"value": 1.5},
            "component": [{"valueInteger": 10}, {"valueQuantity": {"value": 3.0}}],
        },
        option=orjson.OPT_INDENT_2,
    )
    parsed = jsontext.loads(raw)
    assert parsed == orjson.loads(raw)
    assert not any(isinstance(v, DecimalText) for v in _leaves(parsed))
    assert jsontext.dumps(parsed) == orjson.dumps(orjson.loads(raw))
    assert jsontext.dumps(parsed, orjson.OPT_INDENT_2) == raw


@pytest.mark.shared_data
def test_synthea_resources_are_parsed_and_written_as_orjson_does(shared_data: Path) -> None:
    files = sorted(glob.glob(str(shared_data / "synthea-r4-bulk-ndjson" / "**" / "*.ndjson"), recursive=True))
    if not files:
        pytest.skip("no Synthea NDJSON in the shared data")
    for name in files[:8]:
        for line in Path(name).read_bytes().splitlines()[:200]:
            parsed = jsontext.loads(line)
            assert parsed == orjson.loads(line)
            assert jsontext.dumps(parsed) == orjson.dumps(orjson.loads(line))


def test_malformed_json_fails_as_orjson_fails() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        jsontext.loads(b'{"value": 1.50,}')
    with pytest.raises(orjson.JSONDecodeError):
        jsontext.loads(b'{"value": NaN}')


def test_copies_pickles_and_arithmetic() -> None:
    value = DecimalText("1.50")
    body = {"v": [value]}
    for copied in (
        copy.copy(body)["v"][0],
        copy.deepcopy(body)["v"][0],
        pickle.loads(pickle.dumps(body))["v"][0],
    ):
        assert type(copied) is DecimalText and copied.text == "1.50"
    assert value + 1 == 2.5 and type(value + 1) is float
    assert isinstance(value, float) and value == 1.5


def test_json_patch_carries_the_text_and_adds_new_ones() -> None:
    resource = jsontext.loads(observation("1.50"))
    patch = jsontext.loads(
        b'[{"op": "add", "path": "/valueQuantity/comparator", "value": "<"},'
        b' {"op": "replace", "path": "/component/0/valueQuantity/value", "value": 2.250}]'
    )
    patched = apply_patch(resource, patch)
    written = jsontext.dumps(patched)
    assert b'"value":1.50,' in written and b'"value":2.250}' in written


def test_reference_rewriting_carries_the_text() -> None:
    resource = jsontext.loads(
        b'{"resourceType":"Observation","subject":{"reference":"urn:uuid:1"},"valueQuantity":{"value":1.50}}'
    )
    rewritten, dangling = ReferenceMap({"urn:uuid:1": "Patient/p1"}).rewrite(resource)
    assert not dangling
    assert jsontext.dumps(rewritten) == (
        b'{"resourceType":"Observation","subject":{"reference":"Patient/p1"},"valueQuantity":{"value":1.50}}'
    )


def test_validation_treats_the_text_as_a_decimal() -> None:
    valid = jsontext.loads(observation("1.50"))
    assert not [i for i in validate_resource(valid) if i.severity.value in ("error", "fatal")]
    bad = jsontext.loads(b'{"resourceType":"Patient","multipleBirthInteger":1.0e0}')
    assert [i for i in validate_resource(bad) if "whole number" in i.diagnostics]


def test_the_index_takes_the_range_from_the_text() -> None:
    def quantity(text: str) -> tuple[float, float]:
        values = index_values(jsontext.loads(observation(text)))
        [found] = [v for v in values if isinstance(v, QuantityValue) and v.param == "value-quantity"]
        return found.low, found.high

    assert quantity("1.50") == (1.495, 1.505)
    assert quantity("1.5") == (1.45, 1.55)
    assert quantity("100.000") == (99.9995, 100.0005)
    assert quantity("1.0e2") == (95.0, 105.0)
    risk = jsontext.loads(
        b'{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/p"},'
        b'"prediction":[{"probabilityDecimal":0.10}]}'
    )
    [probability] = [v for v in index_values(risk) if isinstance(v, NumberValue) and v.param == "probability"]
    assert (probability.low, probability.high) == (0.095, 0.105)


def test_same_content_tells_precisions_apart() -> None:
    assert not same_content(jsontext.loads(observation("1.50")), jsontext.loads(observation("1.5")))
    assert same_content(jsontext.loads(observation("1.50")), jsontext.loads(observation("1.50")))


# Valid JSON numbers with a fraction or an exponent: the texts a client may send.
_DIGITS = st.text("0123456789", min_size=1, max_size=24)
_INTEGER_PART = st.one_of(
    st.just("0"),
    st.builds(lambda d, rest: d + rest, st.sampled_from("123456789"), st.text("0123456789", max_size=20)),
)
_DECIMAL = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    _INTEGER_PART,
    st.one_of(st.just(""), _DIGITS.map(lambda d: "." + d)),
    st.one_of(
        st.just(""),
        st.builds(
            lambda e, s, d: f"{e}{s}{d}",
            st.sampled_from("eE"),
            st.sampled_from(["", "+", "-"]),
            st.text("0123456789", min_size=1, max_size=3),
        ),
    ),
).filter(
    lambda t: (
        ("." in t or "e" in t.lower()) and abs(float(t)) < 1e300 and (float(t) == 0 or abs(float(t)) > 1e-300)
    )
)


@settings(max_examples=500, deadline=None)
@given(_DECIMAL, st.booleans())
def test_any_decimal_text_survives_a_round_trip(text: str, spaced: bool) -> None:
    raw = observation(text)
    if spaced:
        raw = raw.replace(b":", b": ").replace(b",", b", ")
    written = jsontext.dumps(jsontext.loads(raw))
    assert number_texts(written) == [text, text]


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for v in node.values() for leaf in _leaves(v)]
    if isinstance(node, list):
        return [leaf for v in node for leaf in _leaves(v)]
    return [node]
