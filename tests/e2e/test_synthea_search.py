"""The open Synthea sample, loaded through transaction Bundles over HTTP, searched on both
backends; every expected answer comes from `synthea_oracle`, computed from the JSON alone.

Half the patients' bundles go to institution `hospital-a`, half to `clinic-b`, and the
supplementary RiskAssessments to the alliance's default partition, so the same searches also
check that an institution's base sees only its own records and the alliance base sees all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tests.e2e.synthea_oracle import Corpus, fold, has_code, name_parts, quantity_gap_threshold, utc

pytestmark = [pytest.mark.shared_data]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
TAG = "https://smarthealthit.org/tags|synthea-5-2019"


class Loaded:
    """A running server holding the corpus, and the map from bundle fullUrl to server id."""

    def __init__(self, base: str, corpus: Corpus, ids: dict[str, str], stamps: dict[str, str]) -> None:
        self.base = base
        self.corpus = corpus
        self.ids = ids  # urn:uuid:... -> "Type/id"
        self.last_updated = stamps  # urn:uuid:... -> meta.lastUpdated the server reported
        self.client = httpx.Client(timeout=120)

    def __repr__(self) -> str:
        return f"Loaded({self.base}, {len(self.ids)} resources)"

    def expect(self, urls: set[str]) -> set[str]:
        return {self.ids[u] for u in urls}

    def search_all(self, query: str, base: str | None = None) -> tuple[list[str], list[str], int | None]:
        """Follow `next` links to the end: (match ids in order, included ids, first total)."""
        url: str | None = f"{base or self.base}/{query}"
        matches: list[str] = []
        included: list[str] = []
        total: int | None = None
        pages = 0
        while url:
            response = self.client.get(url)
            assert response.status_code == 200, (url, response.text[:500])
            bundle: dict[str, Any] = response.json()
            assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
            if pages == 0:
                total = bundle.get("total")
            for entry in bundle.get("entry", []):
                res = entry["resource"]
                key = f"{res['resourceType']}/{res['id']}"
                mode = entry.get("search", {}).get("mode")
                if mode == "match":
                    matches.append(key)
                elif mode == "include":
                    included.append(key)
            url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
            pages += 1
            assert pages < 2000, "paging does not terminate"
        return matches, included, total

    def matches(self, query: str, base: str | None = None) -> set[str]:
        found, _, total = self.search_all(query, base)
        assert len(found) == len(set(found)), f"duplicates across pages for {query}"
        if total is not None:
            assert total == len(found), f"total {total} != {len(found)} matches for {query}"
        return set(found)


@pytest.fixture(scope="module")
def loaded(synthea_server: Loaded) -> Iterator[Loaded]:
    yield synthea_server


# ---------------------------------------------------------------------------- each type


def test_string_name_prefix_and_accents(loaded: Loaded) -> None:
    c = loaded.corpus
    given = next(n["given"][0] for _, p in c.of_type("Patient") for n in p["name"] if n.get("given"))
    for value in ("koe", "adan", "Mr", given[:2].upper()):
        want = c.select(
            "Patient",
            lambda p, v=value: any(
                fold(part).startswith(fold(v)) for n in p.get("name", []) for part in name_parts(n)
            ),
        )
        assert want, value
        assert loaded.matches(f"Patient?name={quote(value)}&_count=50") == loaded.expect(want), value


def test_string_exact_and_contains(loaded: Loaded) -> None:
    c = loaded.corpus
    family = next(n["family"] for _, p in c.of_type("Patient") for n in p["name"])
    exact = c.select("Patient", lambda p: any(n.get("family") == family for n in p["name"]))
    assert loaded.matches(f"Patient?family:exact={quote(family)}") == loaded.expect(exact)
    assert loaded.matches(f"Patient?family:exact={quote(family.upper())}") == set()
    needle = "er"
    contains = c.select("Patient", lambda p: any(needle in fold(n.get("family", "")) for n in p["name"]))
    assert loaded.matches(f"Patient?family:contains={needle}&_count=100") == loaded.expect(contains)


def test_token_code_with_and_without_system(loaded: Loaded) -> None:
    c = loaded.corpus
    heights = c.select("Observation", lambda o: has_code(o.get("code"), LOINC, "8302-2"))
    assert len(heights) > 50
    assert loaded.matches(f"Observation?code={LOINC}|8302-2&_count=200") == loaded.expect(heights)
    sinusitis = c.select("Condition", lambda o: has_code(o.get("code"), None, "444814009"))
    assert loaded.matches("Condition?code=444814009&_count=200") == loaded.expect(sinusitis)
    assert loaded.matches(f"Condition?code={LOINC}|444814009") == set()


def test_token_not_missing_and_text(loaded: Loaded) -> None:
    c = loaded.corpus
    not_final = c.select("DiagnosticReport", lambda r: r.get("status") != "final")
    assert loaded.matches("DiagnosticReport?status:not=final&_count=200") == loaded.expect(not_final)
    no_value = c.select("Observation", lambda o: "valueQuantity" not in o)
    assert loaded.matches("Observation?value-quantity:missing=true&_count=500") == loaded.expect(no_value)
    hyper = c.select(
        "Condition",
        lambda o: any(
            fold(t).startswith("hypertension")
            for t in [o["code"].get("text", "")] + [x.get("display", "") for x in o["code"]["coding"]]
        ),
    )
    assert hyper
    assert loaded.matches("Condition?code:text=hypertension") == loaded.expect(hyper)


def test_date_ranges(loaded: Loaded) -> None:
    c = loaded.corpus
    born = c.select("Patient", lambda p: "1960-01-01" <= p["birthDate"] < "1980-01-01")
    got = loaded.matches("Patient?birthdate=ge1960-01-01&birthdate=lt1980-01-01&_count=100")
    assert got == loaded.expect(born)
    in_2015 = c.select(
        "Observation", lambda o: "effectiveDateTime" in o and utc(o["effectiveDateTime"]).year == 2015
    )
    assert in_2015
    assert loaded.matches("Observation?date=2015&_count=500") == loaded.expect(in_2015)


def test_reference_forms(loaded: Loaded) -> None:
    c = loaded.corpus
    patient_url = next(u for u, _ in c.of_type("Patient"))
    pid = loaded.ids[patient_url]
    own = c.select("Observation", lambda o: c.ref(o, "subject") == patient_url)
    assert own
    assert loaded.matches(f"Observation?subject={pid}&_count=500") == loaded.expect(own)
    assert loaded.matches(f"Observation?patient={pid.split('/')[1]}&_count=500") == loaded.expect(own)
    assert loaded.matches(f"Observation?subject:Patient={pid.split('/')[1]}&_count=500") == loaded.expect(own)


def test_quantity_and_composite(loaded: Loaded) -> None:
    c = loaded.corpus
    heights = [o for _, o in c.of_type("Observation") if has_code(o.get("code"), LOINC, "8302-2")]
    t = quantity_gap_threshold([o["valueQuantity"]["value"] for o in heights])
    tall = c.select(
        "Observation", lambda o: has_code(o.get("code"), LOINC, "8302-2") and o["valueQuantity"]["value"] > t
    )
    assert tall
    got = loaded.matches(
        f"Observation?code={LOINC}|8302-2&value-quantity=gt{t}|http://unitsofmeasure.org|cm&_count=500"
    )
    assert got == loaded.expect(tall)
    assert loaded.matches(
        f"Observation?code-value-quantity={LOINC}|8302-2$gt{t}&_count=500"
    ) == loaded.expect(tall)
    short = c.select(
        "Observation", lambda o: has_code(o.get("code"), LOINC, "8302-2") and o["valueQuantity"]["value"] < t
    )
    assert loaded.matches(
        f"Observation?code-value-quantity={LOINC}|8302-2$lt{t}&_count=500"
    ) == loaded.expect(short)


def test_number_and_uri(loaded: Loaded) -> None:
    c = loaded.corpus
    high = c.select("RiskAssessment", lambda r: r["prediction"][0]["probabilityDecimal"] > 0.5)
    assert high
    assert loaded.matches("RiskAssessment?probability=gt0.5&_count=100") == loaded.expect(high)
    low = c.select("RiskAssessment", lambda r: r["prediction"][0]["probabilityDecimal"] <= 0.5)
    assert loaded.matches("RiskAssessment?probability=le0.5&_count=100") == loaded.expect(low)
    profile = "http://yilian.example/fhir/StructureDefinition/risk-v1"
    with_profile = c.select("RiskAssessment", lambda r: profile in r["meta"]["profile"])
    assert loaded.matches(f"RiskAssessment?_profile={profile}&_count=100") == loaded.expect(with_profile)


def test_common_parameters(loaded: Loaded) -> None:
    c = loaded.corpus
    patients = {u for u, _ in c.of_type("Patient")}
    assert loaded.matches(f"Patient?_tag={TAG}&_count=100") == loaded.expect(patients)
    assert loaded.matches("Patient?_lastUpdated=gt2000-01-01&_count=100") == loaded.expect(patients)
    two = sorted(patients)[:2]
    ids = ",".join(loaded.ids[u].split("/")[1] for u in two)
    assert loaded.matches(f"Patient?_id={ids}") == loaded.expect(set(two))


# --------------------------------------------------------------------- chains, _has, includes


def test_chained_one_and_two_levels(loaded: Loaded) -> None:
    c = loaded.corpus
    old = c.select("Patient", lambda p: p["birthDate"] < "1950-01-01")
    obs_of_old = c.select(
        "Observation", lambda o: c.ref(o, "subject") in old and has_code(o["code"], LOINC, "8302-2")
    )
    got = loaded.matches(f"Observation?code={LOINC}|8302-2&subject:Patient.birthdate=lt1950-01-01&_count=500")
    assert got == loaded.expect(obs_of_old)
    koepp = c.select("Patient", lambda p: any(fold(n["family"]).startswith("koepp") for n in p["name"]))
    encounters = c.select("Encounter", lambda e: c.ref(e, "subject") in koepp)
    conds = c.select("Condition", lambda x: c.ref(x, "encounter") in encounters)
    assert conds
    assert loaded.matches("Condition?encounter.patient.name=koepp&_count=200") == loaded.expect(conds)


def test_reverse_chaining_has(loaded: Loaded) -> None:
    c = loaded.corpus
    with_htn = {
        c.ref(x, "subject") for _, x in c.of_type("Condition") if has_code(x["code"], SNOMED, "38341003")
    }
    assert with_htn
    got = loaded.matches(f"Patient?_has:Condition:patient:code={SNOMED}|38341003&_count=100")
    assert got == loaded.expect({u for u in with_htn if u})


def test_include_and_revinclude(loaded: Loaded) -> None:
    c = loaded.corpus
    conds = c.select("Condition", lambda x: has_code(x["code"], SNOMED, "38341003"))
    found, included, _ = loaded.search_all(
        f"Condition?code={SNOMED}|38341003&_include=Condition:patient&_count=500"
    )
    assert set(found) == loaded.expect(conds)
    assert set(included) == loaded.expect({c.ref(c.by_url[u], "subject") or "" for u in conds})
    koepp = c.select("Patient", lambda p: any(fold(n["family"]).startswith("koepp") for n in p["name"]))
    found, included, _ = loaded.search_all("Patient?family=koepp&_revinclude=Condition:patient&_count=100")
    assert set(found) == loaded.expect(koepp)
    assert set(included) == loaded.expect(c.select("Condition", lambda x: c.ref(x, "subject") in koepp))


def test_include_iterate(loaded: Loaded) -> None:
    c = loaded.corpus
    meds = c.select(
        "MedicationRequest", lambda m: has_code(m.get("medicationCodeableConcept"), None, "310965")
    )
    assert meds
    encounters = {c.ref(c.by_url[u], "encounter") for u in meds}
    patients = {c.ref(c.by_url[e], "subject") for e in encounters if e}
    q = (
        "MedicationRequest?code=310965&_include=MedicationRequest:encounter"
        "&_include:iterate=Encounter:patient&_count=500"
    )
    found, included, _ = loaded.search_all(q)
    assert set(found) == loaded.expect(meds)
    assert set(included) == loaded.expect({u for u in encounters | patients if u})


# ------------------------------------------------------------------------ sort and paging


def test_sort_several_keys(loaded: Loaded) -> None:
    c = loaded.corpus
    found, _, _ = loaded.search_all("Patient?_sort=gender,-birthdate&_count=100")
    rows = [(p["gender"], p["birthDate"]) for p in (c.by_url[u] for u in loaded_urls(loaded, found))]
    assert len(rows) == len(list(c.of_type("Patient")))
    expected = sorted(rows, key=lambda r: r[1], reverse=True)
    expected = sorted(expected, key=lambda r: r[0])
    assert rows == expected


def test_paging_walk_is_complete_and_stable(loaded: Loaded) -> None:
    c = loaded.corpus
    weights = c.select("Observation", lambda o: has_code(o.get("code"), LOINC, "29463-7"))
    first, _, total = loaded.search_all(f"Observation?code={LOINC}|29463-7&_count=37&_sort=date")
    second, _, _ = loaded.search_all(f"Observation?code={LOINC}|29463-7&_count=37&_sort=date")
    assert total == len(weights)
    assert first == second
    assert len(first) == len(set(first)) and set(first) == loaded.expect(weights)
    dates = [utc(c.by_url[u]["effectiveDateTime"]) for u in loaded_urls(loaded, first)]
    assert dates == sorted(dates)


def test_summary_count_and_total_none(loaded: Loaded) -> None:
    c = loaded.corpus
    n = len(list(c.of_type("Encounter")))
    bundle = loaded.client.get(f"{loaded.base}/Encounter?_summary=count").json()
    assert bundle["total"] == n and not bundle.get("entry")
    bundle = loaded.client.get(f"{loaded.base}/Encounter?_total=none&_count=5").json()
    assert "total" not in bundle and len(bundle["entry"]) == 5


# ------------------------------------------------------------------------ partitions


def test_institution_bases_see_their_own_records(loaded: Loaded) -> None:
    c = loaded.corpus
    root = loaded.base
    for code, parity in (("hospital-a", 0), ("clinic-b", 1)):
        own = {u for u, _ in c.of_type("Patient") if c.bundle_of[u] % 2 == parity}
        assert loaded.matches("Patient?_count=100", base=f"{root}/{code}") == loaded.expect(own)
        heights = c.select("Observation", lambda o: has_code(o["code"], LOINC, "8302-2"))
        own_heights = {u for u in heights if c.bundle_of[u] % 2 == parity}
        got = loaded.matches(f"Observation?code={LOINC}|8302-2&_count=500", base=f"{root}/{code}")
        assert got == loaded.expect(own_heights)


def loaded_urls(loaded: Loaded, keys: list[str]) -> list[str]:
    back = {v: k for k, v in loaded.ids.items()}
    return [back[k] for k in keys]
