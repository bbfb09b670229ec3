"""Bulk Data Access (https://hl7.org/fhir/uv/bulkdata/): the asynchronous job framework
(`jobs`) and `$export` (`export`); `$import` lives in `yilian.ingest` on the same jobs."""
