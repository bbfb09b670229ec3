"""FHIR REST semantics without HTTP: a router takes a `FhirRequest` and a repository and returns
a `FhirResponse`.  Modelled on Medplum's fhir-router."""

from yilian.router.router import FhirRouter
from yilian.router.settings import RouterSettings
from yilian.router.types import FhirRequest, FhirResponse

__all__ = ["FhirRequest", "FhirResponse", "FhirRouter", "RouterSettings"]
