"""The aiohttp app on real Postgres, talking to the HTTP emulator of Bitrix24 over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.fakes.bitrix24 import Bitrix24Emulator, EmulatorClock, FrameLaunch
from tests.net import free_port
from touchpoints.adapters.bitrix24.bot import BitrixBotChannel
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.bitrix24.throttle import RetryPolicy
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.model import OwnerType
from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints.app import web_app
from touchpoints.entrypoints.config import PrivacyConfig
from touchpoints.entrypoints.container import ACTIVITY_SYNC, Services
from touchpoints.entrypoints.sessions import SessionSealer
from touchpoints.services.installation import Handlers

APP_SECRET = Secret("integration-secret-key-0123456789abcdef")


@attrs.define
class Harness:
    """The app under test, the emulated Bitrix24 and the shared pieces between them."""

    b24: Bitrix24Emulator
    client: TestClient[web.Request, web.Application]
    services: Services
    storage: PostgresStorage
    base_url: str
    dsn: str

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/b24/events"

    async def install(self, **kwargs: Any) -> str:
        """Install on a new emulated portal as Bitrix24 does; returns its member_id."""
        launch = self.b24.install(**kwargs)
        response = await self.post_frame("/b24/install", launch)
        assert response.status == 200, await response.text()
        assert "installFinish" in await response.text()
        member_id = launch.form["member_id"]
        await self.b24.install_finish(member_id)
        await self.b24.drain_events()
        return member_id

    async def services_drain(self) -> None:
        """Wait for the app's event sync workers to finish what the events queued."""
        await self.client.app[ACTIVITY_SYNC].drained()

    async def create_touch_point(
        self,
        member_id: str,
        session: str,
        *,
        type_: str = "call",
        days: float = 2,
        deal_id: int | None = None,
        deadline: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a touch-point through the API (on ``deal_id``, or a new deal) due ``days``
        from now or at ``deadline``; ``extra`` adds body fields. Returns the reply."""
        if deal_id is None:
            deal_id = self.b24.add_record(member_id, OwnerType.DEAL, title="Fleet").id
        if deadline is None:
            deadline = self.b24.clock.now().replace(microsecond=0) + timedelta(days=days)
        status, body = await self.api(
            "POST",
            "/api/v1/touchpoints",
            session,
            json={
                "owner": {"type": "deal", "id": deal_id},
                "type": type_,
                "deadline": deadline.isoformat(),
                **extra,
            },
        )
        assert status == 201, body
        return dict(body)

    async def post_frame(self, path: str, launch: FrameLaunch) -> aiohttp.ClientResponse:
        return await self.client.post(path, params=launch.query, data=launch.form)

    async def session_for(self, member_id: str, user_id: int, **kwargs: Any) -> str:
        """Open the app as ``user_id`` and return the session token from the page."""
        launch = self.b24.frame_launch(member_id, user_id, **kwargs)
        response = await self.post_frame("/b24/app", launch)
        body = await response.text()
        assert response.status == 200, body
        marker = 'name="tp-session" content="'
        start = body.index(marker) + len(marker)
        return body[start : body.index('"', start)]

    async def api(
        self, method: str, path: str, session: str, json: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        response = await self.client.request(
            method, path, json=json, headers={"Authorization": f"Bearer {session}"}, **kwargs
        )
        payload = await response.json() if response.content_type == "application/json" else None
        return response.status, payload


@pytest.fixture
async def b24() -> AsyncIterator[Bitrix24Emulator]:
    async with Bitrix24Emulator(clock=EmulatorClock()) as emulator:
        yield emulator


@pytest.fixture
def b24_timeout_s() -> float:
    """How long one Bitrix24 call may take; fault tests shorten it."""
    return 20.0


@pytest.fixture
def b24_retry() -> RetryPolicy:
    """The adapter's retry budget; fault tests shrink it to keep the suite fast."""
    return RetryPolicy()


@pytest.fixture
async def harness(
    pg_storage: PostgresStorage,
    pg_dsn: str,
    b24: Bitrix24Emulator,
    b24_timeout_s: float,
    b24_retry: RetryPolicy,
) -> AsyncIterator[Harness]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        oauth = BitrixOAuthServer(
            session,
            b24.client_id,
            Secret(b24.client_secret),
            b24.oauth_url,
            clock=b24.clock,
            allow_http=True,
        )
        connector = BitrixConnector(
            session,
            oauth,
            pg_storage,
            b24.clock,
            allow_http=True,
            timeout_s=b24_timeout_s,
            retry=b24_retry,
        )
        services = Services(
            storage=pg_storage,
            connector=connector,
            oauth=oauth,
            messenger=BitrixMessenger(connector),
            clock=b24.clock,
            sealer=SessionSealer(APP_SECRET),
            handlers=Handlers.under(base_url),
            privacy=PrivacyConfig(),
            allow_http=True,
            bots=BitrixBotChannel(connector),
            app_code=b24.client_id,
        )
        app = web_app(services)
        server = TestServer(app, host="127.0.0.1", port=port)
        async with TestClient(server) as client:
            yield Harness(b24, client, services, pg_storage, base_url, pg_dsn)
