"""`yilian demo`: a server on an embedded SQLite file, preloaded with the sample alliance.

The sample institutions are registered (`yilian.alliance`) and their transaction Bundles are
posted to each institution's base through the FHIR router, exactly as a client's transaction
would be (http://hl7.org/fhir/R4/http.html#transaction): the demo data exercises the same code
path as real traffic and never bypasses validation or indexing.  Institutions already present
(a second `yilian demo` on the same file) are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from yilian.alliance import list_institutions, register_institution
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.router.router import FhirRouter
from yilian.router.settings import RouterSettings
from yilian.router.status import status_code
from yilian.router.types import FhirRequest
from yilian.store.base import Repository
from yilian.synth import sample_alliance

__all__ = ["LoadedInstitution", "load_sample"]


@dataclass(frozen=True, slots=True)
class LoadedInstitution:
    code: str
    name: str
    entries: int  # resources written now; 0 when the institution was already there
    example_family: str  # a family name that institution's sample patients include


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
            loaded.append(LoadedInstitution(inst.code, inst.name, 0, family))
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
        loaded.append(LoadedInstitution(inst.code, inst.name, len(bundle["entry"]), family))
    return loaded
