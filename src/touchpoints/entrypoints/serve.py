"""``touchpoints serve``, ``migrate`` and ``feedback``: the production entrypoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from datetime import datetime

from aiohttp import web

from touchpoints.adapters.postgres import apply_migrations, resolve_dsn
from touchpoints.entrypoints.app import create_app
from touchpoints.entrypoints.config import Config, ConfigError
from touchpoints.entrypoints.container import Services
from touchpoints.entrypoints.inputs import printable
from touchpoints.entrypoints.listener import serve_until_stopped
from touchpoints.entrypoints.runtime import build_services, open_database
from touchpoints.ports.crm import CrmError
from touchpoints.ports.storage import Feedback, StorageError
from touchpoints.services.reconciliation import reconcile_all

log = logging.getLogger("touchpoints")

RECONCILE_EVERY_S = 10 * 60


async def reconcile_forever(services: Services, *, every_s: float = RECONCILE_EVERY_S) -> None:
    """Repair drift every few minutes (Bitrix24 never re-sends a failed event)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            summary = await reconcile_all(
                storage=services.storage, connector=services.connector, clock=services.clock
            )
            log.info("reconciliation pass done", extra=summary)
        except (StorageError, CrmError) as exc:
            log.warning("reconciliation pass failed: %s", type(exc).__name__)


def serve(
    config: Config, *, host: str, port: int, tls_cert: str | None, tls_key: str | None
) -> int:
    config.require_serving()
    ssl_context = None
    if tls_cert or tls_key:
        if not (tls_cert and tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(tls_cert, tls_key)

    return _run(config, host=host, port=port, ssl_context=ssl_context)


def _run(config: Config, *, host: str, port: int, ssl_context: ssl.SSLContext | None) -> int:
    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            services = await stack.enter_async_context(build_services(config))
            serving = config.require_serving()
            app = create_app(services, https=serving.public_url.startswith("https"))
            reconciler = asyncio.create_task(reconcile_forever(services))

            async def close(_app: web.Application) -> None:
                reconciler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reconciler

            app.on_cleanup.append(close)
            await serve_until_stopped(
                app,
                host=host,
                port=port,
                ssl_context=ssl_context,
                on_started=lambda: log.info("serving", extra={"host": host, "port": port}),
            )

    asyncio.run(main())
    return 0


def migrate(config: Config) -> int:
    async def run() -> int:
        dsn = await resolve_dsn(config.database_url, config.data_dir)
        return await asyncio.to_thread(apply_migrations, dsn)

    applied = asyncio.run(run())
    print(f"applied {applied} migration(s)")
    return 0


def feedback_lines(item: Feedback) -> str:
    """One feedback message for the operator's terminal, the user's text escaped."""
    email = f" <{printable(item.email)}>" if item.email else ""
    return (
        f"{item.created_at.isoformat()}  portal {item.portal_id}  user {item.user_id}{email}\n"
        f"    {printable(item.message)}"
    )


def print_feedback(config: Config, *, since: datetime | None) -> int:
    async def run() -> int:
        async with open_database(config, max_size=2) as storage, storage.unit_of_work() as uow:
            items = await uow.feedback.since(since)
        for item in items:
            print(feedback_lines(item))
        print(f"{len(items)} message(s)")
        return 0

    return asyncio.run(run())
