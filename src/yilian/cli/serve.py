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

from yilian.api import create_app
from yilian.cli.keys import build_codec
from yilian.config import Settings, load_settings
from yilian.store.factory import open_repository

__all__ = ["APP_FACTORY", "app_from_environment", "build_app", "run_server"]

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
