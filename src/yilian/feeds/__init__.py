"""Feeds: HL7 v2 messages and front sheets received, kept and turned into FHIR through the router."""
