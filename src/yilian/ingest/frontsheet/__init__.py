"""Front sheets (病案首页) and settlement lists as tables: columns, row checks, rows to FHIR."""
