"""A benchmark stack: the real app on the embedded Postgres, talking to the Bitrix24 emulator.

Shared by the board, events and soak benchmarks. Run from the repository root.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import attrs
from aiohttp import web
from tests.fakes.bitrix24 import Bitrix24Emulator, EmulatorClock
from tests.net import free_port

from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.bitrix24.throttle import Throttle
from touchpoints.adapters.postgres import TokenCipher, open_storage, resolve_dsn
from touchpoints.adapters.postgres.event_inbox import PostgresEventInbox
from touchpoints.adapters.postgres.rate_budget import PostgresRateBudget
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.model import NewTouchPoint, OwnerRef, TouchPointType
from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints.app import web_app
from touchpoints.entrypoints.config import PrivacyConfig
from touchpoints.entrypoints.container import Services
from touchpoints.entrypoints.sessions import SessionSealer
from touchpoints.services.installation import Handlers

SECRET = Secret("benchmark-secret-key-0123456789abcdefgh")


def planned_call(
    *,
    portal_id: int,
    activity_id: int,
    owner: OwnerRef,
    deadline: datetime,
    created_at: datetime,
    responsible_id: int = 1,
) -> NewTouchPoint:
    """A call touch-point a user planned for themselves: what every bench seeds."""
    return NewTouchPoint(
        portal_id=portal_id,
        activity_id=activity_id,
        owner=owner,
        type=TouchPointType.CALL,
        deadline=deadline,
        responsible_id=responsible_id,
        created_by=responsible_id,
        created_at=created_at,
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(latencies: list[float]) -> str:
    return (
        f"p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms, mean {statistics.fmean(latencies) * 1000:.1f} ms"
    )


@attrs.define
class Stack:
    b24: Bitrix24Emulator
    storage: PostgresStorage
    http: aiohttp.ClientSession
    base_url: str

    async def install(self, **kwargs: Any) -> str:
        launch = self.b24.install(**kwargs)
        async with self.http.post(
            f"{self.base_url}/b24/install", params=launch.query, data=launch.form
        ) as response:
            assert response.status == 200, await response.text()
        member_id = launch.form["member_id"]
        await self.b24.install_finish(member_id)
        await self.b24.drain_events()
        return member_id

    async def session_for(self, member_id: str, user_id: int) -> str:
        launch = self.b24.frame_launch(member_id, user_id)
        async with self.http.post(
            f"{self.base_url}/b24/app", params=launch.query, data=launch.form
        ) as response:
            page = await response.text()
        match = re.search(r'name="tp-session" content="([^"]+)"', page)
        assert match is not None, page[:300]
        return match.group(1)

    async def portal_id(self, member_id: str) -> int:
        async with self.storage.unit_of_work() as uow:
            portal = await uow.portals.get_by_member_id(member_id)
        assert portal is not None
        return portal.id


@asynccontextmanager
async def app_stack(
    *,
    latency: float = 0.0,
    data_dir: Path | None = None,
    throttle: Throttle | None = None,
    as_served: bool = False,
) -> AsyncIterator[Stack]:
    """The app (real adapters, embedded Postgres) served on loopback, and the emulator.

    ``as_served`` adds what ``touchpoints serve`` wires on Postgres besides the storage: the
    event inbox and the shared Bitrix24 budget (then ``throttle`` must be None).
    """
    with tempfile.TemporaryDirectory(prefix="tp-bench-") as scratch:
        directory = data_dir or Path(scratch)
        storage = await open_storage(None, directory, TokenCipher(SECRET), max_size=10)
        inbox = budget = None
        if as_served:
            dsn = await resolve_dsn(None, directory)
            inbox = await PostgresEventInbox.open(dsn)
            budget = await PostgresRateBudget.open(dsn)
            throttle = Throttle(shared=budget)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        try:
            async with (
                Bitrix24Emulator(clock=EmulatorClock(), latency=latency) as b24,
                aiohttp.ClientSession() as session,
                aiohttp.ClientSession() as http,
            ):
                oauth = BitrixOAuthServer(
                    session,
                    b24.client_id,
                    Secret(b24.client_secret),
                    b24.oauth_url,
                    clock=b24.clock,
                    allow_http=True,
                )
                connector = BitrixConnector(
                    session, oauth, storage, b24.clock, throttle, allow_http=True
                )
                services = Services(
                    storage=storage,
                    connector=connector,
                    oauth=oauth,
                    messenger=BitrixMessenger(connector),
                    clock=b24.clock,
                    sealer=SessionSealer(SECRET),
                    handlers=Handlers.under(base_url),
                    privacy=PrivacyConfig(),
                    allow_http=True,
                    inbox=inbox,
                )
                runner = web.AppRunner(web_app(services), access_log=None)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", port).start()
                try:
                    yield Stack(b24, storage, http, base_url)
                finally:
                    await runner.cleanup()
        finally:
            for side in (inbox, budget):
                if side is not None:
                    await side.close()
            await storage.close()


@asynccontextmanager
async def bare_server() -> AsyncIterator[str]:
    """A bare aiohttp handler answering 200, the floor for the same machine and client."""

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_post("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


def now() -> float:
    return time.perf_counter()
