"""The aiohttp application: routes, middlewares and static assets around shared services."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from aiohttp import web, web_fileresponse

from touchpoints.entrypoints import api, b24, pages
from touchpoints.entrypoints.container import ACTIVITY_SYNC, SERVICES, Services
from touchpoints.entrypoints.http import (
    HTTPS_KEY,
    MAX_BODY,
    MIDDLEWARES,
    OBSERVE_KEY,
    json_reply,
)
from touchpoints.entrypoints.metrics import (
    B24_LOGGER,
    METRICS,
    B24LogObserver,
    Metrics,
    metrics_handler,
)
from touchpoints.entrypoints.openapi import openapi_document
from touchpoints.ports.storage import StorageError
from touchpoints.services.event_sync import ActivitySync


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


def static_dir() -> Path:
    return Path(str(resources.files("touchpoints.entrypoints").joinpath("static")))


def create_app(services: Services, *, https: bool = False) -> web.Application:
    """The web app around ``services`` (built by the composition root, or by tests)."""
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=MAX_BODY)
    app[SERVICES] = services
    app[HTTPS_KEY] = https
    app[ACTIVITY_SYNC] = ActivitySync(services.storage, services.connector, services.clock)
    metrics = Metrics()
    app[METRICS] = metrics
    app[OBSERVE_KEY] = metrics.observe_request
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/privacy", privacy)
    document = openapi_document(api.ROUTES)

    async def openapi(_request: web.Request) -> web.Response:
        return json_reply(document)

    app.router.add_get("/api/openapi.json", openapi)
    b24.add_routes(app)
    api.add_routes(app)
    static = static_dir()
    if static.is_dir():
        # aiohttp names static types from its own table, which lacks woff2 (Open Sans).
        web_fileresponse.CONTENT_TYPES.add_type("font/woff2", ".woff2")
        app.router.add_static(pages.STATIC_PREFIX, static, append_version=False)

    async def observe_b24(app: web.Application) -> AsyncIterator[None]:
        observer = B24LogObserver(app[METRICS])
        logger = logging.getLogger(B24_LOGGER)
        previous_level = logger.level
        # Call records are INFO; metrics need them whatever the log level shows.
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)
        logger.addHandler(observer)
        yield
        logger.removeHandler(observer)
        logger.setLevel(previous_level)

    async def drain_background(app: web.Application) -> None:
        await app[ACTIVITY_SYNC].close()

    app.cleanup_ctx.append(observe_b24)
    app.on_shutdown.append(drain_background)
    return app
