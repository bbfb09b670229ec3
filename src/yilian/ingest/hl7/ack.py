"""Acknowledgments: ACK messages (original mode, HL7 v2.5 section 2.9.2) and batch ACKs.

An ACK goes back in the sender's own dialect: its delimiters, its version and its charset
(MSH-18), from the receiver to the sender (MSH-3/4 and MSH-5/6 swapped, echoed as sent),
MSH-9 `ACK^{trigger}^ACK` (v2.3 had no message structure: `ACK^{trigger}`), MSA with the
code and the incoming control id.  An error is reported as its version defines ERR:

* v2.5 and later: ERR-2 location (segment^sequence^field^repetition^component^
  subcomponent), ERR-3 the table 0357 condition as a CWE, ERR-4 severity E, ERR-8 the
  sentence for a person;
* v2.3, 2.3.1 and 2.4: ERR-1 (segment^sequence^field^condition&text&HL70357), with the
  sentence in MSA-3 and the condition in MSA-6.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from yilian.ingest.hl7.batch import BatchHeader
from yilian.ingest.hl7.errors import CONDITIONS, Hl7Error
from yilian.ingest.hl7.header import DEFAULT_ENCODING, Header

__all__ = ["ack", "batch_ack", "escape", "timestamp"]

DEFAULT_VERSION = "2.5.1"
_LOCATION = re.compile(r"^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+)(?:\.(\d+)(?:\.(\d+))?)?)?$")


def timestamp(now: datetime) -> str:
    """An HL7 DTM to the second, with the offset when `now` has one."""
    text = now.strftime("%Y%m%d%H%M%S")
    return text + now.strftime("%z") if now.utcoffset() is not None else text


def escape(text: str, field_separator: str = "|", encoding: str = DEFAULT_ENCODING) -> str:
    """`text` with HL7's delimiters written as escape sequences (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\)
    and line breaks as \\.br\\; every other character, Chinese included, as it is."""
    component, repetition, esc, sub = encoding[0], encoding[1], encoding[2], encoding[3]
    table = {
        esc: f"{esc}E{esc}",
        field_separator: f"{esc}F{esc}",
        component: f"{esc}S{esc}",
        sub: f"{esc}T{esc}",
        repetition: f"{esc}R{esc}",
        "\r": f"{esc}.br{esc}",
        "\n": f"{esc}.br{esc}",
    }
    return "".join(table.get(c, c) for c in text.replace("\r\n", "\n"))


def _old_style(version: str) -> bool:
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1])) < (2, 5)
    except (IndexError, ValueError):
        return False


def _location(location: str | None) -> tuple[str, str, str, str, str]:
    """(segment, sequence, field, component, subcomponent) of `PID-3.4` or `OBX[2]-5`."""
    match = _LOCATION.fullmatch(location or "")
    if not match:
        return ("", "", "", "", "")
    segment, sequence, field, component, sub = match.groups()
    return (segment, sequence or "1", field or "", component or "", sub or "")


def _delimiters(field_separator: str, encoding: str) -> tuple[str, str]:
    """The delimiters to answer with: the sender's, unless they are unusable (an ACK to a
    message rejected for its MSH-1/MSH-2 must still be readable), then `|` and `^~\\&`."""
    usable = (
        len(field_separator) == 1
        and not (field_separator.isalnum() or field_separator.isspace() or field_separator == "\\")
        and len(encoding) in (4, 5)
        and len(set(encoding)) == len(encoding)
        and not any(c.isalnum() or c.isspace() or c == field_separator for c in encoding)
    )
    return (field_separator, encoding) if usable else ("|", DEFAULT_ENCODING)


def ack(header: Header | None, code: str, error: Hl7Error | None, *, control_id: str, now: datetime) -> str:
    """The ACK (CR segment ends) of the message `header` describes (None: one whose MSH
    could not be read), with acknowledgment `code` (AA, AE, AR, CA, CE, CR) and `error`."""
    h = header or Header()
    fs, enc = _delimiters(h.field_separator, h.encoding_characters)
    comp, sub = enc[0], enc[3]
    version = h.version or DEFAULT_VERSION
    old = _old_style(version)
    trigger = h.trigger_event
    message_type = (
        f"ACK{comp}{trigger}"
        if version == "2.3" or version.startswith("2.2")
        else (f"ACK{comp}{trigger}{comp}ACK")
    )
    msh = ["MSH", enc, h.raw_receiver[0], h.raw_receiver[1], h.raw_sender[0], h.raw_sender[1]]
    msh += [timestamp(now), "", message_type, escape(control_id, fs, enc), h.processing_id or "P", version]
    if h.charset:
        msh += ["", "", "", "", "", escape(h.charset, fs, enc)]
    msa = ["MSA", code, escape(h.control_id, fs, enc)]
    segments = [msh, msa]
    if error is not None:
        text = escape(error.text, fs, enc)
        condition = error.condition
        display = escape(CONDITIONS.get(condition, ""), fs, enc)
        segment, sequence, field, component, subcomponent = _location(error.location)
        if old:
            msa += [text, "", "", f"{condition}{comp}{display}{comp}HL70357"]
            eld = [segment, sequence if segment else "", field, f"{condition}{sub}{display}{sub}HL70357"]
            segments.append(["ERR", comp.join(eld)])
        else:
            erl = comp.join(
                [segment, sequence if segment else "", field, "1" if field else "", component, subcomponent]
            )
            erl = erl.rstrip(comp)
            segments.append(
                ["ERR", "", erl, f"{condition}{comp}{display}{comp}HL70357", "E", "", "", "", text]
            )
    lines = [fs.join(segments[0][:1]) + fs + fs.join(segments[0][1:])] + [fs.join(s) for s in segments[1:]]
    return "".join(line + "\r" for line in lines)


def batch_ack(batch: BatchHeader | None, acks: Sequence[str], *, control_id: str, now: datetime) -> str:
    """The ACKs of a batch's messages as one batch (BHS ... BTS, inside FHS ... FTS when the
    batch came in a file), addressed back to its sender, BHS-12 naming its BHS-11."""
    fs = batch.field_separator if batch is not None else "|"
    enc = (
        batch.encoding_characters
        if batch is not None and len(batch.encoding_characters) >= 4
        else (DEFAULT_ENCODING)
    )
    sender = batch.raw_receiver if batch is not None else ("", "")
    receiver = batch.raw_sender if batch is not None else ("", "")
    reference = escape(batch.control_id, fs, enc) if batch is not None else ""

    def header(name: str) -> str:
        fields = [enc, sender[0], sender[1], receiver[0], receiver[1], timestamp(now), "", "", ""]
        fields += [escape(control_id, fs, enc), reference]
        return name + fs + fs.join(fields).rstrip(fs) + "\r"

    body = (
        header("BHS") + "".join(a if a.endswith("\r") else a + "\r" for a in acks) + f"BTS{fs}{len(acks)}\r"
    )
    if batch is not None and batch.file:
        return header("FHS") + body + f"FTS{fs}1\r"
    return body
