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

from yilian.fhir.outcome import IssueType, Outcome, OutcomeError

__all__ = [
    "METHODS",
    "BundleEntry",
    "BundlePlan",
    "assign_ids",
    "conditional_references",
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
        return orjson.loads(base64.b64decode(str(resource.get("data", "")), validate=True))
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


def _walk(node: Any) -> Iterator[tuple[dict[str, Any], str, Any]]:
    """Every (object, key, value) below `node`; iterative, so deep nesting cannot overflow."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                yield current, key, value
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(current, list):
            stack.extend(item for item in current if isinstance(item, dict | list))


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


def conditional_references(resource: Mapping[str, Any]) -> set[str]:
    """Every `Reference.reference` in `resource` written as a search (`Patient?identifier=...`)."""
    return {
        value
        for _, key, value in _walk(resource)
        if key == "reference" and isinstance(value, str) and is_conditional_reference(value)
    }


def local_references(resource: Mapping[str, Any]) -> set[str]:
    """Every `urn:uuid:` / `urn:oid:` reference in `resource` (batch entries may not use them
    to point at each other)."""
    return {
        value
        for _, key, value in _walk(resource)
        if key == "reference" and isinstance(value, str) and value.startswith(("urn:uuid:", "urn:oid:"))
    }


def rewrite_references(resource: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """A copy of `resource` with every reference found in `mapping` replaced by its target.

    Replaced: `reference` values (anywhere: extensions and contained resources too), any other
    string that equals a mapped `urn:` fullUrl (uri and canonical elements), and `urn:` links
    inside the narrative XHTML (http://hl7.org/fhir/R4/bundle.html#references)."""
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
