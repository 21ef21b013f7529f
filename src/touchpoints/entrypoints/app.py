"""The aiohttp application: routes, middlewares and static assets around shared services."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from touchpoints.entrypoints import api, b24, pages, reports_api
from touchpoints.entrypoints.container import SERVICES, Services
from touchpoints.entrypoints.http import (
    HTTPS_KEY,
    MAX_BODY,
    error_middleware,
    json_reply,
    security_headers,
)
from touchpoints.entrypoints.openapi import openapi_document
from touchpoints.ports.storage import StorageError


async def healthz(_request: web.Request) -> web.Response:
    """The process is alive (no dependency checked)."""
    return json_reply({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """The database answers and its migrations are applied."""
    try:
        await request.app[SERVICES].storage.ping()
    except StorageError:
        return json_reply({"status": "unavailable", "database": "unreachable"}, status=503)
    return json_reply({"status": "ready"})


async def privacy(request: web.Request) -> web.Response:
    return pages.privacy_page(request.app[SERVICES].privacy)


async def openapi(_request: web.Request) -> web.Response:
    return json_reply(openapi_document())


def static_dir() -> Path:
    return Path(str(resources.files("touchpoints.entrypoints").joinpath("static")))


def create_app(services: Services, *, https: bool = False) -> web.Application:
    """The web app around ``services`` (built by the composition root, or by tests)."""
    app = web.Application(
        middlewares=[error_middleware, security_headers], client_max_size=MAX_BODY
    )
    app[SERVICES] = services
    app[HTTPS_KEY] = https
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/privacy", privacy)
    app.router.add_get("/api/openapi.json", openapi)
    b24.add_routes(app)
    api.add_routes(app)
    reports_api.add_routes(app)
    static = static_dir()
    if static.is_dir():
        app.router.add_static(pages.STATIC_PREFIX, static, append_version=False)

    async def drain_background(app: web.Application) -> None:
        await app[SERVICES].background.drain()

    app.on_shutdown.append(drain_background)
    return app
