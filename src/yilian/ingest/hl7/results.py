"""ORU^R01 -> DiagnosticReport, Observation and ServiceRequest
(http://build.fhir.org/ig/HL7/v2-to-fhir/ConceptMap-segment-obx-to-observation.html,
ConceptMap-segment-obr-to-diagnosticreport.html).

Each order group is one DiagnosticReport keyed by the filler number (the lab's accession,
ORC-3/OBR-3) under `filler_system`, each of its OBX one Observation keyed
`{filler}-{OBX-1}` under `result_system` (the OBX's position when OBX-1 is empty or repeats).
A lab that reports against the placer's number only (ORC-2/OBR-2, no accession of its own)
gets the report keyed by that number under `order_system` and the Observations
`order/{placer}-{OBX-1}`, so the two kinds of number never meet; a group with neither is
refused, since a corrected result could not find what it corrects.  Several OBR under one
number (one accession for several panels) are told apart by `/{OBR-1}`, never merged.
The lab owns its results, so both are conditional updates (a corrected result, OBX-11 C,
replaces the final one); the order, the patient and the visit are only created when yilian
does not know them yet.
"""

from __future__ import annotations

import re
from typing import Any

from yilian.alliance.identifiers import result_system
from yilian.ingest.hl7.builder import TransactionBuilder
from yilian.ingest.hl7.context import MappingContext
from yilian.ingest.hl7.datatypes import CODE_SYSTEMS, codeable_concept, number, to_datetime, to_instant
from yilian.ingest.hl7.errors import DATA_TYPE_ERROR, REQUIRED_FIELD_MISSING, SEGMENT_SEQUENCE_ERROR, Hl7Error
from yilian.ingest.hl7.fields import Seg
from yilian.ingest.hl7.message import Hl7Message
from yilian.ingest.hl7.orders import (
    OrderGroup,
    context_entries,
    notes,
    order_groups,
    order_keys,
    service_request,
)

__all__ = ["map_results", "observation"]

_OBSERVATION_STATUS = {  # OBX-11, table 0085
    "F": "final",
    "C": "corrected",
    "A": "amended",
    "P": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "I": "registered",
    "O": "registered",
    "X": "cancelled",
    "N": "cancelled",
    "D": "entered-in-error",
    "W": "entered-in-error",
    "U": "final",
}
_REPORT_STATUS = {  # OBR-25, table 0123
    "O": "registered",
    "I": "registered",
    "S": "partial",
    "A": "partial",
    "R": "partial",
    "P": "preliminary",
    "C": "corrected",
    "F": "final",
    "X": "cancelled",
}
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_V3_INTERPRETATIONS = frozenset(
    {
        "H",
        "L",
        "N",
        "A",
        "HH",
        "LL",
        "AA",
        "HU",
        "LU",
        "<",
        ">",
        "S",
        "R",
        "I",
        "NEG",
        "POS",
        "IND",
        "W",
        "B",
        "U",
        "D",
    }
)
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-|–|~|to)\s*(-?\d+(?:\.\d+)?)\s*$")
_BOUND = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*(-?\d+(?:\.\d+)?)\s*$")
_COMPARATORS = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "≤": "<=", "≥": ">="}


def _unit(obx: Seg) -> dict[str, Any]:
    """OBX-6 as the unit part of a Quantity: UCUM when the sender says so."""
    code, text, system = obx.get(6, 1), obx.get(6, 2), obx.get(6, 3).upper()
    if not code and not text:
        return {}
    out: dict[str, Any] = {"unit": text or code}
    if code and system in ("UCUM", "ISO+", "ANS+"):
        out["system"] = CODE_SYSTEMS["UCUM"]
        out["code"] = code
    return out


