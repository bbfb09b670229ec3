"""`GET [base]/metadata`: the CapabilityStatement (http://hl7.org/fhir/R4/capabilitystatement.html).

It lists exactly what this router implements, for every R4 resource type: the instance and
type interactions, versioned updates with If-Match, conditional create / read (If-None-Match)
/ update / delete (single match), the search parameters of the registry with their types,
`_include`/`_revinclude` values, and the `$everything` (Patient) and `$validate` operations;
at system level transaction, batch, system search and system history.  The statement is
built once per process; only `implementation.url` varies with the base it is asked through.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from yilian.fhir.definitions import registry
from yilian.router.resource_types import resource_types

__all__ = ["capability_statement"]

_TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
_SYSTEM_INTERACTIONS = ("transaction", "batch", "search-system", "history-system")
_VALIDATE = {"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}
_EVERYTHING = {
    "name": "everything",
    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
}
_DATE = "2026-11-23"


@cache
def _revinclude_sources() -> dict[str, list[str]]:
    """For each target type, the `Source:param` references that can point at it."""
    out: dict[str, list[str]] = {}
    reg = registry()
    for source in reg.resource_types_with_parameters():
        for code, param in reg.for_type(source).items():
            if param.type == "reference":
                for target in param.targets:
                    out.setdefault(target, []).append(f"{source}:{code}")
    return out


def _resource(rtype: str) -> dict[str, Any]:
    params = registry().for_type(rtype)
    includes = [f"{rtype}:{code}" for code, p in params.items() if p.type == "reference"]
    entry: dict[str, Any] = {
        "type": rtype,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
        "interaction": [{"code": code} for code in _TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-match",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "logical", "local"],
    }
    if includes:
        entry["searchInclude"] = ["*", *sorted(includes)]
    revincludes = sorted(_revinclude_sources().get(rtype, []))
    if revincludes:
        entry["searchRevInclude"] = revincludes
    entry["searchParam"] = [{"name": code, "type": p.type} for code, p in sorted(params.items())]
    entry["operation"] = [_EVERYTHING, _VALIDATE] if rtype == "Patient" else [_VALIDATE]
    return entry


@cache
def _statement() -> dict[str, Any]:
    common = registry().common()
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _DATE,
        "publisher": "yilian",
        "kind": "instance",
        "software": {"name": "yilian", "version": "0.1.0"},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [_resource(t) for t in resource_types()],
                "interaction": [{"code": code} for code in _SYSTEM_INTERACTIONS],
                "searchParam": [{"name": code, "type": p.type} for code, p in sorted(common.items())],
            }
        ],
    }


def capability_statement(base_url: str) -> dict[str, Any]:
    """The statement, naming `base_url` as the implementation it describes."""
    statement = dict(_statement())
    statement["implementation"] = {"description": "yilian FHIR R4 server", "url": base_url}
    return statement
