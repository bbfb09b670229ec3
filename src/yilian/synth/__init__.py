"""The synthetic alliance generator: deterministic sample data for the demo and the tests."""

from yilian.synth.resident_id import (
    RESIDENT_ID_SYSTEM,
    check_character,
    is_valid_resident_id,
    make_resident_id,
)
from yilian.synth.sample import INSTITUTIONS, SampleAlliance, SampleInstitution, sample_alliance

__all__ = [
    "INSTITUTIONS",
    "RESIDENT_ID_SYSTEM",
    "SampleAlliance",
    "SampleInstitution",
    "check_character",
    "is_valid_resident_id",
    "make_resident_id",
    "sample_alliance",
]
