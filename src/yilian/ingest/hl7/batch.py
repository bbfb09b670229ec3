"""Batches (FHS/BHS ... BTS/FTS) into messages, and the batch header to answer with.

A HIS that sends a night's messages as one file wraps them in batch segments (HL7 v2.5
section 2.10.3); each message inside is processed and acknowledged on its own, and the
acknowledgments go back as one batch (`ack.batch_ack`).  A lone message is a batch of one
without a header.  The batch structure is read with python-hl7's `parse_file`.
"""

from __future__ import annotations

from dataclasses import dataclass

import hl7

from yilian.ingest.hl7.errors import SEGMENT_SEQUENCE_ERROR, Hl7Error
from yilian.ingest.hl7.fields import Seg

__all__ = ["Batch", "BatchHeader", "split"]


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The BHS (or FHS, when the file has no BHS) of a batch, as a batch ACK needs it."""

    segment: str  # "BHS" or "FHS"
    field_separator: str
    encoding_characters: str
    raw_sender: tuple[str, str]  # BHS-3, BHS-4 as sent
    raw_receiver: tuple[str, str]  # BHS-5, BHS-6 as sent
    control_id: str  # BHS-11
    file: bool  # the batch came inside FHS/FTS


@dataclass(frozen=True, slots=True)
class Batch:
    """The messages of a received text, each ending in CR, and its batch header (None for
    a single message)."""

    messages: tuple[str, ...]
    header: BatchHeader | None = None


def _batch_header(segment: Seg, file: bool) -> BatchHeader:
    return BatchHeader(
        segment=segment.name,
        field_separator=segment.raw(1) or "|",
        encoding_characters=segment.raw(2) or "^~\\&",
        raw_sender=(segment.raw(3), segment.raw(4)),
        raw_receiver=(segment.raw(5), segment.raw(6)),
        control_id=segment.get(11),
        file=file,
    )


def _garbage(text: str) -> Hl7Error:
    head = text[:20].replace("\r", "\\r")
    return Hl7Error.reject(
        SEGMENT_SEQUENCE_ERROR,
        f"this is not an HL7 v2 message: it must begin with an MSH (or a batch's FHS/BHS) segment, "
        f"but it begins with {head!r}",
        "MSH",
    )


def split(text: str) -> Batch:
    """The messages of `text` (as `decode` returns it).  Raises Hl7Error AR when there is no
    message in it, or a segment comes before the first MSH."""
    start = text[:3]
    if start not in ("MSH", "BHS", "FHS"):
        raise _garbage(text)
    if start == "MSH" and "\rMSH" not in text and "\rBHS" not in text and "\rFHS" not in text:
        return Batch((text,))
    try:
        parsed = hl7.parse_file(text)
    except Exception as exc:  # python-hl7 raises ParseException, but also IndexError on odd text
        raise Hl7Error.reject(SEGMENT_SEQUENCE_ERROR, f"the batch cannot be read: {exc}") from None
    messages: list[str] = []
    header: BatchHeader | None = None
    file_header = parsed.header if start == "FHS" else None
    for batch in parsed:
        if header is None and batch.header is not None and start in ("BHS", "FHS"):
            try:
                header = _batch_header(Seg(batch.header), file=file_header is not None)
            except Exception:  # a defaulted, empty batch header
                header = None
        messages.extend(str(message) for message in batch)
    if header is None and file_header is not None:
        header = _batch_header(Seg(file_header), file=True)
    if not messages:
        raise Hl7Error.reject(SEGMENT_SEQUENCE_ERROR, "the batch holds no message (no MSH segment)", "MSH")
    return Batch(tuple(messages), header)
