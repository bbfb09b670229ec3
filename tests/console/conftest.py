"""A real server per test with the console, on each backend, reached with httpx.

`console` yields a `ConsoleSite`: the server's root URL, the FHIR base, and helpers that log in
the way a browser does (read the login page's CSRF field, post the form, keep the cookies).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from tests.api.helpers import FHIR_JSON, INSTITUTIONS
from tests.serving import auth_headers, dev_issuer, running_server

AUDIT_KEY = "console-test-audit-key"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    """The CSRF field of the first form on `page`."""
    found = _CSRF.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


def doctor_token(institution: str) -> str:
    return dev_issuer().issue(
        institution, "doctor", "user/*.cruds", ttl=timedelta(hours=1), subject=f"dr-test@{institution}"
    )


@dataclass
class ConsoleSite:
    root: str
    fhir: str

    def browser(self) -> httpx.Client:
        """A cookie-keeping client without credentials, like a fresh browser."""
        return httpx.Client(base_url=self.root, timeout=60)

    def login(self, browser: httpx.Client, **form: str) -> httpx.Response:
        """Post the login form (`user=...` or `token=...`) with the page's CSRF field."""
        page = browser.get("/console/login")
        assert page.status_code == 200, page.text[:2000]
        return browser.post("/console/login", data={"csrf_token": csrf_of(page), **form})

    def seed(self, institution: str, family: str) -> str:
        """A Patient with one Encounter at `institution` (written as the system client)."""
        with httpx.Client(timeout=60, headers={**auth_headers(), **FHIR_JSON}) as api:
            made = api.post(
                f"{self.fhir}/{institution}/Patient",
                json={"resourceType": "Patient", "name": [{"family": family, "given": ["伟"]}]},
            )
            assert made.status_code == 201, made.text
            pid = made.json()["id"]
            visit = api.post(
                f"{self.fhir}/{institution}/Encounter",
                json={
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": f"Patient/{pid}"},
                    "period": {"start": "2026-03-04T08:30:00+08:00", "end": "2026-03-04T09:00:00+08:00"},
                },
            )
            assert visit.status_code == 201, visit.text
            return str(pid)


@pytest.fixture
def console(store_url: str) -> Iterator[ConsoleSite]:
    with running_server(store_url, institutions=INSTITUTIONS, audit_signing_key=AUDIT_KEY) as base:
        yield ConsoleSite(base.removesuffix("/fhir"), base)
