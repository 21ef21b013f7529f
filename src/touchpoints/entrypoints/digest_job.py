"""``touchpoints digest``: one pass for cron (``--once``) or a pass a minute until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import datetime

from touchpoints.adapters.clock import OffsetClock, SystemClock
from touchpoints.domain.portal import Portal
from touchpoints.entrypoints.config import Config
from touchpoints.entrypoints.container import Services
from touchpoints.entrypoints.runtime import build_services
from touchpoints.ports.clock import Clock
from touchpoints.ports.storage import StorageError
from touchpoints.services.digest import DigestSummary, portal_base, run_digest_pass

log = logging.getLogger("touchpoints.digest")

PASS_EVERY_S = 60.0


async def one_pass(services: Services, client_id: str) -> DigestSummary:
    def link(portal: Portal) -> str:
        return f"{portal_base(portal)}/marketplace/app/{client_id}/"

    return await run_digest_pass(
        storage=services.storage,
        connector=services.connector,
        messenger=services.messenger,
        now=services.clock.now(),
        board_url=link,
    )


async def digest_main(config: Config, *, once: bool, now: datetime | None) -> int:
    serving = config.require_serving()
    clock: Clock = SystemClock() if now is None else OffsetClock(now)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with build_services(config, clock=clock) as services:
        while True:
            try:
                summary = await one_pass(services, serving.b24.client_id)
                print(
                    f"digest: {summary.portals} portal(s), {summary.due_portals} due, "
                    f"{summary.sent} sent, {summary.skipped} skipped, {summary.failed} failed, "
                    f"{summary.dead_portals} dead",
                    flush=True,
                )
            except StorageError as exc:
                log.warning("digest pass failed: %s", type(exc).__name__)
                if once:
                    return 1
            if once:
                return 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=PASS_EVERY_S)
            if stop.is_set():
                return 0


def run_digest_command(config: Config, *, once: bool, now: datetime | None) -> int:
    return asyncio.run(digest_main(config, once=once, now=now))
