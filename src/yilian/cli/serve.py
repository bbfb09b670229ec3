"""Running the HTTP server: the composition root that joins settings, a store and the app.

With one worker the app is built here and handed to uvicorn.  With several, uvicorn starts
worker processes that each import `app_from_environment` (an app factory) and build their own
app and repository from `YILIAN_*` environment variables, which `run_server` sets from the
resolved settings before it starts them: connection pools and SQLite handles must not be
shared across processes.
"""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.panel import Panel

from yilian.api import create_app
from yilian.cli.keys import build_codec
from yilian.config import Settings, SettingsError, load_settings
from yilian.store.factory import open_repository

__all__ = ["APP_FACTORY", "announce_auth", "app_from_environment", "build_app", "check_auth", "run_server"]

AUTH_OFF_WARNING = (
    "AUTHENTICATION IS OFF. Every request is served as the alliance's system client, with "
    "every institution's records readable and writable by anyone who can reach this port. "
    "For local development only: never expose this server."
)


def check_auth(settings: Settings) -> None:
    """Refuse settings under which no request could ever be authenticated."""
    if settings.auth == "on" and not settings.issuers and not settings.auth_dev_issuer:
        raise SettingsError(
            "auth is on but no token issuer is trusted: configure `issuers` (your identity "
            "provider's JWKS), or set auth_dev_issuer = true for development tokens (`yilian token`)"
        )


def announce_auth(settings: Settings, console: Console) -> None:
    """Say how callers authenticate; loudly (red, boxed) when they do not."""
    if settings.auth == "off":
        console.print(Panel(AUTH_OFF_WARNING, title="WARNING", style="bold red", border_style="red"))
        return
    trusted = [i.issuer for i in settings.issuers]
    if settings.auth_dev_issuer:
        trusted.append(f"development issuer (key {settings.dev_issuer_key_path}; tokens from `yilian token`)")
    console.print(f"bearer tokens required (audience {settings.audience!r}) from: " + "; ".join(trusted))
    if not settings.audit_signing_key:
        console.print(
            "[yellow]audit trail off: set audit_signing_key to record every access in the "
            "hash-chained log[/yellow]"
        )


APP_FACTORY = "yilian.cli.serve:app_from_environment"


def build_app(settings: Settings) -> FastAPI:
    """An app over a repository opened (in its lifespan) from `settings.db_url`."""
    return create_app(settings, open_repository(settings.db_url, codec=build_codec(settings)))


def app_from_environment() -> FastAPI:
    """The factory uvicorn worker processes call (settings from the environment only)."""
    return build_app(load_settings())


def run_server(settings: Settings) -> None:
    """Serve until interrupted."""
    log_level = settings.log_level.lower()
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        os.environ.pop("YILIAN_CONFIG", None)  # the environment now carries every setting
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=log_level,
        )
        return
    uvicorn.run(build_app(settings), host=settings.host, port=settings.port, log_level=log_level)
