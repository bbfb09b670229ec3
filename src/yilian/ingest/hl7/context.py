"""What a mapping needs besides the message: the institution, the options, the warnings.

`MappingOptions` are the intake's settings for one sender (its timezone and the assigning
authorities it uses); `MappingContext` carries them through the segment mappers together
with the warnings about optional values that had to be dropped (a malformed birth date in
an ORU is a warning; in a field the mapping needs, it is an Hl7Error AE).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yilian.ingest.hl7.header import Header

__all__ = ["Mapped", "MappingContext", "MappingOptions"]

_OFFSET = re.compile(r"^[+-](0\d|1[0-4]):[0-5]\d$")


@dataclass(frozen=True)
class MappingOptions:
    """`timezone`: the offset applied to HL7 timestamps that carry none (`+08:00`, China
    Standard Time).  `authorities`: assigning authority or facility name (PID-3.4, MSH-4) ->
    institution code, so `12345^^^QXXRMYY^MR` becomes an MRN of that institution."""

    timezone: str = "+08:00"
    authorities: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _OFFSET.fullmatch(self.timezone):
            raise ValueError(f"timezone must be an offset like +08:00, not {self.timezone!r}")


@dataclass(frozen=True)
class Mapped:
    """A message's FHIR: a transaction Bundle, a one-line summary (`ADT^A01: Patient,
    Encounter`) and the warnings about values left out."""

    bundle: dict[str, Any]
    summary: str
    warnings: tuple[str, ...] = ()


@dataclass
class MappingContext:
    """The state of one `to_bundle` call."""

    institution: str
    options: MappingOptions
    header: Header
    warnings: list[str] = field(default_factory=list)

    def warn(self, location: str, text: str) -> None:
        self.warnings.append(f"{location}: {text}")
