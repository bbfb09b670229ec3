"""Running the HTTP server: the composition root that joins settings, a store and the app.

With one worker the app is built here and handed to uvicorn.  With several, uvicorn starts
worker processes that each import `app_from_environment` (an app factory) and build their own
app and repository from `YILIAN_*` environment variables, which `run_server` sets from the
resolved settings before it starts them: connection pools and SQLite handles must not be
shared across processes.

With several workers the listening socket is bound here rather than by uvicorn: uvicorn binds it
as `socket.socket(family)`, whose protocol number is 0, and asyncio switches Nagle's algorithm
off (TCP_NODELAY) only on accepted sockets whose protocol is IPPROTO_TCP.  Every response is
written as headers then body, so without TCP_NODELAY the body waited for the client's delayed
ACK: about 40 ms a request at two workers against 1.5 ms at one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from uvicorn.supervisors import Multiprocess

from yilian.api import create_app
from yilian.cli.audit_key import resolve_audit_key
from yilian.cli.database import check_url, with_repository
from yilian.cli.demo import with_demo_audit_key
from yilian.cli.keys import build_codec, with_demo_keys
from yilian.config import Settings, SettingsError, load_settings
from yilian.feeds.hl7_intake import Hl7Intake
from yilian.store.base import Repository
from yilian.store.factory import open_repository
from yilian.transports.mllp import MllpServer, TlsSettings

T = TypeVar("T")

__all__ = [
    "APP_FACTORY",
    "announce_auth",
    "app_from_environment",
    "build_app",
    "check_auth",
    "listening_socket",
    "mllp_server",
    "prepared_settings",
    "run_server",
    "with_audit_key",
    "within_app",
]

AUTH_OFF_WARNING = (
    "AUTHENTICATION IS OFF. Every request is served as the alliance's system client, with "
    "every institution's records readable and writable by anyone who can reach this port. "
    "For local development only: never expose this server."
)


def check_auth(settings: Settings) -> None:
    """Refuse settings under which no request could ever be authenticated."""
    if settings.auth == "on" and not settings.issuers and not settings.auth_dev_issuer:
        raise SettingsError(
            "auth is on but no token issuer is trusted. On a local machine add --dev-issuer (or "
            "YILIAN_AUTH_DEV_ISSUER=true) and take tokens from `yilian token`; in a deployment trust "
            "your identity provider in a TOML file passed with --config: [[yilian.issuers]] "
            'issuer = "https://sso.example.cn/realms/alliance" jwks_url = "https://sso.example.cn/'
            'realms/alliance/protocol/openid-connect/certs" (docs/configuration.md)'
        )


def announce_auth(settings: Settings, console: Console) -> None:
    """Say how callers authenticate; loudly (red, boxed) when they do not."""
    if settings.auth == "off":
        console.print(Panel(AUTH_OFF_WARNING, title="WARNING", style="bold red", border_style="red"))
        return
    trusted = [i.issuer for i in settings.issuers]
    if settings.auth_dev_issuer:
        trusted.append(f"development issuer (key {settings.dev_issuer_key}; tokens from `yilian token`)")
    console.print(f"bearer tokens required (audience {settings.audience!r}) from: " + "; ".join(trusted))


def with_audit_key(settings: Settings, console: Console) -> Settings:
    """`settings` with the audit trail's checkpoint key in force (cli/audit_key.py: the
    configured key, else the key file, made on first start), said where it is; the trail
    switched off (`audit = "off"`) is announced as loudly as `--auth off`."""
    try:
        resolved = resolve_audit_key(settings)
    except SettingsError as exc:
        Console(stderr=True).print("[red]invalid settings:[/red]", escape(str(exc)))
        raise SystemExit(2) from None
    if settings.audit == "off":
        console.print(Panel(resolved.message, title="WARNING", style="bold red", border_style="red"))
    elif resolved.warning:
        console.print(f"[bold yellow]{escape(resolved.message)}[/bold yellow]")
    else:
        console.print(escape(resolved.message))
    return resolved.settings


APP_FACTORY = "yilian.cli.serve:app_from_environment"


def build_app(settings: Settings) -> FastAPI:
    """An app over a repository opened (in its lifespan) from `settings.database_url`; with
    `hl7_port` set, its lifespan runs the MLLP listener too (same intake, router and audit)."""
    app = create_app(settings, open_repository(settings.database_url, codec=build_codec(settings)))
    if settings.hl7_port:
        with_mllp_listener(app, settings)
    return app


def prepared_settings(settings: Settings) -> Settings:
    """`settings` ready for a command that runs the server's composition: the database URL
    checked and the database reachable (one line if not), the demo keys of a demo database,
    the audit key (said on stderr, so a command's output stays its own)."""
    check_url(settings.database_url)
    with_repository(settings.database_url, _nothing)
    settings = with_demo_audit_key(with_demo_keys(settings, create=False), create=False)
    return with_audit_key(settings, Console(stderr=True))


async def _nothing(repository: Repository) -> None:
    return None


async def within_app(settings: Settings, run: Callable[[FastAPI], Awaitable[T]]) -> T:
    """Run `run` inside the server's own composition (the app's lifespan: repository, router,
    access policy, audit trail), without serving HTTP, so a CLI command that writes (an HL7
    replay, a front-sheet import) is checked and audited as a request would be."""
    app = build_app(settings.replace(hl7_port=0))
    async with app.router.lifespan_context(app):
        return await run(app)


def mllp_server(settings: Settings, intake: Hl7Intake, port: int | None = None) -> MllpServer:
    tls = (
        TlsSettings(settings.hl7_tls_cert, settings.hl7_tls_key, settings.hl7_tls_client_ca)
        if settings.hl7_tls_cert
        else None
    )
    return MllpServer(
        intake,
        settings.hl7_host or settings.host,
        settings.hl7_port if port is None else port,
        tls=tls,
        max_message_bytes=settings.hl7_max_message_bytes,
        reuse_port=settings.workers > 1,
    )


def with_mllp_listener(app: FastAPI, settings: Settings) -> None:
    """Start the MLLP listener after the app's own start-up and stop it before its shutdown."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            server = mllp_server(settings, app_.state.hl7_intake)
            app_.state.mllp_port = await server.start()
            try:
                yield state
            finally:
                await server.close()

    app.router.lifespan_context = lifespan


def app_from_environment() -> FastAPI:
    """The factory uvicorn worker processes call (settings from the environment only)."""
    return build_app(load_settings())


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket the worker processes inherit, created with IPPROTO_TCP named so that
    asyncio sets TCP_NODELAY on every connection it accepts (see the module docstring)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port or --host"
        ) from exc
    sock.set_inheritable(True)
    return sock


def with_console_key(settings: Settings) -> Settings:
    """`settings` with the console's cookie key settled before any worker starts, so a session
    signed by one worker is read by the next: the configured key, else a file under
    `data_dir` (mode 0600, made on first start)."""
    if settings.console_session_key:
        return settings
    path = settings.data_path / "console-session-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with (
            contextlib.suppress(FileExistsError),
            os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out,
        ):
            out.write(secrets.token_urlsafe(32) + "\n")
    return settings.replace(console_session_key=path.read_text().strip())


def run_server(settings: Settings) -> None:
    """Serve until interrupted, recording to the audit trail unless it is switched off (the
    key is settled here, once, so worker processes inherit it through the environment)."""
    settings = with_console_key(with_audit_key(settings, Console()))
    log_level = settings.log_level.lower()
    # uvicorn's access log (a formatted line per request, under load a sizeable share of a
    # read's CPU) only at debug level: who read what is the audit trail's job.
    access_log = log_level in ("debug", "trace")
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        os.environ.pop("YILIAN_CONFIG", None)  # the environment now carries every setting
        config = uvicorn.Config(
            APP_FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=log_level,
            access_log=access_log,
        )
        sock = listening_socket(settings.host, settings.port)
        try:
            Multiprocess(config, sockets=[sock]).run()
        except KeyboardInterrupt:
            pass
        finally:
            sock.close()
        return
    uvicorn.run(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=access_log,
    )
