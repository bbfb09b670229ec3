"""`yilian demo`: a server on an embedded SQLite file, preloaded with a synthetic alliance.

The alliance is `yilian synth`'s (a county hospital, three township centres and two village
clinics; 120 residents with their registrations at each member, visits, results, stays).  Its
members are registered (`yilian.alliance`) and their transaction Bundles are posted to each
member's base through the FHIR router, exactly as a client's transaction would be
(http://hl7.org/fhir/R4/http.html#transaction): the demo data exercises the same code path as
real traffic and never bypasses validation or indexing.  Members already present (a second
`yilian demo` on the same file) are left as they are.  Beside the database the demo writes an
HL7 v2 file and a front sheet of people it has not loaded, to try the feeds with.

The demo runs with authentication on and trusts the development issuer; `demo_tokens` mints
ready-made tokens for the people the README's security model talks about: a doctor at each of
two institutions, a patient, a researcher, and the alliance's system client.
"""

from __future__ import annotations

import csv
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from yilian.alliance import list_institutions, register_institution
from yilian.alliance.identifiers import mrn_system
from yilian.auth.dev_issuer import DevelopmentIssuer
from yilian.config import Settings
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.privacy.consent import CONSENT_SCOPE_SYSTEM
from yilian.router.router import FhirRouter
from yilian.router.settings import RouterSettings
from yilian.router.status import status_code
from yilian.router.types import FhirRequest
from yilian.store.base import Repository
from yilian.synth import frontsheet_out, hl7_out
from yilian.synth.alliance import Alliance
from yilian.synth.directory import directory
from yilian.synth.fhir_bundle import alliance_bundles

__all__ = [
    "DEMO_NEW_FACILITY",
    "DemoFeeds",
    "DemoToken",
    "LoadedInstitution",
    "demo_database",
    "demo_facilities",
    "demo_tokens",
    "load_sample",
    "with_demo_audit_key",
    "write_demo_feeds",
]

DEMO_TOKEN_TTL = timedelta(hours=12)
DEMO_PERSONS = 120
DEMO_INSTITUTIONS = 6  # the county hospital, three township centres, two village clinics
DEMO_SEED = 2026
DEMO_FEED_GROUP = 100_000  # households far beyond the loaded ones: people the demo has not seen
DEMO_NEW_FACILITY = "QXXRMYYNEW"  # the county hospital's new HIS, which no setting maps yet


@dataclass(frozen=True, slots=True)
class DemoFeeds:
    hl7: Path
    frontsheet: Path


@dataclass(frozen=True, slots=True)
class LoadedInstitution:
    code: str
    name: str
    entries: int  # resources written now; 0 when the institution was already there
    example_family: str  # a family name that institution's sample patients include
    example_patient: str = ""  # the id of one of its patients (the demo's patient token)


@dataclass(frozen=True, slots=True)
class DemoToken:
    name: str  # shell variable the demo suggests, e.g. DOCTOR_A
    who: str
    token: str
    try_path: str  # a path below the server root this caller can usefully GET
    try_query: tuple[tuple[str, str], ...] = ()  # its search parameters


def demo_tokens(issuer: DevelopmentIssuer, loaded: list[LoadedInstitution]) -> list[DemoToken]:
    """Tokens for a doctor at the first two institutions, a patient of the first, a researcher
    and the system client, valid for DEMO_TOKEN_TTL."""
    first, second = loaded[0], loaded[1 if len(loaded) > 1 else 0]
    ttl = DEMO_TOKEN_TTL
    patient = first.example_patient
    return [
        DemoToken(
            "DOCTOR_A",
            f"doctor at {first.code}",
            issuer.issue(first.code, "doctor", "user/*.cruds", ttl=ttl, subject=f"dr-wang@{first.code}"),
            f"/fhir/{first.code}/Patient",
            (("family", first.example_family),),
        ),
        DemoToken(
            "DOCTOR_B",
            f"doctor at {second.code}",
            issuer.issue(second.code, "doctor", "user/*.cruds", ttl=ttl, subject=f"dr-li@{second.code}"),
            f"/fhir/{second.code}/Patient",
            (("family", second.example_family),),
        ),
        DemoToken(
            "PATIENT",
            f"patient Patient/{patient} of {first.code}",
            issuer.issue(
                first.code, "patient", "patient/*.rs", patient=patient, ttl=ttl, subject=f"patient-{patient}"
            ),
            f"/fhir/{first.code}/Patient/{patient}/$everything",
        ),
        DemoToken(
            "RESEARCHER",
            "researcher (purpose research: only records whose patient consented to research; "
            f"the sample's Patient/{patient} did)",
            issuer.issue(
                None, "researcher", "user/*.rs", ttl=ttl, subject="researcher-zhao", purpose="research"
            ),
            "/fhir/Observation",
            (("_summary", "count"),),
        ),
        DemoToken(
            "SYSTEM",
            "the alliance's system client",
            issuer.issue(None, "system", "system/*.cruds", ttl=ttl, subject="alliance-integration"),
            "/fhir/Patient",
            (("_summary", "count"),),
        ),
    ]


