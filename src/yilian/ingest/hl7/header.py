"""The message header (MSH) as a value: who sent what, in which version and charset.

An ACK is addressed from it (sender and receiver swapped, the same version, delimiters and
charset), the intake picks the institution by its sending facility, and the message log
keys on the control id.  `fields` keeps MSH-3 to MSH-6 exactly as sent (all components,
escapes included), so the ACK can echo them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import hl7

from yilian.ingest.hl7.fields import Seg

__all__ = ["DEFAULT_ENCODING", "Header", "read_header"]

DEFAULT_ENCODING = "^~\\&"


@dataclass(frozen=True, slots=True)
class Header:
    """What MSH says (see the module docstring); empty strings for what it does not."""

    field_separator: str = "|"
    encoding_characters: str = DEFAULT_ENCODING
    sending_application: str = ""  # MSH-3.1
    sending_facility: str = ""  # MSH-4.1, the namespace id the facility map pairs with an institution
    receiving_application: str = ""  # MSH-5.1
    receiving_facility: str = ""  # MSH-6.1
    timestamp: str = ""  # MSH-7.1, as sent
    message_code: str = ""  # MSH-9.1, e.g. ADT
    trigger_event: str = ""  # MSH-9.2, e.g. A01
    structure: str = ""  # MSH-9.3, e.g. ADT_A01
    control_id: str = ""  # MSH-10
    processing_id: str = ""  # MSH-11.1: P, T or D
    version: str = ""  # MSH-12.1
    charset: str = ""  # MSH-18 (first repetition)
    raw_sender: tuple[str, str] = ("", "")  # MSH-3, MSH-4 as sent
    raw_receiver: tuple[str, str] = ("", "")  # MSH-5, MSH-6 as sent

    @property
    def message_type(self) -> str:
        """`ADT^A01`, as a summary names it."""
        return f"{self.message_code}^{self.trigger_event}" if self.trigger_event else self.message_code


def read_header(msh: Seg) -> Header:
    """The Header of a parsed MSH segment."""
    return Header(
        field_separator=msh.raw(1) or "|",
        encoding_characters=msh.raw(2) or DEFAULT_ENCODING,
        sending_application=msh.get(3),
        sending_facility=msh.get(4),
        receiving_application=msh.get(5),
        receiving_facility=msh.get(6),
        timestamp=msh.get(7),
        message_code=msh.get(9, 1).upper(),
        trigger_event=msh.get(9, 2).upper(),
        structure=msh.get(9, 3).upper(),
        control_id=msh.get(10),
        processing_id=msh.get(11),
        version=msh.get(12),
        charset=msh.get(18).upper(),
        raw_sender=(msh.raw(3), msh.raw(4)),
        raw_receiver=(msh.raw(5), msh.raw(6)),
    )


def header_of_line(line: str) -> Header | None:
    """The Header of a lone MSH line, as far as it can be read, or None: for errors found
    before the message could be parsed (a charset that does not decode, bad delimiters)."""
    if not line.startswith("MSH") or len(line) < 8:
        return None
    try:
        message = hl7.parse(line)
        return read_header(Seg(message[0]))
    except Exception:  # python-hl7 raises assorted errors on malformed text; there is no header
        return None
