"""What the server's own pages load, served from the package: `/static/` and the API docs.

Hospital intranets have no internet, so no page may fetch a script, a style sheet or a font
from a CDN.  FastAPI's `/docs` page loads Swagger UI from jsDelivr; here it is the same page
over the copy in `static/vendor/swagger-ui` (static/vendor/SOURCES.md lists every vendored
file, its version and licence), with Swagger UI's online validator badge switched off (it
calls validator.swagger.io).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "STATIC_PREFIX", "add_static_routes"]

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static"


def add_static_routes(app: FastAPI) -> None:
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")

    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        vendor = f"{root}{STATIC_PREFIX}/vendor/swagger-ui"
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
            swagger_css_url=f"{vendor}/swagger-ui.css",
            swagger_favicon_url=f"{vendor}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
