"""Edges other than HTTP: the MLLP listener for HL7 v2."""
