"""``touchpoints digest``: one pass for cron (``--once``) or a pass a minute until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from datetime import datetime

from touchpoints.adapters.clock import OffsetClock, SystemClock
from touchpoints.domain.portal import Portal
from touchpoints.entrypoints.config import Config
from touchpoints.entrypoints.container import Services
from touchpoints.entrypoints.heap import settle_heap
from touchpoints.entrypoints.runtime import build_services
from touchpoints.ports.clock import Clock
from touchpoints.ports.storage import StorageError
from touchpoints.services.bot_digest import app_links
from touchpoints.services.digest import BoardUrl, DigestSummary, run_digest_pass

log = logging.getLogger("touchpoints.digest")

PASS_EVERY_S = 60.0
EXIT_INTERRUPTED = 130


def board_link(client_id: str) -> BoardUrl:
    """The app's page in the portal, which opens the board (BITRIX24.md §15's example): the
    bot digest's own link, so the portal's app code serves both."""
    links = app_links(client_id)

    def link(portal: Portal) -> str:
        return links(portal).board_url

    return link


async def one_pass(
    services: Services, *, clock: Clock, board_url: BoardUrl, stop: asyncio.Event | None = None
) -> DigestSummary:
    """One digest pass with the composition root's adapters and the pass's own clock."""
    return await run_digest_pass(
        storage=services.storage,
        connector=services.connector,
        messenger=services.messenger,
        clock=clock,
        board_url=board_url,
        catalogue=services.catalogue,
        stop=stop,
        bots=services.bots,
        links=app_links(services.app_code),
    )


async def digest_main(
    config: Config, *, once: bool, now: datetime | None, every_s: float = PASS_EVERY_S
) -> int:
    """Run one pass (``once``) or a pass every ``every_s`` seconds until SIGTERM/SIGINT.

    The first signal lets the portals in flight finish and starts no new ones; a second
    one cancels at once (claims left pending are recovered by a later pass). ``now`` sets
    the digest's clock only: tokens still expire by the real one.

    Returns the exit status: 0, or 1 when the database could not be used.
    """
    serving = config.require_serving()
    # ``--now`` moves the digest's idea of time (backfills, tests), then runs on from there.
    clock: Clock = SystemClock() if now is None else OffsetClock(now)
    link = board_link(serving.b24.client_id)
    stop = asyncio.Event()
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set() and main is not None:
            main.cancel()
            return
        log.info("digest: stopping after the portals in flight")
        stop.set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    try:
        async with build_services(config) as services:
            settle_heap()
            while True:
                started = loop.time()
                try:
                    summary = await one_pass(services, clock=clock, board_url=link, stop=stop)
                except StorageError as exc:
                    log.warning("digest pass failed: %s", type(exc).__name__)
                    if once:
                        return 1
                else:
                    if once:
                        print(f"digest: {summary.line()}", flush=True)
                        return 0
                if stop.is_set():
                    return 0
                wait = max(0.0, started + every_s - loop.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                if stop.is_set():
                    return 0
    except StorageError as exc:
        print(f"touchpoints: the database is unavailable: {type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


def run_digest_command(config: Config, *, once: bool, now: datetime | None) -> int:
    """``touchpoints digest [--once] [--now ISO]``; returns the exit status."""
    try:
        return asyncio.run(digest_main(config, once=once, now=now))
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
