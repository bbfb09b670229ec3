"""Hospital intranets have no internet: the API docs page loads Swagger UI from the server
itself, and nothing the server's pages reference lives on another host."""

from __future__ import annotations

import re

import httpx


def test_docs_load_nothing_from_another_host(fhir: str) -> None:
    root = fhir.removesuffix("/fhir")
    page = httpx.get(f"{root}/docs", timeout=30)
    assert page.status_code == 200 and "swagger-ui" in page.text
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", page.text)
    urls = [u for pair in references for u in pair if u]
    assert urls, page.text
    for url in urls:
        assert not url.startswith(("http://", "https://", "//")), url
        asset = httpx.get(root + url, timeout=30)
        assert asset.status_code == 200 and asset.content, url
    assert "validator.swagger.io" not in page.text and "validatorUrl" in page.text


def test_vendored_scripts_are_served(fhir: str) -> None:
    root = fhir.removesuffix("/fhir")
    for path in ("htmx/htmx.min.js", "echarts/echarts.min.js", "swagger-ui/swagger-ui-bundle.js"):
        r = httpx.get(f"{root}/static/vendor/{path}", timeout=30)
        assert r.status_code == 200 and len(r.content) > 10_000 and "javascript" in r.headers["content-type"]