def demo_database(settings: Settings) -> str:
    """The demo's SQLite database, in the data folder (never in the working folder, which is
    often a source checkout)."""
    return f"sqlite:///{settings.data_path / 'demo.db'}"


def with_demo_audit_key(settings: Settings, *, create: bool = True) -> Settings:
    """`settings` with an audit checkpoint key kept beside a SQLite database (`demo.db` ->
    `demo.audit-key`, mode 0600, made on first use), unless one is configured, so the demo's
    audit trail is on and `yilian audit verify --key "$(cat demo.audit-key)"` can check it.
    Like the demo's other key files this protects nothing against a stolen disk.  Without
    `create` (`serve` and the other commands on a demo database) an existing file is used,
    none is made, so every process signs the demo's audit chain with the same key."""
    if settings.audit_signing_key:
        return settings
    scheme, _, rest = settings.database_url.partition(":///")
    if scheme.lower() != "sqlite" or not rest or rest == ":memory:":
        return settings
    db_file = Path(rest)
    key_file = db_file.with_name(db_file.stem + ".audit-key")
    if not key_file.exists():
        if not create:
            return settings
        key_file.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return settings.replace(audit_signing_key=key_file.read_text().strip())


async def _patient_by_mrn(router: FhirRouter, code: str, mrn: str) -> str:
    response = await router.handle(
        FhirRequest(
            method="GET",
            path=("Patient",),
            partition=code,
            query=(("identifier", mrn_system(code) + "|" + mrn),),
        )
    )
    entries = (response.body or {}).get("entry") or [{}]
    return str(entries[0].get("resource", {}).get("id", ""))


def _example(bundle: dict[str, Any]) -> tuple[str, str] | None:
    """(family name, MRN) of the bundle's patient if the bundle holds results too: the
    patient the demo's tokens and research Consent point at must have something to show."""
    resources = [e["resource"] for e in bundle["entry"]]
    if not any(r["resourceType"] == "Observation" for r in resources):
        return None
    for r in resources:
        if r["resourceType"] == "Patient":
            mrn = next(
                (
                    i["value"]
                    for i in r.get("identifier", [])
                    if i.get("system", "").startswith("urn:yilian:mrn:")
                ),
                "",
            )
            return str(r["name"][0]["family"]), mrn
    return None


async def load_sample(
    repository: Repository, base_url: str, seed: int = DEMO_SEED
) -> list[LoadedInstitution]:
    """Register the demo alliance's members missing from `repository` and load their records
    (`yilian synth`'s transaction Bundles, one per member's staff and one per registration).

    `repository` must be open.  `base_url` (`http://host:port/fhir`) is what the loaded
    resources' server-side links are made relative to."""
    alliance = Alliance(DEMO_PERSONS, DEMO_INSTITUTIONS, seed)
    present = {p.code for p in await list_institutions(repository)}
    router = FhirRouter(repository, RouterSettings())
    counts: dict[str, int] = {}
    examples: dict[str, tuple[str, str]] = {}  # code -> (family, MRN) of a patient with results
    for code, bundle in alliance_bundles(DEMO_PERSONS, DEMO_INSTITUTIONS, seed):
        if code not in examples:
            example = _example(bundle)
            if example:
                examples[code] = example
        if code in present:
            continue
        if code not in counts:
            await register_institution(repository, code, alliance.directory.institution(code).name)
            counts[code] = 0
        await _transaction(router, code, bundle, base_url)
        counts[code] += len(bundle["entry"])
    loaded: list[LoadedInstitution] = []
    for inst in alliance.directory.institutions:
        family, mrn = examples.get(inst.code, ("", ""))
        patient = await _patient_by_mrn(router, inst.code, mrn) if mrn else ""
        entries = counts.get(inst.code, 0)
        if not loaded and entries and patient:  # the first member's example patient agrees to research use
            await _post(router, inst.code, "Consent", research_consent(patient))
            entries += 1
        loaded.append(LoadedInstitution(inst.code, inst.name, entries, family, patient))
    return loaded


