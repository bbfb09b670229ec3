"""The composition root: auth on by default with the alliance policy and the audit trail; the
audit trail is flushed and sealed when the server stops; auth off falls back to partitions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import httpx
from tests.api.helpers import FHIR_JSON, INSTITUTIONS, assert_outcome
from tests.serving import DEV_KEY_PATH, auth_headers, dev_issuer, running_server, server_settings, serving_app

from yilian.cli.serve import build_app
from yilian.config import Settings
from yilian.privacy.audit import verify_chain
from yilian.store.factory import open_repository

PATIENT = {"resourceType": "Patient", "name": [{"family": "李", "given": ["娜"]}]}
KEY = "wiring-test-checkpoint-key"


def test_auth_is_on_by_default() -> None:
    settings = Settings()
    assert settings.auth == "on" and not settings.auth_dev_issuer and settings.audience == "yilian"


def _bearer(institution: str, role: str, scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {dev_issuer().issue(institution, role, scopes)}"}


def test_the_alliance_policy_guards_every_request(store_url: str) -> None:
    doctor = _bearer("county-hospital", "doctor", "user/*.cruds")
    with running_server(store_url, institutions=INSTITUTIONS) as base, httpx.Client(timeout=60) as client:
        own = client.post(f"{base}/county-hospital/Patient", json=PATIENT, headers={**FHIR_JSON, **doctor})
        assert own.status_code == 201, own.text
        other = client.post(f"{base}/dongshan-thc/Patient", json=PATIENT, headers={**FHIR_JSON, **doctor})
        assert_outcome(other, 403)
        system = client.post(
            f"{base}/dongshan-thc/Patient", json=PATIENT, headers={**FHIR_JSON, **auth_headers()}
        )
        assert system.status_code == 201, system.text
        # The doctor sees their own institution's patient only; the system client sees both.
        mine = client.get(f"{base}/county-hospital/Patient", headers=doctor).json()
        assert mine["total"] == 1
        assert client.get(f"{base}/Patient", headers=auth_headers()).json()["total"] == 2
        # Scopes matter: a read-only token cannot write even in its own institution.
        reader = _bearer("county-hospital", "doctor", "user/*.rs")
        assert_outcome(
            client.post(f"{base}/county-hospital/Patient", json=PATIENT, headers={**FHIR_JSON, **reader}), 403
        )


def test_every_access_is_audited_and_the_chain_sealed_on_shutdown(store_url: str) -> None:
    with (
        running_server(store_url, institutions=INSTITUTIONS, audit_signing_key=KEY) as base,
        httpx.Client(timeout=60, headers=auth_headers()) as client,
    ):
        created = client.post(f"{base}/county-hospital/Patient", json=PATIENT, headers=FHIR_JSON)
        assert created.status_code == 201
        assert client.get(f"{base}/{created.headers['location'].split('/fhir/')[1]}").status_code == 200
        assert client.get(f"{base}/county-hospital/Patient/missing").status_code == 404
        doctor = _bearer("county-hospital", "doctor", "user/*.rs")
        assert (
            client.post(
                f"{base}/dongshan-thc/Patient", json=PATIENT, headers={**FHIR_JSON, **doctor}
            ).status_code
            == 403
        )
        # Token failures are audited too, without the token.
        refused = client.get(
            f"{base}/county-hospital/Patient", headers={"Authorization": "Bearer not.a.token"}
        )
        assert refused.status_code == 401

    async def check() -> tuple[int, bool, int, list[Any]]:
        repository = open_repository(store_url)
        await repository.open()
        try:
            report = await verify_chain(repository, KEY.encode())
            logged = await repository.audit_entries()
            return report.entries, report.ok, report.checkpoints, logged
        finally:
            await repository.close()

    entries, ok, checkpoints, logged = anyio.run(check)
    anonymous = [e for e in logged if e.entry.role == "anonymous"]
    assert len(anonymous) == 1 and anonymous[0].entry.partition == "county-hospital"
    assert "not.a.token" not in anonymous[0].entry.event.decode()
    assert {e.entry.outcome for e in logged} >= {"0", "4"}
    assert entries >= 4 and ok
    assert checkpoints >= 1  # closing the app flushed the queue and signed the head


def test_auth_off_uses_partitions_only(store_url: str) -> None:
    with (
        running_server(store_url, institutions=INSTITUTIONS, auth="off") as base,
        httpx.Client(timeout=60) as client,
    ):
        for code, _ in INSTITUTIONS:
            response = client.post(f"{base}/{code}/Patient", json=PATIENT, headers=FHIR_JSON)
            assert response.status_code == 201, response.text
        assert client.get(f"{base}/Patient").json()["total"] == 2
        assert client.get(f"{base}/county-hospital/Patient").json()["total"] == 1


def test_demo_prints_tokens_the_server_accepts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from yilian.cli.demo import DEMO_INSTITUTIONS, DEMO_PERSONS, DEMO_SEED
    from yilian.cli.main import app
    from yilian.synth.alliance import Alliance

    db = tmp_path / "demo.db"
    env = {"COLUMNS": "200", "YILIAN_DEV_ISSUER_KEY_PATH": DEV_KEY_PATH, "YILIAN_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--db", f"sqlite:///{db}"], env=env)
    assert result.exit_code == 0, result.output
    tokens = {
        k: v for k, v in re.findall(r"export (\w+)='([^']+)'", result.output) if not k.startswith("YILIAN_")
    }
    assert set(tokens) == {"DOCTOR_A", "DOCTOR_B", "PATIENT", "RESEARCHER", "SYSTEM"}
    assert result.output.count("curl -sG -H") == 5
    key_file = tmp_path / "demo.audit-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    settings = server_settings(
        f"sqlite:///{db}", audit_signing_key=key, encryption_key_file=str(tmp_path / "demo.keys.toml")
    )
    with serving_app(build_app(settings)) as root, httpx.Client(timeout=60) as client:
        base = f"{root}/fhir"

        def get(name: str, path: str) -> httpx.Response:
            return client.get(f"{base}{path}", headers={"Authorization": f"Bearer {tokens[name]}"})

        # Every curl line the demo printed, as printed (its base swapped for this server's).
        lines = re.findall(
            r"curl -sG -H \"Authorization: Bearer \$(\w+)\" '([^']+)'((?: --data-urlencode '[^']+')*)",
            result.output,
        )
        assert len(lines) == 5
        for name, url, data in lines:
            params = [tuple(p.split("=", 1)) for p in re.findall(r"--data-urlencode '([^']+)'", data)]
            path = url.split("/fhir", 1)[1]
            answer = client.get(
                f"{base}{path}", params=params, headers={"Authorization": f"Bearer {tokens[name]}"}
            )
            assert answer.status_code == 200, (name, url, answer.text[:300])
            body = answer.json()
            assert body.get("total", len(body.get("entry", []))) > 0, (name, url, body)
        assert get("DOCTOR_A", "/county-hospital/Patient").json()["total"] > 0
        assert get("DOCTOR_B", "/dongshan-thc/Patient").json()["total"] > 0
        assert get("DOCTOR_B", "/county-hospital/Patient").json()["total"] == 0  # no Consent
        registrations = sum(
            len(h.registrations) for h in Alliance(DEMO_PERSONS, DEMO_INSTITUTIONS, DEMO_SEED).histories()
        )
        assert get("SYSTEM", "/Patient").json()["total"] == registrations
        patient = re.search(r"patient Patient/([\w-]+)", result.output)
        assert patient is not None
        assert get("PATIENT", f"/county-hospital/Patient/{patient.group(1)}").status_code == 200
