"""The database stops and starts again while the app runs: 503 meanwhile, back by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from aiohttp.test_utils import TestClient, TestServer

from touchpoints.adapters.clock import SystemClock
from touchpoints.adapters.memory.crm import (
    MemoryCrm,
    MemoryCrmConnector,
    MemoryMessenger,
    MemoryOAuthServer,
)
from touchpoints.adapters.postgres import TokenCipher, open_storage
from touchpoints.adapters.postgres.embedded import _servers, ensure_embedded
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings
from touchpoints.entrypoints.app import create_app
from touchpoints.entrypoints.config import PrivacyConfig
from touchpoints.entrypoints.container import Services
from touchpoints.entrypoints.sessions import SessionSealer
from touchpoints.services.installation import Handlers

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KEY = Secret("outage-secret-key-0123456789abcdefghijk")


@attrs.define
class Outage:
    client: TestClient  # type: ignore[type-arg]
    storage: PostgresStorage
    data_dir: Path
    session: str

    def stop_database(self) -> None:
        server = _servers[(self.data_dir / "postgres").resolve()]
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)

    def start_database(self) -> None:
        ensure_embedded(self.data_dir)


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[Outage]:
    # A server of its own: stopping it must not disturb the rest of the suite.
    data_dir = tmp_path / "outage"
    storage = await open_storage(None, data_dir, TokenCipher(KEY), max_size=4)
    clock = SystemClock()
    world = MemoryCrm(clock)
    member_id = world.add_portal(domain="outage.bitrix24.test")
    world.add_user(member_id, 1, name="Admin", admin=True)
    install = world.install(member_id, 1)
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.create(install, now=clock.now())
        await uow.settings.put(
            portal.id, PortalSettings(time_zone="Europe/Berlin"), now=clock.now()
        )
    sealer = SessionSealer(KEY)
    token, _ = sealer.issue(
        portal_id=portal.id,
        member_id=member_id,
        user_id=1,
        is_admin=True,
        access_token=world.issue_token(member_id, 1),
        token_expires_at=clock.now() + timedelta(hours=1),
        now=clock.now(),
    )
    services = Services(
        storage=storage,
        connector=MemoryCrmConnector(world),
        oauth=MemoryOAuthServer(world),
        messenger=MemoryMessenger(world),
        clock=clock,
        sealer=sealer,
        handlers=Handlers.under("http://127.0.0.1"),
        privacy=PrivacyConfig(),
        allow_http=True,
    )
    async with TestClient(TestServer(create_app(services))) as client:
        try:
            yield Outage(client, storage, data_dir, token)
        finally:
            await storage.close()


async def test_the_app_answers_503_while_the_database_is_down_and_recovers_by_itself(
    outage: Outage,
) -> None:
    headers = {"Authorization": f"Bearer {outage.session}"}
    assert (await outage.client.get("/readyz")).status == 200
    assert (await outage.client.get("/api/v1/settings", headers=headers)).status == 200

    await asyncio.to_thread(outage.stop_database)
    started = time.monotonic()
    ready = await outage.client.get("/readyz")
    assert ready.status == 503
    reply = await outage.client.get("/api/v1/settings", headers=headers)
    assert reply.status == 503
    assert (await reply.json())["code"] == "DB_UNAVAILABLE"
    assert time.monotonic() - started < 30
    assert (await outage.client.get("/healthz")).status == 200

    await asyncio.to_thread(outage.start_database)
    back = time.monotonic()
    while time.monotonic() - back < 30:
        if (await outage.client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("not ready within 30 s of the database's return")
    reply = await outage.client.get("/api/v1/settings", headers=headers)
    assert reply.status == 200
    assert (await reply.json())["time_zone"] == "Europe/Berlin"
