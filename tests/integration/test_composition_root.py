"""One composition root: services and background tasks live in ``cleanup_ctx``, and the demo
plugs into the same root with its overrides, routes and startup context."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from touchpoints.adapters.clock import SystemClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.messaging import MemoryMessenger
from touchpoints.adapters.memory.oauth import MemoryOAuthServer
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints import demo_data
from touchpoints.entrypoints.app import create_app
from touchpoints.entrypoints.background import RECONCILER
from touchpoints.entrypoints.config import Config
from touchpoints.entrypoints.container import ACTIVITY_SYNC, SERVICES
from touchpoints.entrypoints.demo import DEMO, create_demo_app
from touchpoints.entrypoints.runtime import CrmAdapters, Overrides
from touchpoints.ports.storage import StorageError

pytestmark = [pytest.mark.postgres]

SECRET = Secret("composition-root-secret-0123456789abcdef")
SESSION_META = re.compile(r'<meta name="tp-session" content="([^"]+)">')


@pytest.fixture
def config(fresh_database: Callable[[], str], tmp_path: Path) -> Config:
    return Config(
        database_url=Secret(fresh_database()),
        data_dir=tmp_path / "data",
        public_url="http://127.0.0.1:9",
        secret_key=SECRET,
        b24=None,
    )


def memory_crm() -> CrmAdapters:
    world = MemoryCrm(SystemClock())
    return CrmAdapters(
        connector=MemoryCrmConnector(world),
        oauth=MemoryOAuthServer(world),
        messenger=MemoryMessenger(world),
    )


async def test_the_reconciler_runs_while_the_app_runs_and_is_cancelled_and_awaited_at_cleanup(
    config: Config,
) -> None:
    app = create_app(config, overrides=Overrides(crm=memory_crm()))
    async with TestClient(TestServer(app)) as client:
        reconciler = app[RECONCILER]
        await asyncio.sleep(0)
        assert not reconciler.done()
        assert reconciler.get_name() == "touchpoints-reconciler"
        assert app[ACTIVITY_SYNC] is not None
        response = await client.get("/readyz")
        assert response.status == 200, await response.text()
        storage = app[SERVICES].storage
    assert reconciler.cancelled()
    # The storage opened by the root closed with the app.
    with pytest.raises(StorageError):
        await storage.ping()


async def test_a_plugins_routes_win_and_its_contexts_run_inside_the_open_services(
    config: Config,
) -> None:
    seen: list[str] = []

    async def plugin_context(app: web.Application) -> AsyncIterator[None]:
        await app[SERVICES].storage.ping()
        seen.append("started")
        yield
        # Torn down before the services it runs in.
        await app[SERVICES].storage.ping()
        seen.append("stopped")

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "plugged"})

    def routes(app: web.Application) -> None:
        app.router.add_get("/healthz", healthz)

    overrides = Overrides(crm=memory_crm(), routes=routes, contexts=(plugin_context,))
    async with TestClient(TestServer(create_app(config, overrides=overrides))) as client:
        assert seen == ["started"]
        response = await client.get("/healthz")
        assert await response.json() == {"status": "plugged"}
    assert seen == ["started", "stopped"]


async def test_the_demo_plugs_into_the_root_and_renews_sessions_with_its_own_handler(
    config: Config,
) -> None:
    app = create_demo_app(config, base_url="http://127.0.0.1:9")
    async with TestClient(TestServer(app)) as client:
        assert not app[RECONCILER].done()
        user = demo_data.USERS[1].id
        page = await client.get(f"/demo?user={user}")
        assert page.status == 200
        match = SESSION_META.search(await page.text())
        assert match is not None
        headers = {"Authorization": f"Bearer {match.group(1)}"}

        me = await client.get("/api/v1/me", headers=headers)
        body = await me.json()
        assert (body["user"]["id"], body["demo"]) == (user, True)

        renewed = await client.post(
            "/api/v1/session/renew", json={"demo_user_id": user}, headers=headers
        )
        assert renewed.status == 200, await renewed.text()
        session = (await renewed.json())["session"]
        again = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {session}"})
        assert (await again.json())["user"]["id"] == user

        stranger = await client.post("/api/v1/session/renew", json={"demo_user_id": 999})
        assert stranger.status == 401
        # Any other body is the app's own renewal, which wants frame auth.
        frame_auth = await client.post("/api/v1/session/renew", json={"auth_id": "x"})
        assert frame_auth.status == 400
        assert app[DEMO].portal_id > 0
    assert app[RECONCILER].cancelled()


async def test_the_production_renewal_knows_no_demo_users(config: Config) -> None:
    async with TestClient(
        TestServer(create_app(config, overrides=Overrides(crm=memory_crm())))
    ) as client:
        response = await client.post("/api/v1/session/renew", json={"demo_user_id": 1})
        assert response.status == 400
        assert "demo_user_id" in (await response.json())["fields"]
