"""The aiohttp application: routes, middlewares and static assets around shared services.

``create_app(config)`` is the web app's composition root: its services, background tasks
and a plugin's pieces (``Overrides``) all open and close in ``cleanup_ctx``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web, web_fileresponse

from touchpoints.entrypoints import api, b24, bot, pages
from touchpoints.entrypoints.background import BACKGROUND
from touchpoints.entrypoints.config import Config
from touchpoints.entrypoints.container import SERVICES, Services
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
from touchpoints.entrypoints.runtime import Overrides, build_services
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


def static_dir() -> Path:
    return Path(str(resources.files("touchpoints.entrypoints").joinpath("static")))


def create_app(config: Config, *, overrides: Overrides | None = None) -> web.Application:
    """The web app built from ``config``: services open at startup and close at cleanup.

    A plugin's ``overrides`` replace adapters, add routes in front of the app's own and
    contexts that run once the services are open.
    """
    overrides = overrides or Overrides()
    app = _application(https=(config.public_url or "").startswith("https"), front=overrides.routes)

    async def services(app: web.Application) -> AsyncIterator[None]:
        async with build_services(config, overrides) as built:
            app[SERVICES] = built
            yield

    app.cleanup_ctx.append(services)
    app.cleanup_ctx.extend(overrides.contexts)
    app.cleanup_ctx.extend(BACKGROUND)
    return app


def web_app(services: Services, *, https: bool = False) -> web.Application:
    """The same web app around ``services`` already built (tests, benchmarks)."""
    app = _application(https=https)
    app[SERVICES] = services
    app.cleanup_ctx.extend(BACKGROUND)
    return app


def _application(
    *, https: bool, front: Callable[[web.Application], None] | None = None
) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=MAX_BODY)
    app[HTTPS_KEY] = https
    metrics = Metrics()
    app[METRICS] = metrics
    app[OBSERVE_KEY] = metrics.observe_request
    if front is not None:
        # First registered, first matched: a plugin's route wins over the app's own.
        front(app)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/privacy", privacy)
    document = openapi_document(api.ROUTES)

    async def openapi(_request: web.Request) -> web.Response:
        return json_reply(document)

    app.router.add_get("/api/openapi.json", openapi)
    b24.add_routes(app)
    bot.add_routes(app)
    api.add_routes(app)
    static = static_dir()
    if static.is_dir():
        # aiohttp names static types from its own table, which lacks woff2 (Open Sans).
        web_fileresponse.CONTENT_TYPES.add_type("font/woff2", ".woff2")
        app.router.add_static(pages.STATIC_PREFIX, static, append_version=False)
    app.cleanup_ctx.append(_observe_b24)
    return app


async def _observe_b24(app: web.Application) -> AsyncIterator[None]:
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
