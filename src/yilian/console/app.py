"""`add_console`: the console, mounted under `/console/` of the API's application.

One Starlette application holds the pages the registry found (`console.pages`), the console's
own static files and a redirect from `/console`.  Every page request goes through
`Console.serve`: the language is chosen, the session's token is verified with the API's
`Authenticator` (a page without a session, or with an expired token, sends the browser to the
login page), a POST's CSRF field is checked, and only then does the page's handler run.  With
authentication off the console is the development principal, under a warning banner.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from yilian.alliance.institutions import list_institutions
from yilian.auth.dev_issuer import DevelopmentIssuer
from yilian.auth.principal import Principal
from yilian.config import Settings
from yilian.console.i18n import LANG_COOKIE, choose_language
from yilian.console.pages import Page, discover
from yilian.console.session import CSRF_FIELD, CookieSigner, new_csrf_value
from yilian.console.view import CONSOLE_PREFIX, ConsoleView
from yilian.feeds.hl7_intake import Hl7Intake
from yilian.fhir.outcome import OutcomeError
from yilian.router.router import FhirRouter

__all__ = ["Authenticator", "Console", "add_console"]

STATIC_DIR = Path(__file__).parent / "static"
DIRECTORY_SECONDS = 10.0
"""How long the list of member institutions (names for the layout) is kept."""
LANG_COOKIE_SECONDS = 365 * 24 * 3600


class Authenticator(Protocol):
    """What the console needs of the API's authenticator (`yilian.api.auth.Authenticator`,
    which sits above the console in the layers and is passed in by `create_app`)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def dev_issuer(self) -> DevelopmentIssuer | None: ...

    async def principal(self, headers: Mapping[str, str]) -> Principal: ...


class Console:
    """The console's shared parts: router, authenticator, settings, cookie signer, pages, and
    the HL7 intake the interfaces page replays messages with (None: replay is not offered)."""

    def __init__(
        self, router: FhirRouter, auth: Authenticator, settings: Settings, hl7_intake: Hl7Intake | None = None
    ) -> None:
        self.router = router
        self.hl7_intake = hl7_intake
        self.auth = auth
        self.settings = settings
        # One key for every worker process (serve settles it, cli/serve.py), else per start.
        key = settings.console_session_key
        self.signer = CookieSigner(key.encode()) if key else CookieSigner.random()
        self.pages: list[Page] = discover()
        self._directory: dict[str, str] = {}
        self._directory_read = 0.0

    async def institutions(self) -> dict[str, str]:
        """Code -> name of the member institutions, kept for a few seconds."""
        if not self._directory or time.monotonic() - self._directory_read > DIRECTORY_SECONDS:
            self._directory = {p.code: p.name for p in await list_institutions(self.router.repository)}
            self._directory_read = time.monotonic()
        return self._directory

    def application(self) -> Starlette:
        routes: list[Route | Mount] = [
            Route(page.path, self._endpoint(page), methods=list(page.methods), name=page.name)
            for page in self.pages
        ]
        routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="console-static"))
        return Starlette(routes=routes)

    def _endpoint(self, page: Page):  # type: ignore[no-untyped-def]
        async def endpoint(request: Request) -> Response:
            return await self.serve(page, request)

        return endpoint

    async def serve(self, page: Page, request: Request) -> Response:
        asked_language = request.query_params.get("lang")
        language = choose_language(asked_language, request.cookies.get(LANG_COOKIE))
        csrf = self.signer.csrf_value(request)
        fresh_csrf = csrf is None
        csrf = csrf or new_csrf_value()
        view = ConsoleView(request, page, self, None, language, csrf, institutions=await self.institutions())
        principal, expired = await self._principal(request)
        if principal is None and not page.public:
            response = self._to_login(view, expired)
        else:
            view.principal = principal
            response = await self._checked(view)
        if fresh_csrf:
            self.signer.set_csrf(request, response, csrf)
        if asked_language and language == choose_language(asked_language, None):
            response.set_cookie(
                LANG_COOKIE, language, max_age=LANG_COOKIE_SECONDS, path=CONSOLE_PREFIX, samesite="lax"
            )
        return response

    async def _checked(self, view: ConsoleView) -> Response:
        """The handler's answer, after the CSRF check of a POST."""
        if view.request.method == "POST":
            form = await view.request.form()
            view.form = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            if not self.signer.csrf_matches(view.request, view.form.get(CSRF_FIELD)):
                return view.render("csrf_failed.html", status=403)
        return await view.page.handler(view)

    async def _principal(self, request: Request) -> tuple[Principal | None, bool]:
        """(the session's verified principal or None, whether a session token was refused)."""
        if not self.auth.enabled:
            return Principal.development(), False
        token = self.signer.session_token(request)
        if token is None:
            return None, False
        try:
            return await self.auth.principal({"authorization": f"Bearer {token}"}), False
        except OutcomeError:
            return None, True

    def _to_login(self, view: ConsoleView, expired: bool) -> Response:
        target = view.request.url.path
        if view.request.url.query:
            target += "?" + view.request.url.query
        query = f"?next={quote(target, safe='')}" + ("&expired=1" if expired else "")
        response = RedirectResponse(view.url(f"/login{query}"), status_code=303)
        if expired:
            self.signer.end_session(view.request, response)
        return response


def add_console(
    app: FastAPI,
    router: FhirRouter,
    auth: Authenticator,
    settings: Settings,
    hl7_intake: Hl7Intake | None = None,
) -> Console:
    """Mount the console under `/console/` of `app`; `/console` redirects there.  `hl7_intake`
    is the application's HL7 intake (the API builds it), for replaying kept messages."""
    console = Console(router, auth, settings, hl7_intake)

    async def to_console(request: Request) -> RedirectResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(f"{root}{CONSOLE_PREFIX}/", status_code=307)

    app.add_route(CONSOLE_PREFIX, to_console, include_in_schema=False)
    app.mount(CONSOLE_PREFIX, console.application(), name="console")
    return console
