"""FHIR R4 structure validation of resources in their JSON form.

`validate_resource(resource)` returns the OperationOutcome issues of one resource: errors for
violations of the R4 structure definitions, warnings for soft problems.  It never raises.
See `validator.py` for what is checked and http://hl7.org/fhir/R4/validation.html.
"""

from yilian.fhir.validation.validator import DEFAULT_MAX_DEPTH, Validator, validate_resource, validator

__all__ = ["DEFAULT_MAX_DEPTH", "Validator", "validate_resource", "validator"]