def _quantity(value: int | float, obx: Seg, comparator: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    if comparator:
        out["comparator"] = comparator
    out.update(_unit(obx))
    return out


def _value(obx: Seg, ctx: MappingContext) -> dict[str, Any]:
    """Observation.value[x] from OBX-2 (value type) and OBX-5."""
    kind = obx.get(2).upper()
    reps = obx.reps(5)
    if not reps:
        return {}
    first = reps[0]
    raw = first.get(1)
    if kind == "NM":
        value = number(raw)
        if value is None:
            raise Hl7Error.content(
                DATA_TYPE_ERROR, f"OBX-5 {raw!r} is not a number, though OBX-2 says NM", obx.where(5)
            )
        return {"valueQuantity": _quantity(value, obx)}
    if kind in ("ST", "TX", "FT"):
        text = "\n".join("^".join(c[0] if c else "" for c in r.components).rstrip("^") for r in reps)
        return {"valueString": text} if text else {}
    if kind in ("CWE", "CE", "CNE", "CF"):
        concept = codeable_concept(first)
        return {"valueCodeableConcept": concept} if concept else {}
    if kind == "SN":
        return _structured_numeric(first, obx)
    if kind in ("DT", "TS", "DTM"):
        when = to_datetime(raw, ctx, obx.where(5))
        return {"valueDateTime": when} if when else {}
    if kind == "TM":
        match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?", raw)
        if match:
            return {"valueTime": f"{match[1]}:{match[2] or '00'}:{match[3] or '00'}"}
        return {}
    if kind == "RP":
        return {"valueString": raw} if raw else {}
    if kind in ("ED",):
        ctx.warn(obx.where(5), "an encapsulated-data (ED) result has no Observation value in R4; left out")
        return {}
    return {"valueString": raw} if raw else {}


def _structured_numeric(rep: Any, obx: Seg) -> dict[str, Any]:
    """SN: `comparator^num1^separator^num2` as a Quantity, Range or Ratio."""
    comparator, first, separator, second = rep.get(1), rep.get(2), rep.get(3), rep.get(4)
    a, b = number(first), number(second)
    if a is not None and not separator:
        return {"valueQuantity": _quantity(a, obx, _COMPARATORS.get(comparator))}
    if a is not None and b is not None and separator == "-":
        return {"valueRange": {"low": _quantity(a, obx), "high": _quantity(b, obx)}}
    if a is not None and b is not None and separator in (":", "/"):
        return {"valueRatio": {"numerator": {"value": a}, "denominator": {"value": b}}}
    text = "".join((comparator, first, separator, second))
    return {"valueString": text} if text else {}


def _reference_range(obx: Seg) -> list[dict[str, Any]]:
    text = obx.get(7)
    if not text:
        return []
    unit = _unit(obx)
    match = _RANGE.fullmatch(text)
    if match:
        low, high = number(match[1]), number(match[2])
        return [{"low": {"value": low, **unit}, "high": {"value": high, **unit}}]
    bound = _BOUND.fullmatch(text)
    if bound:
        side = "low" if bound[1] in (">", ">=", "≥") else "high"
        return [{side: {"value": number(bound[2]), **unit}}]
    return [{"text": text}]


def _interpretation(obx: Seg) -> list[dict[str, Any]]:
    out = []
    for rep in obx.reps(8):
        code = rep.get(1)
        if not code:
            continue
        system = (
            _INTERPRETATION
            if code.upper() in _V3_INTERPRETATIONS
            else ("http://terminology.hl7.org/CodeSystem/v2-0078")
        )
        out.append(
            {"coding": [{"system": system, "code": code.upper() if system == _INTERPRETATION else code}]}
        )
    return out


def observation(
    obx: Seg,
    comments: list[Seg],
    key: dict[str, Any],
    group: OrderGroup,
    ctx: MappingContext,
    patient_url: str,
    encounter_url: str | None,
) -> dict[str, Any]:
    """The Observation of one OBX in `group`."""
    code = codeable_concept(obx.rep(3))
    if code is None:
        raise Hl7Error.content(REQUIRED_FIELD_MISSING, "OBX-3, what was observed, is missing", obx.where(3))
    status_code = obx.get(11).upper()
    status = _OBSERVATION_STATUS.get(status_code)
    if status is None:
        ctx.warn(obx.where(11), f"result status {status_code!r} is not in table 0085; mapped as unknown")
        status = "unknown"
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [key],
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": code,
        "subject": {"reference": patient_url},
    }
    if encounter_url:
        resource["encounter"] = {"reference": encounter_url}
    when = to_datetime(obx.get(14), ctx, obx.where(14))
    if when is None and group.obr is not None:
        when = to_datetime(group.obr.get(7), ctx, group.obr.where(7))
    if when:
        resource["effectiveDateTime"] = when
    resource.update(_value(obx, ctx))
    interpretation = _interpretation(obx)
    if interpretation:
        resource["interpretation"] = interpretation
    annotations = notes(comments)
    if annotations:
        resource["note"] = annotations
    ranges = _reference_range(obx)
    if ranges:
        resource["referenceRange"] = ranges
    return resource


