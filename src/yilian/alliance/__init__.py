"""The medical alliance (医联体) as a domain: its member institutions and their partitions."""

from yilian.alliance.institutions import (
    INSTITUTION_SYSTEM,
    list_institutions,
    register_institution,
    remove_institution,
    validate_code,
)

__all__ = [
    "INSTITUTION_SYSTEM",
    "list_institutions",
    "register_institution",
    "remove_institution",
    "validate_code",
]
