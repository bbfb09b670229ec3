"""Every shared HL7 v2 sample either maps to a Bundle the real router accepts (on both
backends) or is refused with the Hl7Error its content calls for."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from tests.ingest.hl7.conftest import INSTITUTION, Alliance

from yilian.ingest.hl7 import Hl7Error, decode, parse, split, to_bundle

pytestmark = [pytest.mark.anyio, pytest.mark.shared_data]

MAPPED = {
    "ADT": {"A01", "A02", "A03", "A04", "A05", "A08", "A11", "A13", "A28", "A31", "A40"},
    "ORU": {"R01"},
    "ORM": {"O01"},
    "OML": {"O21"},
    "SIU": {"S12"},
    "MDM": {"T02"},
}
# Samples of supported events that lack what the mapping needs, and the field each names.
INCOMPLETE = {
    "MDM-T02-01.hl7": "OBX-5",  # its ED value carries no data
    "OML-O21-03.hl7": "OBR[1]-2",  # an order with only a placer group number (ORC-4)
    "ORM-O01-04.hl7": "OBR-4",  # diet orders (ODS) without an OBR
    "ORM-O01-05.hl7": "OBR-4",
    "ORM-O01-06.hl7": "OBR-4",
}


def expected_outcomes(hl7_samples: Path) -> dict[str, str]:
    """File -> expected outcome, from the sample set's own manifest (its MSH-9 column)."""
    out = {}
    with (hl7_samples / "MANIFEST.tsv").open(encoding="utf-8") as manifest:
        for row in csv.DictReader(manifest, delimiter="\t"):
            code, event = row["message_types(MSH-9)"].split("^")[:2]
            if row["file"] in INCOMPLETE:
                out[row["file"]] = "AE 101"
            elif code not in MAPPED:
                out[row["file"]] = "AR 200"
            elif event not in MAPPED[code]:
                out[row["file"]] = "AR 201"
            else:
                out[row["file"]] = "mapped"
    return out


async def test_every_sample_maps_or_is_refused_with_the_right_code(
    alliance: Alliance, hl7_samples: Path
) -> None:
    expected = expected_outcomes(hl7_samples)
    assert len(expected) == 139
    outcomes: dict[str, str] = {}
    accepted = 0
    for name in sorted(expected):
        raw = (hl7_samples / name).read_bytes()
        try:
            batch = split(decode(raw))
            assert len(batch.messages) == 1
            mapped = to_bundle(parse(batch.messages[0]), INSTITUTION)
        except Hl7Error as error:
            outcomes[name] = f"{error.ack_code} {error.condition}"
            assert error.header is not None, name  # every one of them can be acknowledged
            if name in INCOMPLETE:
                assert error.location == INCOMPLETE[name], (name, error.location)
            continue
        outcomes[name] = "mapped"
        response = await alliance.post(mapped.bundle)
        assert response.body is not None and response.body["type"] == "transaction-response"
        assert all(e["response"]["status"].startswith(("200", "201")) for e in response.body["entry"])
        accepted += 1
    assert outcomes == expected
    assert Counter(outcomes.values()) == {"mapped": 46, "AR 200": 35, "AR 201": 53, "AE 101": 5}
    assert accepted == 46
    stored = await alliance.everything()
    kinds = Counter(rtype for rtype, _ in stored)
    assert {"Patient", "Encounter", "ServiceRequest", "DiagnosticReport", "Observation"} <= set(kinds)
    assert {"Appointment", "DocumentReference", "Condition"} <= set(kinds)
