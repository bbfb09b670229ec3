"""FHIR PATCH with JSON Patch (RFC 6902), http://hl7.org/fhir/R4/http.html#patch.

The router reads the current version, applies the client's operations here and stores the
result as a new version.  JSON Patch itself comes from the pinned `jsonpatch` library; this
module only checks the document's shape, turns the library's failures into `OutcomeError`s
that name the failing operation (`Parameters`-style FHIRPath Patch is not supported), and
refuses patches that would change what identifies the resource (`id`, `resourceType`): a
PATCH updates one resource in place, it cannot rename or retype it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import jsonpatch
import jsonpointer

from yilian.fhir.outcome import IssueType, Outcome, OutcomeError

__all__ = ["JSON_PATCH_CONTENT_TYPE", "apply_patch"]

JSON_PATCH_CONTENT_TYPE = "application/json-patch+json"

_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
_PROTECTED = ("id", "resourceType")


def _check_document(operations: Any) -> list[dict[str, Any]]:
    """The patch as a list of operation objects, or a 400 naming the first malformed one."""
    if not isinstance(operations, list):
        raise OutcomeError.invalid("a JSON Patch body must be a JSON array of operations", ["Patch"])
    checked: list[dict[str, Any]] = []
    for index, op in enumerate(operations):
        where = [f"Patch[{index}]"]
        if not isinstance(op, dict):
            raise OutcomeError.invalid(f"JSON Patch operation {index} is not an object", where)
        name = op.get("op")
        if name not in _OPS:
            raise OutcomeError.invalid(
                f"JSON Patch operation {index} has op {name!r}; expected one of {', '.join(sorted(_OPS))}",
                where,
            )
        if not isinstance(op.get("path"), str):
            raise OutcomeError.invalid(f"JSON Patch operation {index} ({name}) needs a string 'path'", where)
        if name in ("add", "replace", "test") and "value" not in op:
            raise OutcomeError.invalid(f"JSON Patch operation {index} ({name}) needs a 'value'", where)
        if name in ("move", "copy") and not isinstance(op.get("from"), str):
            raise OutcomeError.invalid(f"JSON Patch operation {index} ({name}) needs a string 'from'", where)
        checked.append(op)
    return checked


def apply_patch(resource: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply JSON Patch `operations` to a copy of `resource` and return the patched copy.

    Raises OutcomeError: 400 for a malformed patch document, a path that does not exist or a
    change to `id`/`resourceType`; 422 when a `test` operation fails (the patch is well formed
    but does not apply to this version, http://hl7.org/fhir/R4/http.html#patch)."""
    ops = _check_document(operations)
    try:
        patched = jsonpatch.JsonPatch(ops).apply(copy.deepcopy(resource), in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise OutcomeError(
            Outcome.UNPROCESSABLE, IssueType.PROCESSING, f"JSON Patch test failed: {exc}", ["Patch"]
        ) from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise OutcomeError.invalid(f"JSON Patch could not be applied: {exc}", ["Patch"]) from exc
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        # The library raises plain errors for some malformed pointers (e.g. "/a/-x" on a list).
        raise OutcomeError.invalid(f"JSON Patch could not be applied: {exc}", ["Patch"]) from exc
    if not isinstance(patched, dict):
        raise OutcomeError.invalid("JSON Patch replaced the whole resource with a non-object", ["Patch"])
    _refuse_identity_changes(resource, patched)
    return patched


def _refuse_identity_changes(before: dict[str, Any], after: dict[str, Any]) -> None:
    changed: Sequence[str] = [key for key in _PROTECTED if before.get(key) != after.get(key)]
    if changed:
        raise OutcomeError.invalid(
            f"JSON Patch may not change {' or '.join(changed)} (PATCH updates a resource in place)",
            [f"{before.get('resourceType', 'Resource')}.{changed[0]}"],
        )
