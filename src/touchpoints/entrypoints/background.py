"""The web app's background work, each piece a cleanup context: started with the app,
cancelled and awaited when it stops (STYLE.md §13)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from touchpoints.entrypoints.container import ACTIVITY_SYNC, SERVICES, Services
from touchpoints.ports.crm import CrmError
from touchpoints.ports.storage import StorageError
from touchpoints.services.event_sync import ActivitySync
from touchpoints.services.handover import return_due
from touchpoints.services.reconciliation import reconcile_all

log = logging.getLogger("touchpoints")

RECONCILE_EVERY_S = 10 * 60

RECONCILER = web.AppKey[asyncio.Task[None]]("reconciler")

HANDOVER_RETURNS_EVERY_S = 5 * 60

HANDOVER_RETURNS = web.AppKey[asyncio.Task[None]]("handover_returns")


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


async def activity_sync(app: web.Application) -> AsyncIterator[None]:
    """The per-portal workers that converge touch-points on Bitrix24's activity events."""
    services = app[SERVICES]
    app[ACTIVITY_SYNC] = sync = ActivitySync(services.storage, services.connector, services.clock)
    yield
    await sync.close()


async def reconciler(app: web.Application) -> AsyncIterator[None]:
    """The periodic reconciliation pass (DESIGN.md §3.5: at least every 15 minutes)."""
    task = asyncio.create_task(reconcile_forever(app[SERVICES]), name="touchpoints-reconciler")
    app[RECONCILER] = task
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def return_handovers_forever(
    services: Services, *, every_s: float = HANDOVER_RETURNS_EVERY_S
) -> None:
    """Give back the touch-points of hand-overs whose period ended (issue 16, item 6)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            closed = await return_due(
                storage=services.storage, connector=services.connector, clock=services.clock
            )
            if closed:
                log.info("hand-overs returned", extra={"closed": closed})
        except (StorageError, CrmError) as exc:
            log.warning("hand-over return pass failed: %s", type(exc).__name__)


async def handover_returns(app: web.Application) -> AsyncIterator[None]:
    """The periodic hand-over return pass."""
    task = asyncio.create_task(
        return_handovers_forever(app[SERVICES]), name="touchpoints-handover-returns"
    )
    app[HANDOVER_RETURNS] = task
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


BACKGROUND = (activity_sync, reconciler, handover_returns)
