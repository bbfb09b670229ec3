"""The round trip of the feeds issue: a synthetic alliance sent as HL7 v2 over MLLP into a real
server gives the same patients, encounters and lab results as the generator's own FHIR output
of the same events, on both backends.

Both sides are reduced to what a clinician or the patient index relies on (identifiers, name,
sex, birth date, mobile, address; visit number, class, status and times; each result's code,
value, unit, range, flag and time, and whose visit it belongs to); the server's ids and the
server-side bookkeeping are not compared."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from tests.feeds.feed_server import feed_server, mllp_send
from tests.serving import _register, auth_headers

from yilian.synth import hl7_out
from yilian.synth.alliance import Alliance
from yilian.synth.fhir_out import registration_resources

PERSONS, MEMBERS, SEED = 40, 4, 909


def _all(fhir: str, path: str, **query: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    url: str | None = f"{fhir}/{path}"
    params: dict[str, str] | None = {"_count": "500", **query}
    with httpx.Client(headers=auth_headers(), timeout=60) as client:
        while url:
            page = client.get(url, params=params).json()
            out += [e["resource"] for e in page.get("entry", [])]
            url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
            params = None
    return out


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _identifier(resource: dict[str, Any], prefix: str) -> str:
    return next(i["value"] for i in resource.get("identifier", []) if i["system"].startswith(prefix))


def _patients(resources: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    out = {}
    for p in resources:
        if p["resourceType"] != "Patient":
            continue
        idents = frozenset((i["system"], i["value"]) for i in p.get("identifier", []))
        name = p.get("name", [{}])[0]
        out[_identifier(p, "urn:yilian:mrn:")] = (
            idents,
            name.get("text") or (name.get("family", "") + "".join(name.get("given", []))),
            p.get("gender"),
            p.get("birthDate"),
            tuple(t["value"] for t in p.get("telecom", []) if t.get("system") == "phone"),
            tuple(a.get("text") for a in p.get("address", [])),
        )
    return out


def _encounters(resources: list[dict[str, Any]], mrn_of: dict[str, str]) -> dict[str, tuple[Any, ...]]:
    return {
        _identifier(e, "urn:yilian:visit:"): (
            mrn_of[e["subject"]["reference"]],
            e["class"]["code"],
            e["status"],
            _instant(e["period"].get("start")),
            _instant(e["period"].get("end")),
        )
        for e in resources
        if e["resourceType"] == "Encounter"
    }


def _results(resources: list[dict[str, Any]], visit_of: dict[str, str]) -> dict[str, tuple[Any, ...]]:
    out = {}
    for o in resources:
        if o["resourceType"] != "Observation" or not any(
            i["system"].startswith("urn:yilian:result:") and "-V" not in i["value"]
            for i in o.get("identifier", [])
        ):
            continue
        quantity = o.get("valueQuantity") or {}
        ranges = o.get("referenceRange") or [{}]
        flags = [c["code"] for concept in o.get("interpretation", []) for c in concept.get("coding", [])]
        out[_identifier(o, "urn:yilian:result:")] = (
            visit_of.get(o.get("encounter", {}).get("reference", "")),
            o["code"]["coding"][0]["code"],
            o["status"],
            quantity.get("value", o.get("valueString")),
            quantity.get("code"),
            (ranges[0].get("low") or {}).get("value"),
            (ranges[0].get("high") or {}).get("value"),
            tuple(flags),
            _instant(o.get("effectiveDateTime")),
        )
    return out


def _reduce(resources: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    patients = _patients(resources)
    mrn_of = {
        f"Patient/{p['id']}": _identifier(p, "urn:yilian:mrn:")
        for p in resources
        if p["resourceType"] == "Patient"
    }
    encounters = _encounters(resources, mrn_of)
    visit_of = {
        f"Encounter/{e['id']}": _identifier(e, "urn:yilian:visit:")
        for e in resources
        if e["resourceType"] == "Encounter"
    }
    return patients, encounters, _results(resources, visit_of)


def test_synth_hl7_over_mllp_equals_the_synth_fhir(store_url: str) -> None:
    alliance = Alliance(PERSONS, MEMBERS, SEED)
    directory = alliance.directory
    expected: dict[str, list[dict[str, Any]]] = {i.code: [] for i in directory.institutions}
    sent: dict[str, list[bytes]] = {i.code: [] for i in directory.institutions}
    for history in alliance.histories():
        for registration in history.registrations:
            expected[registration.institution] += registration_resources(history, registration, directory)
        for code, message in hl7_out.institution_messages(history, directory):
            sent[code].append(message.encode("utf-8"))
    _register(store_url, [(i.code, i.name) for i in directory.institutions])
    facilities = ",".join(f"{i.facility}={i.code}" for i in directory.institutions)
    with feed_server(store_url, register=False, hl7_facilities=facilities) as server:
        for messages in sent.values():
            acks = mllp_send(server.mllp_port, *messages)
            refused = [a for a in acks if b"MSA|AA|" not in a]
            assert not refused, refused[:3]
        compared = 0
        for inst in directory.institutions:
            stored = [
                *_all(server.fhir, f"{inst.code}/Patient"),
                *_all(server.fhir, f"{inst.code}/Encounter"),
                *_all(server.fhir, f"{inst.code}/Observation"),
            ]
            want, got = _reduce(expected[inst.code]), _reduce(stored)
            for kind, w, g in zip(("patients", "encounters", "lab results"), want, got, strict=True):
                assert g == w, f"{inst.code} {kind}: {len(g)} stored, {len(w)} expected"
            compared += sum(len(w) for w in want)
            assert all(v[0] for v in want[2].values())  # every result belongs to a visit
        assert compared > 300, "the alliance is large enough to mean something"
