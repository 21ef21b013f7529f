"""Two ``touchpoints serve`` processes and two digest runners on one database."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import psycopg
import pytest

from tests.fakes.bitrix24 import Bitrix24Emulator
from tests.net import free_port, wait_ready
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.adapters.postgres.migrate import migration_ids
from touchpoints.domain.model import OwnerType

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECRET_KEY = "replica-secret-key-0123456789abcdefghij"


def environment(b24: Bitrix24Emulator, dsn: str, public_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "TOUCHPOINTS_DATABASE_URL": dsn,
        "TOUCHPOINTS_PUBLIC_URL": public_url,
        "TOUCHPOINTS_SECRET_KEY": SECRET_KEY,
        "TOUCHPOINTS_B24_CLIENT_ID": b24.client_id,
        "TOUCHPOINTS_B24_CLIENT_SECRET": b24.client_secret,
        "TOUCHPOINTS_B24_OAUTH_URL": b24.oauth_url,
        "TOUCHPOINTS_B24_ALLOW_HTTP": "1",
        "TOUCHPOINTS_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
async def emulator() -> AsyncIterator[Bitrix24Emulator]:
    async with Bitrix24Emulator() as b24:
        yield b24


async def test_two_replicas_share_sessions_refresh_once_and_digest_once(
    emulator: Bitrix24Emulator, fresh_database: Callable[[], str]
) -> None:
    dsn = fresh_database()
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    replicas = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "touchpoints",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=environment(emulator, dsn, bases[0]),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for port in ports
    ]
    try:
        async with aiohttp.ClientSession() as http:
            for base, process in zip(bases, replicas, strict=True):
                await wait_ready(http, base, process)
            # Both started at once against an empty database: every migration applied once.
            with psycopg.connect(libpq_url(dsn)) as connection:
                applied = connection.execute("SELECT migration_id FROM _yoyo_migration").fetchall()
            assert sorted(row[0] for row in applied) == sorted(migration_ids())

            launch = emulator.install()
            member_id = launch.form["member_id"]
            async with http.post(
                f"{bases[0]}/b24/install", params=launch.query, data=launch.form
            ) as reply:
                assert reply.status == 200, await reply.text()
            await emulator.install_finish(member_id)
            await emulator.drain_events()

            frame = emulator.frame_launch(member_id, 1)
            async with http.post(
                f"{bases[0]}/b24/app", params=frame.query, data=frame.form
            ) as reply:
                page = await reply.text()
            match = re.search(r'name="tp-session" content="([^"]+)"', page)
            assert match is not None, page[:500]
            headers = {"Authorization": f"Bearer {match.group(1)}"}

            async def call(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
                async with http.request(
                    method, f"{base}{path}", json=body, headers=headers
                ) as reply:
                    return reply.status, await reply.json()

            # A session issued by one replica works on the other.
            status, settings = await call(bases[1], "GET", "/api/v1/settings")
            assert status == 200, settings
            settings.update(digest_hour=0, working_days=[1, 2, 3, 4, 5, 6, 7])
            status, saved = await call(bases[1], "PUT", "/api/v1/settings", settings)
            assert status == 200, saved
            deal = emulator.add_record(member_id, OwnerType.DEAL, title="Replica deal")
            due = (emulator.clock.now() - timedelta(hours=1)).replace(microsecond=0)
            status, created = await call(
                bases[1],
                "POST",
                "/api/v1/touchpoints",
                {
                    "owner": {"type": "deal", "id": deal.id},
                    "type": "call",
                    "deadline": due.isoformat(),
                },
            )
            assert status == 201, created
            status, read = await call(bases[0], "GET", f"/api/v1/touchpoints/{created['id']}")
            assert status == 200
            assert read["owner"]["title"] == "Replica deal"

            # Two digest runners at once, with the stored access token expired: one refresh,
            # one notification.
            emulator.expire_access_tokens(member_id)
            emulator.reset_counters()
            runners = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "touchpoints",
                    "digest",
                    "--once",
                    env=environment(emulator, dsn, bases[0]),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                for _ in range(2)
            ]
            outputs = await asyncio.gather(*(runner.communicate() for runner in runners))
            for runner, (output, _) in zip(runners, outputs, strict=True):
                assert runner.returncode == 0, output.decode()[-2000:]
            assert emulator.token_requests("refresh_token", member_id) == 1
            # The admin's own digest and, as the installing admin, the team's roll-up: once each.
            inbox = emulator.inbox(member_id, 1)
            kinds = sorted((m.tag or "").split(".")[1] for m in inbox)
            assert kinds == ["digest", "rollup"], [m.message for m in inbox]
            [own] = [m for m in inbox if (m.tag or "").startswith("touchpoints.digest.")]
            assert "Replica deal" in own.message
    finally:
        for process in replicas:
            if process.returncode is None:
                process.terminate()
        for process in replicas:
            await process.wait()
