"""The HTTP edge: the only package that imports FastAPI / Starlette.  `create_app` builds the
ASGI application for a repository and settings; everything FHIR happens in the router."""

from yilian.api.app import create_app

__all__ = ["create_app"]
