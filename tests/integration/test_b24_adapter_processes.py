"""Two OS processes sharing Postgres refresh a portal's tokens exactly once (row lock)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from tests.postgres import TEST_SECRET
from tests.unit.test_b24_support import CLIENT_ID, CLIENT_SECRET, running_portal
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.secrets import Secret

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def _work(
    dsn: str, endpoint_oauth: str, portal_id: int, start_at: float
) -> dict[str, object]:
    storage = await PostgresStorage.open(dsn, TokenCipher(TEST_SECRET), min_size=1, max_size=2)
    try:
        async with aiohttp.ClientSession() as session:
            clock = _WallClock()
            oauth = BitrixOAuthServer(
                session,
                CLIENT_ID,
                Secret(CLIENT_SECRET),
                endpoint_oauth,
                clock=clock,
                allow_http=True,
            )
            connector = BitrixConnector(session, oauth, storage, clock, allow_http=True)
            async with storage.unit_of_work() as uow:
                portal = await uow.portals.get(portal_id)
            assert portal is not None
            await asyncio.sleep(max(0.0, start_at - time.time()))
            user = await connector.as_app(portal).current_user()
            return {"user": user.id}
    finally:
        await storage.close()


def worker(argv: list[str]) -> None:
    """Entry point of one worker process: ``dsn oauth_url portal_id start_at``."""
    dsn, oauth_url, portal_id, start_at = argv
    print(json.dumps(asyncio.run(_work(dsn, oauth_url, int(portal_id), float(start_at)))))


async def test_two_processes_with_expiring_tokens_refresh_the_portal_once(
    pg_dsn: str, pg_storage: PostgresStorage
) -> None:
    async with running_portal() as server:
        now = datetime.now(UTC)
        server.token_clock = lambda: datetime.now(UTC)
        server.oauth_delay_s = 0.5  # both workers are waiting while the first refresh runs
        install = server.install(server.issue(lifetime_s=30, now=now))  # inside the margin
        async with pg_storage.unit_of_work() as uow:
            portal = await uow.portals.create(install, now=now)
        start_at = time.time() + 2.0  # after both interpreters have started
        code = "import sys; from tests.integration.test_b24_adapter_processes import worker; worker(sys.argv[1:])"
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                code,
                pg_dsn,
                server.oauth_url,
                str(portal.id),
                str(start_at),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outputs = [await asyncio.wait_for(p.communicate(), timeout=60) for p in processes]
        for process, (_out, err) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, err.decode()[-2000:]
        assert [json.loads(out) for out, _ in outputs] == [{"user": 1}, {"user": 1}]
        assert len(server.oauth_requests) == 1
        async with pg_storage.unit_of_work() as uow:
            stored = await uow.portals.get(portal.id)
        assert stored is not None
        assert stored.tokens.expires_at > now + timedelta(minutes=30)
        # Both processes called with the one rotated token that was stored.
        assert [body["auth"] for _, body in server.calls] == [
            stored.tokens.access_token.reveal()
        ] * 2
