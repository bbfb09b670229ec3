"""A transaction Bundle under construction, idempotent by identifiers.

Every resource is keyed by one identifier and written the way the router settles in one
step (http://hl7.org/fhir/R4/http.html#trules): `put` is a conditional update
(`PUT Type?identifier=system|value`: the message owns the resource, a resend changes
nothing), `create` a conditional create (`POST` with `ifNoneExist`: the resource may exist
already and must not be overwritten, like an ORU's patient), `patch` a conditional JSON
Patch (`PATCH Type?identifier=...` with a Binary body) that changes a few elements and keeps
the rest.  Entries refer to each other by `urn:uuid:` fullUrls derived from their keys, so
the same message always gives the same Bundle.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import quote

import orjson

__all__ = ["TransactionBuilder", "search_token"]

_NAMESPACE = uuid.UUID("6f1c1c5e-3a4b-5d0e-9a61-9e1a4b7c2d10")


def search_token(system: str, value: str) -> str:
    """`system|value` for a query string: each part percent-encoded, `|` in either part
    escaped as FHIR search requires (http://hl7.org/fhir/R4/search.html#escaping)."""

    def part(text: str) -> str:
        return quote(text.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,"), safe=":/")

    return f"{part(system)}|{part(value)}"


class TransactionBuilder:
    """Collects entries; `bundle()` returns the transaction."""

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []
        self._by_key: dict[tuple[str, str, str], str] = {}

    @staticmethod
    def full_url(resource_type: str, system: str, value: str) -> str:
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{resource_type}|{system}|{value}')}"

    def _add(self, method: str, resource: dict[str, Any], key: dict[str, Any], **request: str) -> str:
        rtype = resource["resourceType"]
        system, value = key["system"], key["value"]
        known = self._by_key.get((rtype, system, value))
        if known is not None:
            return known
        url = self.full_url(rtype, system, value)
        self._by_key[(rtype, system, value)] = url
        query = f"identifier={search_token(system, value)}"
        if method == "PUT":
            req = {"method": "PUT", "url": f"{rtype}?{query}"}
        else:
            req = {"method": "POST", "url": rtype, "ifNoneExist": query}
        self._entries.append({"fullUrl": url, "resource": resource, "request": {**req, **request}})
        return url

    def put(self, resource: dict[str, Any], key: dict[str, Any]) -> str:
        """Write `resource` by conditional update on `key` (an Identifier); its fullUrl."""
        return self._add("PUT", resource, key)

    def create(self, resource: dict[str, Any], key: dict[str, Any]) -> str:
        """Create `resource` unless one with identifier `key` exists; its fullUrl (which
        then stands for the existing resource)."""
        return self._add("POST", resource, key)

    def patch(self, resource_type: str, key: dict[str, Any], operations: list[dict[str, Any]]) -> None:
        """Apply a JSON Patch to the one `resource_type` with identifier `key`."""
        data = base64.b64encode(orjson.dumps(operations)).decode()
        self._entries.append(
            {
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": data,
                },
                "request": {
                    "method": "PATCH",
                    "url": f"{resource_type}?identifier={search_token(key['system'], key['value'])}",
                },
            }
        )

    def resource_types(self) -> list[str]:
        """The types written, in order, each once (PATCH entries count as their target)."""
        seen: list[str] = []
        for entry in self._entries:
            rtype = entry["resource"]["resourceType"]
            if rtype == "Binary":
                rtype = entry["request"]["url"].split("?", 1)[0]
            if rtype not in seen:
                seen.append(rtype)
        return seen

    def bundle(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "transaction", "entry": list(self._entries)}
