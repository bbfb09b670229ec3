"""Independent answers for searches over the open Synthea sample.

This module reads the Synthea transaction Bundles as plain JSON and answers search questions
with straightforward Python, sharing no code with yilian's extractor, parser or SQL, so a test
can compare the server's answer against it.  Resources are identified by their bundle
`fullUrl` (`urn:uuid:...`); the test maps those to server ids from the transaction responses.
"""

from __future__ import annotations

import gzip
import json
import random
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Resource = dict[str, Any]


def fold(text: str) -> str:
    """Case- and accent-insensitive form, written independently of yilian's."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


def utc(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Corpus:
    """Every loaded resource by fullUrl, with the bundle (and so the institution) it came in."""

    bundles: list[Resource] = field(default_factory=list)
    by_url: dict[str, Resource] = field(default_factory=dict)
    bundle_of: dict[str, int] = field(default_factory=dict)

    def of_type(self, rtype: str) -> Iterator[tuple[str, Resource]]:
        for url, res in self.by_url.items():
            if res["resourceType"] == rtype:
                yield url, res

    def select(self, rtype: str, predicate: Callable[[Resource], bool]) -> set[str]:
        return {url for url, res in self.of_type(rtype) if predicate(res)}

    def ref(self, res: Resource, element: str) -> str | None:
        value = res.get(element)
        if isinstance(value, dict):
            reference = value.get("reference")
            return reference if isinstance(reference, str) else None
        return None


def supplementary_bundle(patient_urls: list[str], seed: int = 7) -> Resource:
    """RiskAssessments for the Synthea patients: Synthea has no number- or uri-typed search
    values, so these carry `prediction.probabilityDecimal` (number `probability`) and a
    `meta.profile` (uri `_profile`).  Probabilities avoid 0.4-0.6 so a `gt0.5` threshold is
    unambiguous under any reading of precision."""
    rng = random.Random(seed)
    entries = []
    for i, patient in enumerate(patient_urls):
        p = rng.choice([0.05, 0.12, 0.25, 0.33, 0.67, 0.71, 0.84, 0.93])
        entries.append(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
                "resource": {
                    "resourceType": "RiskAssessment",
                    "meta": {"profile": [f"http://yilian.example/fhir/StructureDefinition/risk-v{i % 3}"]},
                    "status": "final",
                    "subject": {"reference": patient},
                    "prediction": [{"probabilityDecimal": p}],
                },
                "request": {"method": "POST", "url": "RiskAssessment"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def load_corpus(folder: Path, limit: int | None = None) -> Corpus:
    corpus = Corpus()
    files = sorted(folder.glob("*.json.gz"))[:limit]
    for f in files:
        with gzip.open(f) as fh:
            corpus.bundles.append(json.load(fh))
    patients = [
        e["fullUrl"] for b in corpus.bundles for e in b["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    corpus.bundles.append(supplementary_bundle(patients))
    for i, bundle in enumerate(corpus.bundles):
        for entry in bundle["entry"]:
            corpus.by_url[entry["fullUrl"]] = entry["resource"]
            corpus.bundle_of[entry["fullUrl"]] = i
    return corpus


def name_parts(name: dict[str, Any]) -> list[str]:
    parts = [name.get("family", ""), name.get("text", "")]
    for key in ("given", "prefix", "suffix"):
        parts.extend(name.get(key, []))
    return [p for p in parts if p]


def codings(concept: Any) -> list[dict[str, Any]]:
    return list(concept.get("coding", [])) if isinstance(concept, dict) else []


def has_code(concept: Any, system: str | None, code: str) -> bool:
    return any(
        c.get("code") == code and (system is None or c.get("system") == system) for c in codings(concept)
    )


def quantity_gap_threshold(values: list[float]) -> float:
    """A one-decimal threshold near the median with no value within 0.06 of it, so `gt` and
    `lt` give the same answer whichever precision rule a server applies."""
    ordered = sorted(values)
    median = round(ordered[len(ordered) // 2], 1)
    for k in range(2000):
        for candidate in (round(median + k * 0.1, 1), round(median - k * 0.1, 1)):
            if all(abs(v - candidate) > 0.06 for v in ordered):
                return candidate
    raise AssertionError("no free threshold near the median")
