"""HL7 v2 messages to FHIR: decode, split, parse, map, acknowledge.  Pure: no I/O.

The intake (`yilian.feeds`) runs the steps in order for every received text:

1. `decode(raw)` bytes -> text (charset from MSH-18, BOM, framing, line ends);
2. `split(text)` -> a `Batch` of messages (a batch's FHS/BHS kept for its ACK);
3. `parse(message)` -> `Hl7Message` (header checked: delimiters, version, type, event);
4. `to_bundle(message, institution, options)` -> `Mapped`: a FHIR R4 transaction Bundle;
5. `ack(header, code, error, ...)` / `batch_ack(...)` -> the answer.

Each step raises only `Hl7Error`, which carries the ACK code, the table 0357 condition and
the location.  python-hl7 (https://python-hl7.readthedocs.io) does the parsing.  The mapping
follows the HL7 v2-to-FHIR guide (http://build.fhir.org/ig/HL7/v2-to-fhir/); docs/hl7v2.md
has the field-by-field table.
"""

from yilian.ingest.hl7.ack import ack, batch_ack, escape
from yilian.ingest.hl7.batch import Batch, BatchHeader, split
from yilian.ingest.hl7.charset import CHARSETS, decode
from yilian.ingest.hl7.context import Mapped, MappingOptions
from yilian.ingest.hl7.errors import CONDITIONS, Hl7Error
from yilian.ingest.hl7.header import Header
from yilian.ingest.hl7.mapping import to_bundle
from yilian.ingest.hl7.message import SUPPORTED_EVENTS, SUPPORTED_VERSIONS, Hl7Message, parse

__all__ = [
    "CHARSETS",
    "CONDITIONS",
    "SUPPORTED_EVENTS",
    "SUPPORTED_VERSIONS",
    "Batch",
    "BatchHeader",
    "Header",
    "Hl7Error",
    "Hl7Message",
    "Mapped",
    "MappingOptions",
    "ack",
    "batch_ack",
    "decode",
    "escape",
    "parse",
    "split",
    "to_bundle",
]
