"""A server per backend, loaded once per module with the open Synthea sample over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import SHARED_DATA, PostgresDatabases, _pg_url
from tests.e2e.synthea_oracle import load_corpus, supplementary_bundle
from tests.e2e.test_synthea_search import Loaded
from tests.serving import auth_headers, running_server

BUNDLE_LIMIT = int(os.environ.get("YILIAN_SYNTHEA_BUNDLES", "100"))


def _load(base: str, corpus: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Every bundle, by transaction; returns fullUrl -> `Type/id` and fullUrl -> the instant
    the server says it stored the resource at (`response.lastModified`)."""
    ids: dict[str, str] = {}
    stamps: dict[str, str] = {}
    with httpx.Client(timeout=300, headers=auth_headers()) as client:
        synthea = corpus.bundles[:-1]
        for i, bundle in enumerate(synthea):
            target = f"{base}/{'hospital-a' if i % 2 == 0 else 'clinic-b'}"
            response = client.post(target, json=bundle, headers={"Content-Type": "application/fhir+json"})
            assert response.status_code == 200, response.text[:1000]
            reply = response.json()
            assert reply["type"] == "transaction-response"
            for entry, result in zip(bundle["entry"], reply["entry"], strict=True):
                assert result["response"]["status"].startswith("201"), result
                location = result["response"]["location"]
                rtype, rid = location.split("/")[:2]
                ids[entry["fullUrl"]] = f"{rtype}/{rid}"
                stamps[entry["fullUrl"]] = result["response"]["lastModified"]
        # The supplementary bundle refers to patients loaded above by their server ids.
        patients = [u for u in ids if ids[u].startswith("Patient/")]
        extra = supplementary_bundle(patients)
        for entry in extra["entry"]:
            entry["resource"]["subject"]["reference"] = ids[entry["resource"]["subject"]["reference"]]
        corpus.bundles[-1] = extra
        for entry in extra["entry"]:
            corpus.by_url[entry["fullUrl"]] = entry["resource"]
        response = client.post(base, json=extra, headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == 200, response.text[:1000]
        for entry, result in zip(extra["entry"], response.json()["entry"], strict=True):
            rtype, rid = result["response"]["location"].split("/")[:2]
            ids[entry["fullUrl"]] = f"{rtype}/{rid}"
            stamps[entry["fullUrl"]] = result["response"]["lastModified"]
    return ids, stamps


def _analyze(url: str) -> None:
    """Statistics for the planner, as autovacuum would gather them a little later: a database
    made and filled seconds ago has none, and without them PostgreSQL plans multi-criterion
    searches as if every index held one row (seconds a query).  These tests check answers;
    bench/ measures speed."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def synthea_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_databases: PostgresDatabases | None,
) -> Iterator[Loaded]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('synthea') / 'yilian.sqlite'}"
    else:
        if pg_databases is None:
            pytest.skip("PostgreSQL unreachable; set YILIAN_REQUIRE_PG=1 to make this fail")
        url = _pg_url(pg_databases.create(template=request.getfixturevalue("pg_template")))
    corpus = load_corpus(Path(SHARED_DATA) / "synthea-r4-bundles", limit=BUNDLE_LIMIT)
    institutions = [("hospital-a", "Synthea Hospital A"), ("clinic-b", "Synthea Clinic B")]
    with running_server(url, institutions=institutions) as base:
        ids, stamps = _load(base, corpus)
        if url.startswith("postgresql"):
            _analyze(url)
        loaded = Loaded(base, corpus, ids, stamps)
        loaded.client.headers.update(auth_headers())
        yield loaded
        loaded.client.close()
