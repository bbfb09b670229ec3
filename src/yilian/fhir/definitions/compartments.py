"""The R4 Patient compartment: which resources belong to which patient.

Loaded from `patient_compartment.json` (derived from the R4 CompartmentDefinition,
http://hl7.org/fhir/R4/compartmentdefinition-patient.html, by `tools/gen_patient_compartment.py`).
A resource is in patient P's compartment when one of its type's listed search parameters
holds a reference to `Patient/P`; a Patient is also in its own compartment
(http://hl7.org/fhir/R4/compartmentdefinition.html: "{def}" for the compartment's focus).

Membership is computed from the reference index values the store already extracts at write
time, so it costs no second walk over the resource.  Consent and break-the-glass grants open
whole compartments, which is why the store keeps this membership as a table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import orjson

from yilian.fhir.search.model import IndexValue, ReferenceValue, TokenValue

__all__ = ["PatientCompartment", "patient_compartment", "security_labels"]


@dataclass(frozen=True, slots=True)
class PatientCompartment:
    """The compartment parameters of every resource type that has any."""

    params: Mapping[str, frozenset[str]]

    def members(self, resource_type: str, resource_id: str, values: Iterable[IndexValue]) -> set[str]:
        """Ids of the patients whose compartment the resource (with these index values) is in."""
        found: set[str] = {resource_id} if resource_type == "Patient" else set()
        wanted = self.params.get(resource_type)
        if not wanted:
            return found
        for value in values:
            if (
                isinstance(value, ReferenceValue)
                and value.param in wanted
                and value.target_type == "Patient"
                and value.target_id
            ):
                found.add(value.target_id)
        return found


def security_labels(values: Iterable[IndexValue]) -> set[tuple[str | None, str]]:
    """The `meta.security` codings (system, code) among a resource's index values."""
    return {
        (v.system, v.code)
        for v in values
        if isinstance(v, TokenValue) and v.param == "_security" and v.code is not None
    }


@cache
def patient_compartment() -> PatientCompartment:
    raw = resources.files(__package__).joinpath("patient_compartment.json").read_bytes()
    table = orjson.loads(raw)["resources"]
    return PatientCompartment({rtype: frozenset(params) for rtype, params in table.items()})