def _report(
    group: OrderGroup,
    key: dict[str, Any],
    ctx: MappingContext,
    patient_url: str,
    encounter_url: str | None,
    order_url: str,
    result_urls: list[str],
) -> dict[str, Any]:
    assert group.obr is not None
    obr = group.obr
    code = codeable_concept(obr.rep(4))
    if code is None:
        raise Hl7Error.content(REQUIRED_FIELD_MISSING, "OBR-4, what was examined, is missing", obr.where(4))
    status_code = obr.get(25).upper()
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": [key],
        "basedOn": [{"reference": order_url}],
        "status": _REPORT_STATUS.get(status_code, "unknown"),
    }
    section = obr.get(24)
    if section:
        resource["category"] = [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": section}]}
        ]
    resource["code"] = code
    resource["subject"] = {"reference": patient_url}
    if encounter_url:
        resource["encounter"] = {"reference": encounter_url}
    effective = to_datetime(obr.get(7), ctx, obr.where(7))
    if effective:
        resource["effectiveDateTime"] = effective
    issued = to_instant(obr.get(22), ctx, obr.where(22))
    if issued:
        resource["issued"] = issued
    if result_urls:
        resource["result"] = [{"reference": url} for url in result_urls]
    return resource


def _report_key(group: OrderGroup, ctx: MappingContext) -> tuple[dict[str, Any], str]:
    """The DiagnosticReport key of an order group (filler, else placer) and the prefix of
    its Observations' keys; Hl7Error AE 101 when the group has neither number."""
    placer, filler = order_keys(group, ctx)
    if filler is not None:
        return filler, filler["value"]
    if placer is not None:
        return placer, f"order/{placer['value']}"
    raise Hl7Error.content(
        REQUIRED_FIELD_MISSING,
        "the report has neither a filler order number (ORC-3/OBR-3, the lab's accession "
        "number) nor a placer order number (ORC-2/OBR-2)",
        group.where(3, 3),
    )


def map_results(message: Hl7Message, ctx: MappingContext, out: TransactionBuilder) -> None:
    """ORU^R01: per order group a ServiceRequest (if new), a DiagnosticReport and its
    Observations."""
    patient_url, encounter_url = context_entries(message, ctx, out)
    groups = [g for g in order_groups(message, ctx) if g.obr is not None]
    if not groups:
        raise Hl7Error.content(SEGMENT_SEQUENCE_ERROR, "ORU^R01 needs an OBR segment (the report)", "OBR")
    keys = [_report_key(group, ctx) for group in groups]
    numbered = [(key["system"], key["value"]) for key, _ in keys]
    set_ids = [group.obr.get(1) if group.obr is not None else "" for group in groups]
    for index, (group, (report_key, base)) in enumerate(zip(groups, keys, strict=True), 1):
        if numbered.count((report_key["system"], report_key["value"])) > 1:
            # several OBR under one order number (a lab's one accession for several panels):
            # each report is told apart by its OBR-1, else its place, never merged into one
            set_id = set_ids[index - 1]
            suffix = f"/{set_id if set_id and set_ids.count(set_id) == 1 else index}"
            report_key = {**report_key, "value": report_key["value"] + suffix}
            base += suffix
        order, order_key = service_request(group, ctx, patient_url, encounter_url, default_status="completed")
        order_url = out.create(order, order_key)
        numbers = [obx.get(1) for obx, _ in group.observations]
        result_urls = []
        for position, (obx, comments) in enumerate(group.observations, 1):
            number_ = obx.get(1)
            n = number_ if number_ and numbers.count(number_) == 1 else str(position)
            key = {"system": result_system(ctx.institution), "value": f"{base}-{n}"}
            resource = observation(obx, comments, key, group, ctx, patient_url, encounter_url)
            resource["basedOn"] = [{"reference": order_url}]
            result_urls.append(out.put(resource, key))
        report = _report(group, report_key, ctx, patient_url, encounter_url, order_url, result_urls)
        out.put(report, report_key)
