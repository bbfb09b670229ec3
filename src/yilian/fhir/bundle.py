"""Planning batch and transaction Bundles, http://hl7.org/fhir/R4/http.html#transaction.

Pure functions, no I/O: the router's `batch` and `transaction` modules execute what is
planned here.  This module

* checks a Bundle's shape and turns each entry into a `BundleEntry` (400 naming
  `Bundle.entry[i]...` when an entry is malformed);
* orders transaction entries as the spec requires (DELETE, then POST, then PUT/PATCH, then
  GET/HEAD; http://hl7.org/fhir/R4/http.html#trules), keeping Bundle order within a method;
* gives every POST entry an id before anything is written, so `urn:uuid:` fullUrls can be
  mapped to `Type/id` and references between entries resolved in one pass, cycles included;
* finds conditional references (`Patient?identifier=x|y`) for the router to resolve, and
  rewrites every reference of a resource (extensions, contained resources and the narrative
  included) through the resulting map.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import orjson

from yilian.fhir import jsontext
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError

__all__ = [
    "METHODS",
    "BundleEntry",
    "BundlePlan",
    "ReferenceMap",
    "assign_ids",
    "conditional_references",
    "encode",
    "entry_error",
    "is_conditional_reference",
    "local_references",
    "parse_bundle",
    "rewrite_references",
    "split_url",
    "transaction_order",
]

METHODS = ("DELETE", "POST", "PUT", "PATCH", "GET", "HEAD")
# A urn: link in narrative XHTML, quoted: <a href="urn:uuid:...">
_HREF_URN = re.compile(r"""(["'])(urn:[^"'\s<>]+)\1""")
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass(frozen=True, slots=True)
class BundleEntry:
    """One request of a batch/transaction: its position in the Bundle, method, url (relative
    to the base, query included), resource (for POST/PUT) or patch (for PATCH), and the
    conditional headers the entry carries in `request`."""

    index: int
    method: str
    url: str
    full_url: str | None = None
    resource: dict[str, Any] | None = None
    patch: Any = None
    if_match: str | None = None
    if_none_exist: str | None = None
    if_none_match: str | None = None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


@dataclass(frozen=True, slots=True)
class BundlePlan:
    type: Literal["batch", "transaction"]
    entries: tuple[BundleEntry, ...]


def _bad(diagnostics: str, expression: str) -> OutcomeError:
    return OutcomeError.invalid(diagnostics, [expression])


def _optional_str(request: Mapping[str, Any], key: str, where: str) -> str | None:
    value = request.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _bad(f"{where}.request.{key} must be a string", f"{where}.request.{key}")


def _patch_body(resource: Any, where: str) -> Any:
    """A PATCH entry's JSON Patch: a Binary whose data is the base64 JSON Patch document (the
    form R4 uses inside Bundles), or a bare JSON array as a convenience."""
    if isinstance(resource, list):
        return resource
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise _bad(
            f"{where}: a PATCH entry needs a Binary resource holding a JSON Patch document "
            "(FHIRPath Patch in Parameters is not supported)",
            f"{where}.resource",
        )
    try:
        return jsontext.loads(base64.b64decode(str(resource.get("data", "")), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise _bad(f"{where}: Binary.data is not base64 JSON: {exc}", f"{where}.resource.data") from exc


def _entry(index: int, raw: Any) -> BundleEntry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise _bad(f"{where} is not an object", where)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise _bad(f"{where}.request is missing; every batch/transaction entry needs one", f"{where}.request")
    method = request.get("method")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise _bad(
            f"{where}.request.method must be one of {', '.join(METHODS)}, not {method!r}",
            f"{where}.request.method",
        )
    method = method.upper()
    url = request.get("url")
    if not isinstance(url, str) or not url.strip():
        raise _bad(f"{where}.request.url is missing", f"{where}.request.url")
    full_url = raw.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        raise _bad(f"{where}.fullUrl must be a string", f"{where}.fullUrl")
    resource = raw.get("resource")
    patch: Any = None
    if method in ("POST", "PUT"):
        if not isinstance(resource, dict):
            raise _bad(f"{where}: a {method} entry needs a resource", f"{where}.resource")
    elif method == "PATCH":
        patch = _patch_body(resource, where)
        resource = None
    else:
        resource = None
    return BundleEntry(
        index=index,
        method=method,
        url=url.strip(),
        full_url=full_url,
        resource=resource,
        patch=patch,
        if_match=_optional_str(request, "ifMatch", where),
        if_none_exist=_optional_str(request, "ifNoneExist", where),
        if_none_match=_optional_str(request, "ifNoneMatch", where),
    )


def parse_bundle(body: Any, *, max_entries: int) -> BundlePlan:
    """Check that `body` is a batch or transaction Bundle and read its entries.

    Raises OutcomeError 400 naming the offending element, or payload-too-large when the Bundle
    has more than `max_entries` entries."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise _bad("POST to the base expects a Bundle of type batch or transaction", "Bundle")
    kind = body.get("type")
    if kind not in ("batch", "transaction"):
        raise _bad(f"Bundle.type must be batch or transaction to be processed, not {kind!r}", "Bundle.type")
    raw_entries = body.get("entry", [])
    if not isinstance(raw_entries, list):
        raise _bad("Bundle.entry must be an array", "Bundle.entry")
    if len(raw_entries) > max_entries:
        raise OutcomeError(
            Outcome.PAYLOAD_TOO_LARGE,
            IssueType.TOO_COSTLY,
            f"the Bundle has {len(raw_entries)} entries; this server accepts at most {max_entries}",
            ["Bundle.entry"],
        )
    entries = tuple(_entry(i, raw) for i, raw in enumerate(raw_entries))
    if kind == "transaction":
        seen: dict[str, int] = {}
        for e in entries:
            if e.full_url and e.method in ("POST", "PUT"):
                if e.full_url in seen:
                    raise _bad(
                        f"{e.where}.fullUrl {e.full_url!r} repeats Bundle.entry[{seen[e.full_url]}].fullUrl",
                        f"{e.where}.fullUrl",
                    )
                seen[e.full_url] = e.index
    return BundlePlan(kind, entries)


def transaction_order(entries: Sequence[BundleEntry]) -> list[BundleEntry]:
    """Entries in processing order: DELETE, POST, PUT/PATCH, GET/HEAD, Bundle order within each."""
    return sorted(entries, key=lambda e: (_ORDER[e.method], e.index))


def split_url(url: str, base_url: str = "") -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    """An entry's `request.url` as router path segments and query pairs.

    Absolute URLs are accepted when they start with this server's base."""
    if "://" in url:
        if base_url and url.startswith(base_url.rstrip("/") + "/"):
            url = url[len(base_url.rstrip("/")) + 1 :]
        else:
            raise OutcomeError.invalid(f"request.url {url!r} is not on this server's base {base_url!r}")
    parts = urlsplit(url)
    path = tuple(seg for seg in parts.path.split("/") if seg)
    return path, parse_qsl(parts.query, keep_blank_values=True)


def assign_ids(entries: Sequence[BundleEntry], new_id: Callable[[], str]) -> dict[int, str]:
    """An id for every POST entry (by entry index), chosen before anything is written."""
    return {e.index: new_id() for e in entries if e.method == "POST"}


def is_conditional_reference(reference: str) -> bool:
    """True for `Type?query` references, which a transaction resolves to `Type/id`
    (http://hl7.org/fhir/R4/http.html#trules)."""
    head, sep, _ = reference.partition("?")
    return bool(sep) and "/" not in head and ":" not in head and head[:1].isupper()


def _walk(node: Any) -> Iterator[tuple[Any, Any, Any]]:
    """Every (container, key, value) below `node`, object members and array items alike (an
    item's key is its index); iterative, so deep nesting cannot overflow."""
    stack = [node]
    while stack:
        current = stack.pop()
        pairs = current.items() if isinstance(current, dict) else enumerate(current)
        for key, value in pairs:
            yield current, key, value
            if isinstance(value, dict | list):
                stack.append(value)


def _copy(node: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of JSON data, iterative like `_walk` (copy.deepcopy recurses)."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(node, root)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in pairs:
            child: Any = value
            if isinstance(value, dict):
                child = {}
                stack.append((value, child))
            elif isinstance(value, list):
                child = []
                stack.append((value, child))
            if isinstance(target, dict):
                target[key] = child
            else:
                target.append(child)
    return root


# --------------------------------------------------------------------------- the fast path
#
# Each function below reads the resource's compact JSON (orjson.dumps, a few microseconds)
# instead of walking the tree in Python: a resource without `urn:` or `?` in its text needs no
# walk at all, and a rewrite is a regular-expression pass over the text and one orjson.loads
# (which is also the copy).  The patterns rely only on JSON's grammar: outside strings orjson
# writes no whitespace, and inside a string every `"` is escaped as `\"`.  So a `"` preceded by
# `:` `,` `[` or `{` opens a string (inside one it would be preceded by `\`), a `"` after
# content without `\` closes it, and a closing `"` followed by `:` ends a key.  Each pattern
# starts with its literal (which `re` scans for quickly); the byte before a match is then
# checked in Python, and a match that fails the check lies inside one string, so it hides no
# real match.  Strings with escapes never equal a reference map key (a map whose keys would
# need escaping goes the slow way), and the dangling and conditional checks below see them
# too, so the fast path gives what the tree walks (`_walk`) give; tests compare the two over
# every Synthea resource and hand-made edge cases.

# A string value (of an object member or array item) starting with urn:, without escapes.
_URN_VALUE = rb'"(urn:[^"\\]*)"(?=[,}\]])'
# A `reference` member's string value, without escapes.
_REFERENCE_VALUE = rb'"reference":"([^"\\]*)"'
# A `div` member's string value, escapes and all.
_DIV_VALUE = rb'"div":"([^"\\]*(?:\\.[^"\\]*)*)"'
_URNS = re.compile(_URN_VALUE)
_DIVS = re.compile(_DIV_VALUE)
_ANY = re.compile(rb'"(?:' + b"|".join(v[1:] for v in (_URN_VALUE, _REFERENCE_VALUE, _DIV_VALUE)) + rb")")
_REFERENCES = re.compile(rb'"reference":"([^"\\]*(?:\\.[^"\\]*)*)"')
_OPENS_VALUE = frozenset(b":,[")  # the byte before a value's opening quote
_OPENS_MEMBER = frozenset(b"{,")  # the byte before a key's opening quote
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_LOCAL = (b'"reference":"urn:uuid:', b'"reference":"urn:oid:')


def encode(resource: Mapping[str, Any]) -> bytes | None:
    """`resource` as compact JSON for the fast path, or None when orjson cannot write it
    (an integer beyond 64 bits, a non-string key): the tree walks handle those."""
    try:
        return jsontext.dumps(resource)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None


def _string(content: bytes) -> str:
    """A JSON string's content (between its quotes) as the str it denotes."""
    if b"\\" in content:
        decoded: str = orjson.loads(b'"' + content + b'"')
        return decoded
    return content.decode()


def conditional_references(resource: Mapping[str, Any], raw: bytes | None = None) -> set[str]:
    """Every `Reference.reference` in `resource` written as a search (`Patient?identifier=...`).

    `raw` is `encode(resource)` when the caller has it already."""
    if raw is None:
        raw = encode(resource)
        if raw is None:
            return _conditional_references_walk(resource)
    if b"?" not in raw:
        return set()
    found = set()
    for match in _REFERENCES.finditer(raw):
        if b"?" in match[1] and raw[match.start() - 1] in _OPENS_MEMBER:
            value = _string(match[1])
            if is_conditional_reference(value):
                found.add(value)
    return found


def local_references(resource: Mapping[str, Any], raw: bytes | None = None) -> set[str]:
    """Every `urn:uuid:` / `urn:oid:` reference in `resource` (batch entries may not use them
    to point at each other)."""
    if raw is None:
        raw = encode(resource)
    if raw is not None and _LOCAL[0] not in raw and _LOCAL[1] not in raw:
        return set()
    return _local_references_walk(resource)


class ReferenceMap:
    """A transaction's reference map (fullUrl or conditional reference -> `Type/id`), ready to
    rewrite resource after resource."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)
        self._urns_only = all(key.startswith("urn:") for key in self.mapping)
        # The JSON text of a key is its UTF-8 bytes unless it needs escapes (then: the walk).
        self._fast = not any(_NEEDS_ESCAPE.search(key) for key in self.mapping)
        self._targets: dict[bytes, bytes] = {}
        try:
            self._targets = {key.encode(): orjson.dumps(value) for key, value in self.mapping.items()}
        except (UnicodeEncodeError, TypeError):  # a lone surrogate
            self._fast = False

    def rewrite(
        self, resource: Mapping[str, Any], raw: bytes | None = None
    ) -> tuple[dict[str, Any], set[str]]:
        """A copy of `resource` with every reference in the map replaced by its target (see
        `rewrite_references`), and the `urn:uuid:` / `urn:oid:` references left in it, which
        match no entry of the Bundle.  `raw` is `encode(resource)` when the caller has it."""
        if raw is None:
            raw = encode(resource)
        if raw is None or not self._fast:
            walked = _rewrite_walk(resource, self.mapping)
            return walked, _local_references_walk(walked)
        if not self._urns_only:
            raw = _ANY.sub(self._replace, raw)
        elif self.mapping and b"urn:" in raw:
            raw = _URNS.sub(self._replace_urn, raw)
            if b'"div":"' in raw:
                raw = _DIVS.sub(self._replace_div, raw)
        out: dict[str, Any] = jsontext.loads(raw)
        if _LOCAL[0] in raw or _LOCAL[1] in raw:
            return out, _local_references_walk(out)
        return out, set()

    def _replace(self, match: re.Match[bytes]) -> bytes:
        """The text of a match of `_ANY`, its reference rewritten."""
        if match[1] is not None:
            return self._replace_urn(match)
        reference = match[2]
        if reference is None:
            return self._replace_div(match, 3)
        target = self._targets.get(reference)
        if target is None or match.string[match.start() - 1] not in _OPENS_MEMBER:
            return match[0]
        return b'"reference":' + target

    def _replace_urn(self, match: re.Match[bytes]) -> bytes:
        """The text of a match of `_URNS` (or `_ANY`'s urn), the urn rewritten."""
        target = self._targets.get(match[1])
        if target is None or match.string[match.start() - 1] not in _OPENS_VALUE:
            return match[0]
        return target

    def _replace_div(self, match: re.Match[bytes], group: int = 1) -> bytes:
        """The text of a match of `_DIVS` (or `_ANY`'s div), its narrative's urn links
        rewritten as the walk rewrites them."""
        div = match[group]
        if b"urn:" not in div or match.string[match.start() - 1] not in _OPENS_MEMBER:
            return match[0]
        text = _string(div)
        if text.startswith("urn:"):  # the whole value: a plain string, as in the walk
            rewritten = self.mapping.get(text, text)
        else:
            rewritten = _HREF_URN.sub(lambda m: _quoted(m, self.mapping), text)
        return match[0] if rewritten == text else b'"div":' + orjson.dumps(rewritten)


def rewrite_references(resource: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """A copy of `resource` with every reference found in `mapping` replaced by its target.

    Replaced: `reference` values (anywhere: extensions and contained resources too), any other
    string that equals a mapped `urn:` fullUrl (uri and canonical elements, in arrays too), and
    `urn:` links inside the narrative XHTML (http://hl7.org/fhir/R4/bundle.html#references)."""
    return ReferenceMap(mapping).rewrite(resource)[0]


# --------------------------------------------------------------------------- the tree walks
# The slow path, and the definition the fast path is tested against.


def _conditional_references_walk(resource: Mapping[str, Any]) -> set[str]:
    return {
        value
        for _, key, value in _walk(resource)
        if key == "reference" and isinstance(value, str) and is_conditional_reference(value)
    }


def _local_references_walk(resource: Mapping[str, Any]) -> set[str]:
    return {
        value
        for _, key, value in _walk(resource)
        if key == "reference" and isinstance(value, str) and value.startswith(("urn:uuid:", "urn:oid:"))
    }


def _rewrite_walk(resource: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    out = _copy(dict(resource))
    if not mapping:
        return out
    for node, key, value in list(_walk(out)):
        if not isinstance(value, str):
            continue
        if key == "reference" or value.startswith("urn:"):
            target = mapping.get(value)
            if target is not None:
                node[key] = target
        elif key == "div" and "urn:" in value:
            node[key] = _HREF_URN.sub(lambda m: _quoted(m, mapping), value)
    return out


def _quoted(match: re.Match[str], mapping: Mapping[str, str]) -> str:
    quote, urn = match.group(1), match.group(2)
    return f"{quote}{mapping.get(urn, urn)}{quote}"


def entry_error(entry: BundleEntry, error: OutcomeError) -> OutcomeError:
    """`error` restated for a Bundle entry: the diagnostics name `Bundle.entry[i]` and each
    FHIRPath location is moved under that entry's resource."""
    prefix = f"{entry.where} ({entry.method} {entry.url})"
    issues = []
    for issue in error.issues:
        expression = tuple(_under_entry(entry, e) for e in issue.expression) or (entry.where,)
        issues.append(type(issue)(issue.code, f"{prefix}: {issue.diagnostics}", issue.severity, expression))
    if not issues:
        return OutcomeError(error.kind, IssueType.PROCESSING, f"{prefix}: {error}", [entry.where])
    return OutcomeError(error.kind, issues=issues)


def _under_entry(entry: BundleEntry, expression: str) -> str:
    if expression.startswith("Bundle.entry["):
        return expression
    rtype = entry.resource.get("resourceType") if entry.resource else None
    if isinstance(rtype, str) and (expression == rtype or expression.startswith(rtype + ".")):
        return f"{entry.where}.resource{expression[len(rtype) :]}"
    return f"{entry.where}.{expression}" if expression else entry.where
