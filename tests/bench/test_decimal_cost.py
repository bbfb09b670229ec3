"""The decimal-cost benchmark compares what it says it compares: its two kinds of Observation
are valid, differ only in trailing zeros, and only the decimal kind takes the careful parse."""

from __future__ import annotations

from bench.decimal_cost import KINDS, observation

from yilian.fhir import jsontext
from yilian.fhir.jsontext import DecimalText
from yilian.fhir.validation import validate_resource


def test_the_two_kinds_differ_only_in_trailing_zeros() -> None:
    for i in (0, 7, 49):
        plain, decimal = (observation(i, kind) for kind in KINDS)
        assert decimal.replace("0,", ",").replace('"decimal"', '"plain"') == plain
        for text in (plain, decimal):
            resource = jsontext.loads(text)
            assert not [x for x in validate_resource(resource) if x.severity.value in ("error", "fatal")]
        values = [c["valueQuantity"]["value"] for c in jsontext.loads(decimal)["component"]]
        assert all(type(v) is DecimalText for v in values)
        plain_values = [c["valueQuantity"]["value"] for c in jsontext.loads(plain)["component"]]
        assert all(type(v) is float for v in plain_values)
        assert jsontext.dumps(jsontext.loads(decimal)).count(b"0,") == 2
