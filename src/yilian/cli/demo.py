"""`yilian demo`: a server on an embedded SQLite file, preloaded with the sample alliance.

The sample institutions are registered (`yilian.alliance`) and their transaction Bundles are
posted to each institution's base through the FHIR router, exactly as a client's transaction
would be (http://hl7.org/fhir/R4/http.html#transaction): the demo data exercises the same code
path as real traffic and never bypasses validation or indexing.  Institutions already present
(a second `yilian demo` on the same file) are left as they are.

The demo runs with authentication on and trusts the development issuer; `demo_tokens` mints
ready-made tokens for the people the README's security model talks about: a doctor at each of
two institutions, a patient, a researcher, and the alliance's system client.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from yilian.alliance import list_institutions, register_institution
from yilian.auth.dev_issuer import DevelopmentIssuer
from yilian.config import Settings
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.privacy.consent import CONSENT_SCOPE_SYSTEM
from yilian.router.router import FhirRouter
from yilian.router.settings import RouterSettings
from yilian.router.status import status_code
from yilian.router.types import FhirRequest
from yilian.store.base import Repository
from yilian.synth import sample_alliance

__all__ = [
    "DemoToken",
    "LoadedInstitution",
    "demo_database",
    "demo_tokens",
    "load_sample",
    "with_demo_audit_key",
]

DEMO_TOKEN_TTL = timedelta(hours=12)


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


def with_demo_audit_key(settings: Settings) -> Settings:
    """`settings` with an audit checkpoint key kept beside a SQLite database (`demo.db` ->
    `demo.audit-key`, mode 0600, made on first use), unless one is configured, so the demo's
    audit trail is on and `yilian audit verify --key "$(cat demo.audit-key)"` can check it.
    Like the demo's other key files this protects nothing against a stolen disk."""
    if settings.audit_signing_key:
        return settings
    scheme, _, rest = settings.database_url.partition(":///")
    if scheme.lower() != "sqlite" or not rest or rest == ":memory:":
        return settings
    db_file = Path(rest)
    key_file = db_file.with_name(db_file.stem + ".audit-key")
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return settings.replace(audit_signing_key=key_file.read_text().strip())


async def _first_patient(router: FhirRouter, code: str, family: str) -> str:
    response = await router.handle(
        FhirRequest(
            method="GET", path=("Patient",), partition=code, query=(("family", family), ("_count", "1"))
        )
    )
    entries = (response.body or {}).get("entry") or [{}]
    return str(entries[0].get("resource", {}).get("id", ""))


async def load_sample(repository: Repository, base_url: str, seed: int = 2026) -> list[LoadedInstitution]:
    """Register the sample institutions missing from `repository` and load their bundles.

    `repository` must be open.  `base_url` (`http://host:port/fhir`) is what the loaded
    resources' server-side links are made relative to."""
    alliance = sample_alliance(seed)
    present = {p.code for p in await list_institutions(repository)}
    router = FhirRouter(repository, RouterSettings())
    loaded: list[LoadedInstitution] = []
    for inst in alliance.institutions:
        family = str(alliance.resources(inst.code, "Patient")[0]["name"][0]["family"])
        if inst.code in present:
            patient = await _first_patient(router, inst.code, family)
            loaded.append(LoadedInstitution(inst.code, inst.name, 0, family, patient))
            continue
        await register_institution(repository, inst.code, inst.name)
        bundle = alliance.bundles[inst.code]
        response = await router.handle(
            FhirRequest(
                method="POST",
                path=(),
                partition=inst.code,
                headers={"content-type": "application/fhir+json", "prefer": "return=minimal"},
                body=bundle,
                base_url=f"{base_url}/{inst.code}",
            )
        )
        if status_code(response.outcome) >= 300:
            raise OutcomeError(
                Outcome.SERVER_ERROR,
                IssueType.EXCEPTION,
                f"loading the sample bundle of {inst.code} failed: {response.outcome.value}",
            )
        patient = await _first_patient(router, inst.code, family)
        entries = len(bundle["entry"])
        if not loaded:  # the first institution's example patient agrees to research use
            await _post(router, inst.code, "Consent", research_consent(patient))
            entries += 1
        loaded.append(LoadedInstitution(inst.code, inst.name, entries, family, patient))
    return loaded


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
