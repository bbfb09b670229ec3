"""`ConsoleView`: what a page handler gets: the request, who is looking, the language, and the
one way to reach data, the same `FhirRouter` the FHIR API uses.

Every `fhir()` call builds a `FhirRequest` with the session's `Principal`, so the
`AlliancePolicy` decides what the page may show and the audit trail records the view as the
user, exactly as if the user had made the API call.  Handlers hold no domain logic: they ask
the router and lay out the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from yilian.auth.principal import Principal
from yilian.console.i18n import HTML_LANG, LANGUAGES, translations
from yilian.console.pages import Page
from yilian.console.templating import environment, gettext_callables
from yilian.fhir.outcome import OutcomeError
from yilian.router.router import FhirRouter
from yilian.router.types import FhirRequest, FhirResponse

if TYPE_CHECKING:
    from yilian.console.app import Console

__all__ = ["ConsoleView"]

CONSOLE_PREFIX = "/console"


@dataclass
class ConsoleView:
    """One console request as its page handler sees it.  `principal` is None only on a public
    page (the login page) without a session."""

    request: Request
    page: Page
    console: Console
    principal: Principal | None
    language: str
    csrf: str
    form: Mapping[str, Any] = field(default_factory=dict)
    institutions: Mapping[str, str] = field(default_factory=dict)
    """Code -> name of every member institution (the alliance's directory, not patient data)."""

    @property
    def router(self) -> FhirRouter:
        return self.console.router

    def gettext(self, message: str, **variables: Any) -> str:
        """`message` in the request's language (for text a handler builds itself)."""
        text = translations(self.language).gettext(message)
        return text % variables if variables else text

    def url(self, path: str = "/") -> str:
        """The absolute path of a console page (`/console/...`), under any root path."""
        root = self.request.scope.get("root_path", "").rstrip("/")
        mount = CONSOLE_PREFIX if not root.endswith(CONSOLE_PREFIX) else ""
        return f"{root}{mount}{path}"

    def asset(self, path: str) -> str:
        """The path of a file the API serves from the package (`/static/vendor/...`)."""
        root = self.request.scope.get("root_path", "").rstrip("/")
        if root.endswith(CONSOLE_PREFIX):
            root = root[: -len(CONSOLE_PREFIX)]
        return f"{root}/static{path}"

    async def fhir(
        self,
        method: str,
        path: str,
        *,
        partition: str | None = None,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> FhirResponse:
        """One FHIR interaction as the user (raises OutcomeError as the router does)."""
        base = f"{self.request.url.scheme}://{self.request.url.netloc}/fhir"
        request = FhirRequest(
            method=method,
            path=tuple(s for s in path.split("/") if s),
            partition=partition,
            query=tuple(query),
            headers={"accept": "application/fhir+json"},
            body=body,
            base_url=f"{base}/{partition}" if partition else base,
            principal=self.principal,
        )
        return await self.router.handle(request)

    async def count(
        self, resource_type: str, *, partition: str | None = None, query: Sequence[tuple[str, str]] = ()
    ) -> int | None:
        """How many `resource_type` the user may see (`_summary=count`); None when refused."""
        try:
            response = await self.fhir(
                "GET", resource_type, partition=partition, query=(*query, ("_summary", "count"))
            )
        except OutcomeError:
            return None
        total = (response.body or {}).get("total")
        return total if isinstance(total, int) else None

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """`template` rendered with the base layout's context and `context`."""
        base = {
            "view": self,
            "principal": self.principal,
            "nav": [p for p in self.console.pages if p.in_nav],
            "current": self.page,
            "languages": LANGUAGES,
            "language": self.language,
            "html_lang": HTML_LANG[self.language],
            "csrf_token": self.csrf,
            "auth_enabled": self.console.auth.enabled,
            "institutions": self.institutions,
            **gettext_callables(self.language),
        }
        html = environment().get_template(template).render({**base, **context})
        return HTMLResponse(html, status_code=status)

    def redirect(self, path: str, *, status: int = 303) -> Response:
        """To the console page `path` (`/login`)."""
        return RedirectResponse(self.url(path), status_code=status)

    def redirect_to(self, absolute: str, *, status: int = 303) -> Response:
        """To an absolute path already checked to be the console's (`/console/...`)."""
        return RedirectResponse(absolute, status_code=status)
