"""The inputs of a Bulk Data `$import`: what the Parameters ask for, and where the bytes come from.

The kick-off body is a Parameters resource in the style of the Bulk Data import proposal
(https://hl7.org/fhir/uv/bulkdata/, "Bulk Submit"/`$import`): `inputFormat`
(`application/fhir+ndjson`), and one `input` part per file with `type` (the resource type the
file holds, optional) and `url`.  A URL is

* a local path, `file:///...` or plain `/...`: allowed only inside one of the configured
  `import_allowed_dirs` (resolved after symlinks), so a client cannot make the server read
  arbitrary files; no allowed folders configured means no local inputs at all;
* an `http(s)://` URL: streamed to a file in the job's folder before anything loads, so an
  unreachable URL fails the job before a single resource is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from yilian.fhir.definitions.structures import structures
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.ingest.records import file_format

__all__ = ["INPUT_FORMATS", "ImportInput", "fetch", "local_path", "parse_import"]

INPUT_FORMATS = frozenset(
    {"application/fhir+ndjson", "application/ndjson", "ndjson", "application/fhir+json"}
)


@dataclass(frozen=True, slots=True)
class ImportInput:
    """One file to import: its URL as given and the resource type it declares (or None)."""

    url: str
    type: str | None = None

    @property
    def remote(self) -> bool:
        return self.url.lower().startswith(("http://", "https://"))

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, **({"type": self.type} if self.type else {})}


def _value(part: dict[str, Any]) -> Any:
    for key, value in part.items():
        if key.startswith("value"):
            return value
    return None


def parse_import(body: Any) -> list[ImportInput]:
    """The inputs of a `$import` Parameters body, or a 400 saying what is wrong."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise OutcomeError.invalid("$import needs a Parameters resource in the body", ["Parameters"])
    inputs: list[ImportInput] = []
    for index, param in enumerate(body.get("parameter") or []):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(param, dict):
            raise OutcomeError.invalid("a parameter must be an object", [where])
        name = param.get("name")
        if name == "inputFormat":
            fmt = _value(param)
            if fmt not in INPUT_FORMATS:
                raise OutcomeError.invalid(
                    f"inputFormat {fmt!r} is not supported (use application/fhir+ndjson)", [where]
                )
        elif name == "input":
            inputs.append(_input(param, where))
    if not inputs:
        raise OutcomeError.invalid("$import needs at least one 'input' parameter with a url", ["Parameters"])
    return inputs


def _input(param: dict[str, Any], where: str) -> ImportInput:
    parts = {p.get("name"): _value(p) for p in param.get("part") or [] if isinstance(p, dict)}
    url = parts.get("url")
    if not isinstance(url, str) or not url:
        raise OutcomeError.invalid("an input needs a 'url' part", [f"{where}.part"])
    rtype = parts.get("type")
    if rtype is not None and (not isinstance(rtype, str) or not structures().is_resource_type(rtype)):
        raise OutcomeError.invalid(f"input type {rtype!r} is not a resource type", [f"{where}.part"])
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("", "file", "http", "https"):
        raise OutcomeError.invalid(
            f"input url {url!r}: only file, http and https URLs are supported", [where]
        )
    return ImportInput(url, rtype)


def local_path(url: str, allowed: Sequence[str | Path]) -> Path:
    """The file a `file://` URL or plain path names, if it lies inside an allowed folder and
    exists; otherwise a 403 (outside) or 400 (missing) that says so."""
    path = Path(unquote(urlsplit(url).path)) if url.lower().startswith("file:") else Path(url)
    if not path.is_absolute():
        raise OutcomeError.invalid(f"input {url!r}: a local input must be an absolute path")
    real = path.resolve()
    roots = [Path(a).resolve() for a in allowed]
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise OutcomeError(
            Outcome.FORBIDDEN,
            IssueType.FORBIDDEN,
            f"input {url!r} is outside the folders this server imports from"
            + (" (none are configured: set import_allowed_dirs)" if not roots else ""),
        )
    if not real.is_file():
        raise OutcomeError.invalid(f"input {url!r} is not a file this server can read")
    return real


async def fetch(url: str, directory: Path, name: str, *, timeout: float = 30.0) -> Path:
    """Stream `url` into `directory/name` (keeping the URL's .ndjson/.json/.gz suffix), or
    raise an OutcomeError naming the URL and why it could not be fetched."""
    suffix = next(
        (
            s
            for s in (".ndjson.gz", ".jsonl.gz", ".json.gz", ".ndjson", ".jsonl", ".json")
            if urlsplit(url).path.endswith(s)
        ),
        ".ndjson",
    )
    target = directory / f"{name}{suffix}"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise OutcomeError(
                    Outcome.BAD_REQUEST,
                    IssueType.NOT_FOUND,
                    f"input {url} cannot be fetched: the server answered {response.status_code}",
                )
            chunks = response.aiter_raw() if suffix.endswith(".gz") else response.aiter_bytes()
            with target.open("wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise OutcomeError(
            Outcome.BAD_REQUEST,
            IssueType.EXCEPTION,
            f"input {url} cannot be fetched: {exc or type(exc).__name__}",
        ) from None
    assert file_format(target.name) is not None
    return target
