"""Sending a file of HL7 v2 messages over MLLP and reading each ACK (`yilian hl7 send`), as an
interface engine would: one message, wait for its ACK, then the next."""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

import hl7

from yilian.transports.mllp import END_BLOCK, frame

__all__ = ["SendResult", "send_file", "split_file"]

_SEGMENT_END = re.compile(rb"\r\n|\n|\r")
_BATCH_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")


@dataclass(frozen=True, slots=True)
class SendResult:
    control_id: str
    code: str  # MSA-1: AA, AE, AR (CA/CE/CR for enhanced mode); "" if no ACK could be read
    error: str


def split_file(raw: bytes) -> list[bytes]:
    """The messages of a file: each begins at an MSH segment; batch envelopes (FHS/BHS/BTS/FTS)
    are dropped, segments rejoined with CR.  The bytes stay in the file's own encoding."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    messages: list[list[bytes]] = []
    for segment in _SEGMENT_END.split(raw):
        segment = segment.strip(b"\x0b\x1c")
        if not segment.strip() or segment[:3] in _BATCH_SEGMENTS:
            continue
        if segment.startswith(b"MSH") or not messages:
            messages.append([])
        messages[-1].append(segment)
    return [b"\r".join(m) + b"\r" for m in messages]


async def send_file(
    path: Path,
    host: str,
    port: int,
    *,
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: float = 30.0,
) -> list[SendResult]:
    context = None
    if tls_ca or tls_cert:
        context = ssl.create_default_context(cafile=tls_ca)
        if tls_cert:
            context.load_cert_chain(tls_cert, tls_key)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout)
    results = []
    try:
        for message in split_file(path.read_bytes()):
            writer.write(frame(message))
            await writer.drain()
            block = await asyncio.wait_for(reader.readuntil(END_BLOCK), timeout)
            results.append(_read_ack(message, block[block.find(b"\x0b") + 1 : -len(END_BLOCK)]))
    finally:
        writer.close()
    return results


def _read_ack(message: bytes, ack: bytes) -> SendResult:
    control_id = _msh10(message)
    try:
        parsed = hl7.parse(ack.decode("utf-8", "replace"))
        msa = parsed.segment("MSA")
        code = str(msa[1])
        error = str(msa[3]) if len(msa) > 3 else ""  # MSA-3: the text, in every version
        if not error:
            try:
                err = parsed.segment("ERR")
                error = str(err[8]) if len(err) > 8 and str(err[8]) else str(err[1])
            except KeyError:
                error = ""
        return SendResult(control_id, code, error)
    except Exception:  # python-hl7 raises assorted errors on what is not an ACK
        return SendResult(control_id, "", f"the answer is not an ACK: {ack[:80]!r}")


def _msh10(message: bytes) -> str:
    first = message.split(b"\r", 1)[0]
    if len(first) < 4:
        return ""
    fields = first.split(first[3:4])
    return fields[9].decode("utf-8", "replace") if len(fields) > 9 else ""
