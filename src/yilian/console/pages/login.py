"""`/console/login` and `/console/logout`: who is looking.

With the development issuer trusted (`auth_dev_issuer`, as in `yilian demo`) the login page
offers demo users to pick; their tokens are minted here on the server with the development
issuer.  Any bearer token can be pasted into the `token` field instead; it is verified by the
same `Authenticator` as the FHIR API's.  Either way the session cookie then holds the token.

OAuth authorization code with PKCE against a configured issuer is not built yet (issue 10
continues): the page says so when no development issuer is trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.responses import Response

from yilian.console.i18n import N_
from yilian.console.pages import Page
from yilian.console.session import new_csrf_value
from yilian.console.view import CONSOLE_PREFIX, ConsoleView
from yilian.fhir.outcome import OutcomeError

__all__ = ["PAGES", "DemoUser", "demo_users"]

DEMO_SESSION_TTL = timedelta(hours=8)


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A user the development issuer can sign in as; `label` is a message id."""

    key: str
    label: str
    institution: str | None
    role: str
    scopes: str
    subject: str


def demo_users(institutions: dict[str, str]) -> list[DemoUser]:
    """Doctors at the first two institutions, a records officer at the first, the system client."""
    codes = list(institutions)
    users = [
        DemoUser(f"doctor@{c}", N_("Doctor"), c, "doctor", "user/*.cruds", f"dr-{n + 1}@{c}")
        for n, c in enumerate(codes[:2])
    ]
    if codes:
        first = codes[0]
        users.append(
            DemoUser(
                f"records@{first}", N_("Records officer"), first, "records", "user/*.rs", f"records@{first}"
            )
        )
    users.append(
        DemoUser("system", N_("System administrator"), None, "system", "system/*.cruds", "console-admin")
    )
    return users


def _safe_next(target: object) -> str:
    """Where to go after login: a console path only (never another site)."""
    if isinstance(target, str) and target.startswith(CONSOLE_PREFIX + "/") and not target.startswith("//"):
        return target
    return CONSOLE_PREFIX + "/"


def _login_page(view: ConsoleView, *, error: str = "", status: int = 200) -> Response:
    dev = view.console.auth.dev_issuer is not None
    return view.render(
        "login.html",
        status=status,
        demo_users=demo_users(dict(view.institutions)) if dev else [],
        dev_issuer=dev,
        error=error,
        expired=view.request.query_params.get("expired") == "1",
        next=_safe_next(view.request.query_params.get("next") or view.form.get("next")),
    )


async def login(view: ConsoleView) -> Response:
    if not view.console.auth.enabled:
        return view.redirect("/")
    if view.request.method == "GET":
        return _login_page(view)
    token = str(view.form.get("token", "")).strip()
    picked = str(view.form.get("user", "")).strip()
    issuer = view.console.auth.dev_issuer
    if not token and picked and issuer is not None:
        user = next((u for u in demo_users(dict(view.institutions)) if u.key == picked), None)
        if user is None:
            return _login_page(view, error=view.gettext("Pick one of the listed users."), status=400)
        token = issuer.issue(
            user.institution, user.role, user.scopes, ttl=DEMO_SESSION_TTL, subject=user.subject
        )
    if not token:
        return _login_page(view, error=view.gettext("Pick a user or paste a token."), status=400)
    try:
        principal = await view.console.auth.principal({"authorization": f"Bearer {token}"})
    except OutcomeError as refused:
        message = view.gettext("This token was refused: %(reason)s", reason=str(refused))
        return _login_page(view, error=message, status=401)
    exp = principal.claims.get("exp")
    response = view.redirect_to(_safe_next(view.form.get("next")))
    view.console.signer.start_session(
        view.request, response, token, float(exp) if isinstance(exp, int | float) else None
    )
    view.console.signer.set_csrf(view.request, response, new_csrf_value())
    return response


async def logout(view: ConsoleView) -> Response:
    response = view.redirect("/login")
    view.console.signer.end_session(view.request, response)
    view.console.signer.set_csrf(view.request, response, new_csrf_value())
    return response


PAGES = (
    Page("/login", "login", N_("Log in"), login, in_nav=False, public=True, methods=("GET", "POST")),
    Page("/logout", "logout", N_("Log out"), logout, in_nav=False, public=True, methods=("POST",)),
)