def demo_facilities(seed: int = DEMO_SEED) -> str:
    """The demo members' HL7 sending facilities, as the `hl7_facilities` setting writes them."""
    return ",".join(f"{i.facility}={i.code}" for i in directory(DEMO_INSTITUTIONS, seed).institutions)


def write_demo_feeds(folder: Path, seed: int = DEMO_SEED) -> DemoFeeds:
    """Files to try the feeds with, for people the demo has not loaded yet: an HL7 v2 file of
    their messages (the last one from a facility the demo does not map, to find and replay)
    and the county hospital's front sheet of their stays."""
    alliance = Alliance(DEMO_PERSONS, DEMO_INSTITUTIONS, seed)
    messages: list[str] = []
    rows: list[list[str]] = []
    group = DEMO_FEED_GROUP
    while len(rows) < 3 or len(messages) < 20:
        for history in alliance.group(group):
            messages += [m for code, m in hl7_out.institution_messages(history, alliance.directory)
                         if code == "county-hospital"]  # fmt: skip
            rows += [row for code, row in frontsheet_out.institution_rows(history, alliance.directory)
                     if code == "county-hospital"]  # fmt: skip
        group += 1
    county = alliance.directory.institution("county-hospital").facility
    messages[-1] = messages[-1].replace(f"|{county}|", f"|{DEMO_NEW_FACILITY}|", 1)
    folder.mkdir(parents=True, exist_ok=True)
    feeds = DemoFeeds(folder / "demo-feed.hl7", folder / "demo-frontsheet.csv")
    feeds.hl7.write_bytes(b"".join(m.rstrip("\r").encode() + b"\r\n" for m in messages))
    with feeds.frontsheet.open("w", encoding="utf-8", newline="") as out:
        sheet = csv.writer(out)
        sheet.writerow(frontsheet_out.HEADER)
        sheet.writerows(rows)
    return feeds


async def _transaction(router: FhirRouter, code: str, bundle: dict[str, Any], base_url: str) -> None:
    response = await router.handle(
        FhirRequest(
            method="POST",
            path=(),
            partition=code,
            headers={"content-type": "application/fhir+json", "prefer": "return=minimal"},
            body=bundle,
            base_url=f"{base_url}/{code}",
        )
    )
    if status_code(response.outcome) >= 300:
        raise OutcomeError(
            Outcome.SERVER_ERROR,
            IssueType.EXCEPTION,
            f"loading the demo records of {code} failed: {response.outcome.value}",
        )


def research_consent(patient: str) -> dict[str, Any]:
    """A patient-privacy Consent opening `patient`'s records to researchers of the whole
    alliance (purpose HRESCH, no end): what lets the demo's researcher line find records."""
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE_SYSTEM, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "dateTime": "2026-01-05",
        "provision": {
            "type": "permit",
            "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}],
        },
    }


async def _post(router: FhirRouter, code: str, rtype: str, body: dict[str, Any]) -> None:
    response = await router.handle(
        FhirRequest(
            method="POST",
            path=(rtype,),
            partition=code,
            headers={"content-type": "application/fhir+json", "prefer": "return=minimal"},
            body=body,
        )
    )
    if status_code(response.outcome) >= 300:
        raise OutcomeError(
            Outcome.SERVER_ERROR, IssueType.EXCEPTION, f"writing the sample {rtype} of {code} failed"
        )
