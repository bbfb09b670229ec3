"""One HL7 v2 message, parsed (python-hl7) and checked against what yilian accepts.

`parse` reads the delimiters and the header itself before handing the text to python-hl7,
because python-hl7 trusts them: a message whose MSH is truncated or whose encoding
characters are wrong would otherwise be split into nonsense rather than rejected.  The
checks follow the order a receiver acknowledges in (HL7 v2.5 section 2.9.2): can the
header be read, is the version supported, is the message type, is the trigger event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import hl7

from yilian.ingest.hl7.errors import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE_ERROR,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
    UNSUPPORTED_VERSION_ID,
    Hl7Error,
)
from yilian.ingest.hl7.fields import Seg
from yilian.ingest.hl7.header import Header, header_of_line, read_header

__all__ = ["SUPPORTED_EVENTS", "SUPPORTED_VERSIONS", "Hl7Message", "parse"]

SUPPORTED_VERSIONS = (
    "2.3",
    "2.3.1",
    "2.4",
    "2.5",
    "2.5.1",
    "2.6",
    "2.7",
    "2.7.1",
    "2.8",
    "2.8.1",
    "2.8.2",
    "2.9",
)

SUPPORTED_EVENTS: dict[str, frozenset[str]] = {
    "ADT": frozenset({"A01", "A02", "A03", "A04", "A05", "A08", "A11", "A13", "A28", "A31", "A40"}),
    "ORU": frozenset({"R01"}),
    "ORM": frozenset({"O01"}),
    "OML": frozenset({"O21"}),
    "SIU": frozenset({"S12"}),
    "MDM": frozenset({"T02"}),
}
"""Message code -> the trigger events `to_bundle` maps."""


@dataclass(frozen=True)
class Hl7Message:
    """A parsed message: its header, python-hl7's tree and the text it was read from."""

    header: Header
    tree: Any  # hl7.Message
    text: str

    def segments(self, name: str) -> list[Seg]:
        """Every segment called `name`, in order, as `Seg`s that know their position."""
        found = [s for s in self.tree if str(s[0]).strip() == name]
        return [Seg(s, i, len(found)) for i, s in enumerate(found, 1)]

    def segment(self, name: str) -> Seg | None:
        """The first segment called `name`, or None."""
        found = self.segments(name)
        return found[0] if found else None

    def all_segments(self) -> list[Seg]:
        """Every segment in message order (for the grouped ones: ORC/OBR/OBX, DG1...)."""
        counts: dict[str, int] = {}
        totals: dict[str, int] = {}
        for s in self.tree:
            name = str(s[0]).strip()
            totals[name] = totals.get(name, 0) + 1
        out = []
        for s in self.tree:
            name = str(s[0]).strip()
            counts[name] = counts.get(name, 0) + 1
            out.append(Seg(s, counts[name], totals[name]))
        return out


def _undouble_escape(text: str) -> str:
    """`text` with an MSH-2 of `^~\\\\&` (the escape character written twice, as a programmer's
    string literal leaves it) read as `^~\\&`: python-hl7 would otherwise take the second
    backslash for the subcomponent separator and every `&` for data.  HAPI reads such
    messages, so senders built on it send them."""
    line = text.split("\r", 1)[0]
    end = line.find(line[3], 4) if len(line) > 9 else -1
    encoding = line[4:end] if end > 0 else ""
    if len(encoding) == 5 and encoding[2] == encoding[3] and encoding[4] not in encoding[:4]:
        return text[:4] + encoding[:3] + encoding[4] + text[end:]
    return text


def _check_delimiters(line: str) -> None:
    if len(line) < 8:
        raise Hl7Error.reject(
            REQUIRED_FIELD_MISSING, f"the MSH segment is truncated: {line!r} holds no delimiters", "MSH-2"
        )
    separator = line[3]
    if separator.isalnum() or separator.isspace() or separator in "\\":
        raise Hl7Error.reject(
            DATA_TYPE_ERROR,
            f"MSH-1, the field separator, cannot be {separator!r}; it is normally '|'",
            "MSH-1",
        )
    end = line.find(separator, 4)
    encoding = line[4:end] if end > 0 else line[4:]
    if (
        len(encoding) not in (4, 5)
        or len(set(encoding)) != len(encoding)
        or any(c.isalnum() or c.isspace() or c == separator for c in encoding)
    ):
        raise Hl7Error.reject(
            DATA_TYPE_ERROR,
            f"MSH-2 must hold the 4 encoding characters (component, repetition, escape, "
            f"subcomponent: normally '^~\\&'), all different; it holds {encoding!r}",
            "MSH-2",
        )


def _check_header(header: Header) -> None:
    if not header.message_code:
        raise Hl7Error.reject(REQUIRED_FIELD_MISSING, "MSH-9, the message type, is missing", "MSH-9")
    if not header.control_id:
        raise Hl7Error.reject(REQUIRED_FIELD_MISSING, "MSH-10, the message control id, is missing", "MSH-10")
    if not header.version:
        raise Hl7Error.reject(REQUIRED_FIELD_MISSING, "MSH-12, the HL7 version, is missing", "MSH-12")
    if header.version not in SUPPORTED_VERSIONS:
        raise Hl7Error.reject(
            UNSUPPORTED_VERSION_ID,
            f"HL7 version {header.version} is not supported; supported versions are "
            f"{', '.join(SUPPORTED_VERSIONS)}",
            "MSH-12",
        )
    events = SUPPORTED_EVENTS.get(header.message_code)
    if events is None:
        raise Hl7Error.reject(
            UNSUPPORTED_MESSAGE_TYPE,
            f"message type {header.message_code} is not supported; supported types are "
            f"{', '.join(SUPPORTED_EVENTS)}",
            "MSH-9",
        )
    if header.trigger_event not in events:
        raise Hl7Error.reject(
            UNSUPPORTED_EVENT_CODE,
            f"{header.message_code} event {header.trigger_event or '(none)'} is not supported; supported "
            f"{header.message_code} events are {', '.join(sorted(events))}",
            "MSH-9.2",
        )


def parse(text: str) -> Hl7Message:
    """Parse one message (as `split` returns it) and check its header; raises Hl7Error AR
    naming what cannot be accepted (with the header as far as it could be read)."""
    if not text.startswith("MSH"):
        head = text[:20].replace("\r", "\\r")
        raise Hl7Error.reject(
            SEGMENT_SEQUENCE_ERROR, f"a message must begin with an MSH segment, not {head!r}", "MSH"
        )
    text = _undouble_escape(text)
    line = text.split("\r", 1)[0]
    try:
        _check_delimiters(line)
    except Hl7Error as error:
        raise error.with_header(header_of_line(line)) from None
    try:
        tree = hl7.parse(text)
        msh = Seg(tree[0])
        header = read_header(msh)
    except Exception as exc:  # python-hl7 raises assorted errors on malformed text
        raise Hl7Error.reject(
            SEGMENT_SEQUENCE_ERROR, f"the message cannot be parsed: {exc}", "MSH"
        ).with_header(header_of_line(line)) from None
    if header.message_code and not header.trigger_event:
        header = _trigger_from_evn(tree, header)
    try:
        _check_header(header)
    except Hl7Error as error:
        raise error.with_header(header) from None
    return Hl7Message(header, tree, text)


def _trigger_from_evn(tree: Any, header: Header) -> Header:
    """v2.3 senders sometimes leave MSH-9.2 empty and name the event in EVN-1 only."""
    for segment in tree:
        if str(segment[0]).strip() == "EVN":
            event = Seg(segment).get(1).upper()
            if event:
                return replace(header, trigger_event=event)
    return header
