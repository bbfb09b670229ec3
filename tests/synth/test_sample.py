"""The synthetic alliance: valid resident IDs, determinism, and bundles that validate."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from yilian.fhir.validation import validate_resource
from yilian.synth import (
    INSTITUTIONS,
    RESIDENT_ID_SYSTEM,
    check_character,
    is_valid_resident_id,
    make_resident_id,
    sample_alliance,
)


def test_check_character_matches_published_examples() -> None:
    # Examples printed in GB 11643-1999 and widely quoted: the check characters 'X' and a digit.
    assert check_character("11010519491231002") == "X"
    assert is_valid_resident_id("11010519491231002X")
    assert is_valid_resident_id("11010519491231002x")
    assert is_valid_resident_id("440524188001010014")
    assert not is_valid_resident_id("440524188001010015")
    assert not is_valid_resident_id("4405241880010100")


def test_make_resident_id_encodes_birth_date_and_sex() -> None:
    rid = make_resident_id("331021", "1980-02-29", 37)
    assert rid[:14] == "33102119800229"
    assert rid[14:17] == "037"
    assert is_valid_resident_id(rid)
    with pytest.raises(ValueError):
        make_resident_id("3310", "1980-02-29", 1)


def _patients(seed: int = 2026) -> list[dict]:  # type: ignore[type-arg]
    alliance = sample_alliance(seed)
    return [p for inst in INSTITUTIONS for p in alliance.resources(inst.code, "Patient")]


def test_every_patient_has_a_valid_resident_id_consistent_with_sex_and_birth() -> None:
    patients = _patients()
    assert len(patients) == 30
    for patient in patients:
        ids = [i["value"] for i in patient["identifier"] if i["system"] == RESIDENT_ID_SYSTEM]
        assert len(ids) == 1
        rid = ids[0]
        assert is_valid_resident_id(rid), rid
        assert rid[6:14] == patient["birthDate"].replace("-", "")
        assert (int(rid[16]) % 2 == 1) == (patient["gender"] == "male")


def test_names_are_chinese_with_a_pinyin_form() -> None:
    for patient in _patients():
        chinese, pinyin = patient["name"]
        assert all("\u4e00" <= ch <= "\u9fff" for ch in chinese["text"])
        assert chinese["text"] == chinese["family"] + "".join(chinese["given"])
        assert pinyin["text"].replace(" ", "").isascii()
        assert pinyin["extension"][0]["valueCode"] == "zh-Latn-pinyin"


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    first = orjson.dumps(sample_alliance(7).bundles)
    assert first == orjson.dumps(sample_alliance(7).bundles)
    assert first != orjson.dumps(sample_alliance(8).bundles)


def test_some_residents_have_records_at_two_institutions() -> None:
    counts = Counter(
        i["value"] for p in _patients() for i in p["identifier"] if i["system"] == RESIDENT_ID_SYSTEM
    )
    assert sum(1 for n in counts.values() if n == 2) == 5
    assert len(counts) == 25


@pytest.mark.parametrize("seed", [2026, 1, 99])
def test_bundles_are_valid_transactions(seed: int) -> None:
    alliance = sample_alliance(seed)
    assert [i.code for i in alliance.institutions] == ["county-hospital", "dongshan-thc", "baishui-thc"]
    for inst in alliance.institutions:
        bundle = alliance.bundles[inst.code]
        assert bundle["type"] == "transaction"
        assert validate_resource(bundle) == []
        full_urls = {e["fullUrl"] for e in bundle["entry"]}
        assert len(full_urls) == len(bundle["entry"])
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert validate_resource(resource) == [], resource
            assert entry["request"] == {"method": "POST", "url": resource["resourceType"]}
            for key in ("subject", "encounter"):
                if key in resource:
                    assert resource[key]["reference"] in full_urls
        types = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
        assert set(types) == {"Patient", "Encounter", "Observation", "Condition", "MedicationRequest"}


def test_clinical_codes_use_standard_systems() -> None:
    alliance = sample_alliance()
    for inst in alliance.institutions:
        for obs in alliance.resources(inst.code, "Observation"):
            assert obs["code"]["coding"][0]["system"] == "http://loinc.org"
            assert isinstance(obs["valueQuantity"]["value"], float)
        for cond in alliance.resources(inst.code, "Condition"):
            assert cond["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10"
