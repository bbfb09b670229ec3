"""The FHIR R4 kernel: pure knowledge of the specification, no I/O, no HTTP, no SQL."""
