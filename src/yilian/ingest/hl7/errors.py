"""The one error the HL7 v2 intake raises, carrying what its ACK needs.

Every problem found while decoding, splitting, parsing or mapping a message becomes an
`Hl7Error`: the acknowledgment code to answer with (AR: the message is rejected as a whole,
e.g. an unsupported version or no MSH; AE: it was understood but its content is wrong), the
HL7 table 0357 condition code, the location (`PID-7`, `OBX[2]-5`) and a sentence for the
person reading the ACK.  `header` keeps whatever of the MSH could be read, so an ACK can
still be addressed to the sender.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from yilian.ingest.hl7.header import Header

__all__ = [
    "APPLICATION_INTERNAL_ERROR",
    "CONDITIONS",
    "DATA_TYPE_ERROR",
    "REQUIRED_FIELD_MISSING",
    "SEGMENT_SEQUENCE_ERROR",
    "TABLE_VALUE_NOT_FOUND",
    "UNSUPPORTED_EVENT_CODE",
    "UNSUPPORTED_MESSAGE_TYPE",
    "UNSUPPORTED_PROCESSING_ID",
    "UNSUPPORTED_VERSION_ID",
    "Hl7Error",
]

SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION_ID = "203"
APPLICATION_INTERNAL_ERROR = "207"

CONDITIONS = {
    "0": "Message accepted",
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}
"""HL7 table 0357 (message error condition codes): code -> its display text."""


class Hl7Error(Exception):
    """A message that cannot be accepted as it is: see the module docstring."""

    def __init__(
        self,
        ack_code: Literal["AE", "AR"],
        condition: str,
        text: str,
        location: str | None = None,
        header: Header | None = None,
    ) -> None:
        super().__init__(f"{location}: {text}" if location else text)
        self.ack_code: Literal["AE", "AR"] = ack_code
        self.condition = condition
        self.location = location
        self.text = text
        self.header = header

    @classmethod
    def reject(cls, condition: str, text: str, location: str | None = None) -> Hl7Error:
        """AR: the message as a whole cannot be processed."""
        return cls("AR", condition, text, location)

    @classmethod
    def content(cls, condition: str, text: str, location: str | None = None) -> Hl7Error:
        """AE: the message was read, but a field's content is missing or wrong."""
        return cls("AE", condition, text, location)

    def with_header(self, header: Header | None) -> Hl7Error:
        """This error, addressed: `header` attached unless it already has one."""
        if self.header is None:
            self.header = header
        return self
