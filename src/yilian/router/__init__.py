"""FHIR REST semantics without HTTP: a router takes a `FhirRequest` and a repository and returns
a `FhirResponse`.  Modelled on Medplum's fhir-router."""
