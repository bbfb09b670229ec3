"""Reading a request body: size limit, media type, UTF-8, nesting depth, JSON.

Every check here happens before the router sees the request, and each failure is an
`OutcomeError` (rendered by `api.errors`), so a bad body can never reach storage:

* size: the body is streamed and reading stops at `max_body_bytes` (413), so an oversized
  upload is never held in memory whole; a declared `Content-Length` over the limit is refused
  before reading at all;
* media type: `application/fhir+json` or `application/json` for resources
  (http://hl7.org/fhir/R4/http.html#mime-type), `application/json-patch+json` for PATCH
  (http://hl7.org/fhir/R4/http.html#patch), `application/x-www-form-urlencoded` for
  `POST .../_search` (http://hl7.org/fhir/R4/search.html#Introduction); anything else is 415;
* encoding: UTF-8 only (400 naming the byte offset);
* nesting: counted on the raw bytes before parsing, so ten thousand nested arrays are refused
  without any parser recursing into them (400);
* syntax: orjson; a malformed document is a 400 naming line, column and character offset;
  decimals keep the text they were sent in (`fhir.jsontext`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from yilian.fhir import jsontext
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError

__all__ = ["BodyLimits", "ParsedBody", "check_depth", "parse_body", "parse_json", "read_limited"]

_JSON_TYPES = frozenset({"application/fhir+json", "application/json"})
_PATCH_TYPES = _JSON_TYPES | {"application/json-patch+json"}
_FORM = "application/x-www-form-urlencoded"
_UTF8 = frozenset({"utf-8", "utf8"})

# A JSON string (escapes included) or one bracket; strings are skipped whole so brackets
# inside them do not count.  The unrolled form avoids per-character alternation.
_DEPTH_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    max_depth: int


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """The parsed JSON (or None when there was no body) and, for a form-encoded search, the
    form fields to be treated as query parameters."""

    json: Any = None
    form: list[tuple[str, str]] = field(default_factory=list)


async def read_limited(chunks: AsyncIterator[bytes], declared_length: str | None, max_bytes: int) -> bytes:
    """Collect the body, refusing (413) as soon as it is known to exceed `max_bytes`."""
    if declared_length is not None and declared_length.strip().isdigit() and int(declared_length) > max_bytes:
        raise _too_large(int(declared_length), max_bytes)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(None, max_bytes)
        parts.append(chunk)
    return b"".join(parts)


def _too_large(size: int | None, max_bytes: int) -> OutcomeError:
    what = f"{size} bytes" if size is not None else "more than that"
    return OutcomeError(
        Outcome.PAYLOAD_TOO_LARGE,
        IssueType.TOO_LONG,
        f"request body is too large: the limit is {max_bytes} bytes and the body has {what}",
    )


def parse_body(
    raw: bytes, content_type: str | None, *, method: str, is_search: bool, limits: BodyLimits
) -> ParsedBody:
    """Check the media type and parse `raw` accordingly; an empty body parses to None."""
    if not raw:
        return ParsedBody()
    media, charset = _media_type(content_type)
    if media is None:
        raise _unsupported(
            "a request body needs a Content-Type header: application/fhir+json"
            + (" (or application/x-www-form-urlencoded for _search)" if is_search else "")
        )
    if charset is not None and charset not in _UTF8:
        raise _unsupported(f"charset={charset} is not supported; send UTF-8")
    if is_search and method == "POST":
        if media != _FORM:
            raise _unsupported(f"POST _search takes {_FORM}, not {media}")
        return ParsedBody(form=_parse_form(raw))
    allowed = _PATCH_TYPES if method == "PATCH" else _JSON_TYPES
    if media not in allowed:
        raise _unsupported(f"Content-Type {media} is not supported here; use {' or '.join(sorted(allowed))}")
    parsed = parse_json(raw, limits.max_depth)
    if media != "application/json-patch+json" and not isinstance(parsed, dict):
        raise OutcomeError(
            Outcome.BAD_REQUEST,
            IssueType.STRUCTURE,
            f"the body must be a JSON object (a FHIR resource), not a JSON {type(parsed).__name__}",
        )
    return ParsedBody(json=parsed)


def parse_json(raw: bytes, max_depth: int) -> Any:
    """UTF-8 check, depth check, then orjson (`jsontext`); each failure a 400 that says where."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte-order mark is harmless; JSON parsers reject it
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OutcomeError(
            Outcome.BAD_REQUEST,
            IssueType.STRUCTURE,
            f"the body is not valid UTF-8: byte {exc.start} ({raw[exc.start : exc.start + 1]!r}) "
            "cannot be decoded",
        ) from None
    check_depth(raw, max_depth)
    try:
        return jsontext.loads(text)
    except orjson.JSONDecodeError as exc:
        raise OutcomeError(
            Outcome.BAD_REQUEST,
            IssueType.STRUCTURE,
            f"malformed JSON at line {exc.lineno} column {exc.colno} (character {exc.pos}): {exc.msg}",
        ) from None


def check_depth(raw: bytes, max_depth: int) -> None:
    """Raise 400 if arrays/objects nest deeper than `max_depth`, scanning bytes, no recursion.

    A document cannot nest deeper than it has opening brackets, so most bodies pass the
    first (C-speed) test and are never scanned."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return
    depth = 0
    for match in _DEPTH_TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise OutcomeError(
                    Outcome.BAD_REQUEST,
                    IssueType.TOO_COSTLY,
                    f"JSON nests deeper than {max_depth} levels (at character {match.start()}); "
                    "refused before parsing",
                )
        elif token in (b"]", b"}"):
            depth -= 1


def _media_type(content_type: str | None) -> tuple[str | None, str | None]:
    """(media type, charset), both lower-case; (None, None) when the header is absent."""
    if content_type is None or not content_type.strip():
        return None, None
    media, *params = (p.strip() for p in content_type.split(";"))
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.lower(), charset


def _parse_form(raw: bytes) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OutcomeError.invalid(f"the form body is not valid UTF-8 at byte {exc.start}") from None
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise OutcomeError.invalid(f"the form body cannot be decoded: {exc}") from None


def _unsupported(diagnostics: str) -> OutcomeError:
    return OutcomeError(Outcome.UNSUPPORTED_MEDIA_TYPE, IssueType.NOT_SUPPORTED, diagnostics)
