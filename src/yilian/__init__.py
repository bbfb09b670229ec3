"""yilian (医联): a FHIR-native clinical data platform for regional medical alliances."""

__version__ = "0.1.0"
__all__ = ["__version__"]
