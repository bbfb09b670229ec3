"""Bytes off the wire to message text: framing, BOM, character set, segment ends.

HL7 v2 names the character set in MSH-18 (table 0211), and MSH itself is ASCII, so the
declaration can be read from the raw bytes before anything is decoded.  Chinese HIS often
send GBK without declaring it; undeclared text is therefore UTF-8 when it decodes as UTF-8
and GB18030 (a superset of GBK and GB2312) otherwise.  A declared charset that does not
decode is rejected with the byte offset, never guessed around: a mis-decoded name would be
stored as someone else's.  An unknown declaration (`ENG`, a shifted field) on a message that
is all ASCII is read anyway: every charset agrees on those bytes.  See HL7 v2.5 section 2.15.9.18.
"""

from __future__ import annotations

import re

from yilian.ingest.hl7.errors import DATA_TYPE_ERROR, TABLE_VALUE_NOT_FOUND, Hl7Error
from yilian.ingest.hl7.header import header_of_line

__all__ = ["CHARSETS", "decode", "decode_with_codec", "normalise"]

CHARSETS = {
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",  # table 0211's deprecated plain UNICODE: in practice UTF-8
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GB 18030": "gb18030",
    "GBK": "gbk",
    "GB2312": "gbk",  # GBK is a superset of GB 2312; HIS that say GB2312 often send GBK
    "ASCII": "ascii",
    "US-ASCII": "ascii",
    "8859/1": "latin-1",
    "ISO-8859-1": "latin-1",
    "ISO IR6": "ascii",
    "ISO IR100": "latin-1",
}
"""MSH-18 values (table 0211 and the spellings HIS use) -> Python codec."""

_BOMS = ((b"\xef\xbb\xbf", None), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_FRAMING = re.compile(r"[\x0b\x1c]")
_LINE_ENDS = re.compile(r"\r\n|\n|\r")


def _msh_line(raw: bytes) -> bytes:
    start = raw.find(b"MSH")
    if start < 0:
        return b""
    end = len(raw)
    for stop in (b"\r", b"\n"):
        at = raw.find(stop, start)
        if at >= 0:
            end = min(end, at)
    return raw[start:end]


def declared_charset(raw: bytes) -> str:
    """MSH-18 (its first repetition, upper case) read from the raw bytes, or ''."""
    line = _msh_line(raw)
    if len(line) < 4:
        return ""
    separator = line[3:4]
    fields = line.split(separator)
    if len(fields) < 18:
        return ""
    value = fields[17].split(b"~")[0].split(b"^")[0]
    return value.decode("ascii", errors="replace").strip().upper()


def _reject(raw: bytes, condition: str, text: str) -> Hl7Error:
    error = Hl7Error.reject(condition, text, "MSH-18")
    return error.with_header(header_of_line(_msh_line(raw).decode("latin-1")))


def _decode_as(raw: bytes, codec: str, declared: str) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise _reject(
            raw,
            DATA_TYPE_ERROR,
            f"the message declares character set {declared!r} in MSH-18 but byte {exc.start} "
            f"(0x{raw[exc.start]:02x}) is not valid {declared}",
        ) from None


def decode(raw: bytes) -> str:
    """The message text of `raw`: see the module docstring; segments end in CR, blank lines
    and MLLP framing bytes are dropped.  Raises Hl7Error AR when the bytes cannot be read."""
    return decode_with_codec(raw)[0]


def decode_with_codec(raw: bytes) -> tuple[str, str]:
    """`decode`, and the Python codec it read `raw` with (to write what is kept of it, or an
    answer to it, back in the same character set)."""
    text: str | None = None
    used = "utf-8"
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            raw = raw[len(bom) :]
            if codec is not None:
                used = codec
                try:
                    text = raw.decode(codec)
                except UnicodeDecodeError as exc:
                    raise Hl7Error.reject(
                        DATA_TYPE_ERROR,
                        f"the message starts with a {codec} byte order mark but byte "
                        f"{exc.start + len(bom)} is not valid {codec}",
                    ) from None
            break
    if text is None:
        raw = raw.lstrip(b"\x0b")
        declared = declared_charset(raw)
        if declared:
            codec = CHARSETS.get(declared)
            if codec is None and raw.isascii():
                codec = "ascii"  # every charset of table 0211 reads ASCII bytes alike
            if codec is None:
                raise _reject(
                    raw,
                    TABLE_VALUE_NOT_FOUND,
                    f"character set {declared!r} in MSH-18 is not supported; use one of "
                    f"{', '.join(sorted(CHARSETS))}",
                )
            text, used = _decode_as(raw, codec, declared), codec
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                used = "gb18030"
                try:
                    text = raw.decode("gb18030")
                except UnicodeDecodeError as exc:
                    raise _reject(
                        raw,
                        DATA_TYPE_ERROR,
                        f"the message declares no character set (MSH-18) and is neither UTF-8 nor "
                        f"GB18030: byte {exc.start} (0x{raw[exc.start]:02x}) is invalid in both",
                    ) from None
    return normalise(text), used


def normalise(text: str) -> str:
    """CR segment ends, no blank lines, no MLLP framing, no BOM."""
    text = _FRAMING.sub("", text.lstrip("\ufeff"))
    lines = [line for line in _LINE_ENDS.split(text) if line.strip()]
    return "".join(line + "\r" for line in lines)
