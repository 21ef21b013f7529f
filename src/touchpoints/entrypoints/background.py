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
from touchpoints.ports.event_inbox import EventInbox
from touchpoints.ports.storage import StorageError
from touchpoints.services.event_sync import ActivitySync
from touchpoints.services.handover import return_due
from touchpoints.services.reconciliation import reconcile_all

log = logging.getLogger("touchpoints")

RECONCILE_EVERY_S = 10 * 60
INBOX_EVERY_S = 1.0
INBOX_BATCH = 500
INBOX_CLAIM_LEASE_S = 30.0

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
    app[ACTIVITY_SYNC] = sync = ActivitySync(
        services.storage, services.connector, services.clock, inbox=services.inbox
    )
    yield
    await sync.close()


async def drain_inbox_forever(
    sync: ActivitySync, inbox: EventInbox, *, every_s: float = INBOX_EVERY_S
) -> None:
    """Take over recorded events whose lease ran out: a crashed process's, a failed sync's."""
    while True:
        try:
            entries = await inbox.claim(limit=INBOX_BATCH, lease_s=INBOX_CLAIM_LEASE_S)
            if entries:
                queued = await sync.take_over(entries)
                log.info("event inbox: took over %d event(s)", queued)
        except StorageError as exc:
            log.warning("event inbox drain failed: %s", type(exc).__name__)
        await asyncio.sleep(every_s)


INBOX_DRAINER = web.AppKey[asyncio.Task[None]]("inbox_drainer")


async def inbox_drainer(app: web.Application) -> AsyncIterator[None]:
    """Every replica drains the event inbox (FOR UPDATE SKIP LOCKED splits the rows)."""
    inbox = app[SERVICES].inbox
    if inbox is None:
        yield
        return
    task = asyncio.create_task(
        drain_inbox_forever(app[ACTIVITY_SYNC], inbox), name="touchpoints-inbox"
    )
    app[INBOX_DRAINER] = task
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


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


BACKGROUND = (activity_sync, reconciler, inbox_drainer, handover_returns)
