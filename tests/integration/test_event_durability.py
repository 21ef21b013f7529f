"""An answered Bitrix24 event survives the process being killed (SIGKILL) right after."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import aiohttp
import psycopg
import pytest

from tests.fakes.bitrix24 import Bitrix24Emulator
from tests.integration.test_replicas import environment
from tests.net import free_port, wait_ready
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.domain.model import OwnerType

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

EVENTS = 5


@pytest.fixture
async def emulator() -> AsyncIterator[Bitrix24Emulator]:
    async with Bitrix24Emulator() as b24:
        yield b24


async def _serve(
    b24: Bitrix24Emulator, dsn: str, port: int, public_url: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "touchpoints",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=environment(b24, dsn, public_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def _deadlines(dsn: str, ids: list[int]) -> dict[int, datetime]:
    with psycopg.connect(libpq_url(dsn)) as connection:
        rows = connection.execute(
            "SELECT id, deadline FROM touchpoints WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    return {row[0]: row[1] for row in rows}


def _inbox_size(dsn: str) -> int:
    with psycopg.connect(libpq_url(dsn)) as connection:
        row = connection.execute("SELECT count(*) FROM event_inbox").fetchone()
    assert row is not None
    return int(row[0])


async def test_events_answered_before_a_sigkill_are_synced_by_the_next_process(
    emulator: Bitrix24Emulator, fresh_database: Callable[[], str]
) -> None:
    dsn = fresh_database()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first = await _serve(emulator, dsn, port, base)
    second = None
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, base, first)
            launch = emulator.install()
            member_id = launch.form["member_id"]
            async with http.post(
                f"{base}/b24/install", params=launch.query, data=launch.form
            ) as reply:
                assert reply.status == 200, await reply.text()
            await emulator.install_finish(member_id)
            await emulator.drain_events()
            frame = emulator.frame_launch(member_id, 1)
            async with http.post(f"{base}/b24/app", params=frame.query, data=frame.form) as reply:
                match = re.search(r'name="tp-session" content="([^"]+)"', await reply.text())
            assert match is not None
            headers = {"Authorization": f"Bearer {match.group(1)}"}
            due = (emulator.clock.now() + timedelta(days=1)).replace(microsecond=0)
            created = []
            for n in range(EVENTS):
                deal = emulator.add_record(member_id, OwnerType.DEAL, title=f"Deal {n}")
                async with http.post(
                    f"{base}/api/v1/touchpoints",
                    json={
                        "owner": {"type": "deal", "id": deal.id},
                        "type": "call",
                        "deadline": due.isoformat(),
                    },
                    headers=headers,
                ) as reply:
                    assert reply.status == 201, await reply.text()
                    created.append(await reply.json())

            # Bitrix24 stops answering the app's reads, so no sync can finish in process;
            # each handler still answers (its inline wait is bounded) and is then killed.
            emulator.inject("*", member_id=member_id, stall=True, times=None)
            moved = due + timedelta(days=3)
            for item in created:
                deliveries = await emulator.ui_update_activity(
                    member_id, item["activity_id"], deadline=moved
                )
                assert [d.status for d in deliveries] == [200]
            assert _inbox_size(dsn) == EVENTS
            first.send_signal(signal.SIGKILL)
            await first.wait()
            ids = [item["id"] for item in created]
            assert set(_deadlines(dsn, ids).values()) == {due}

            # The next process (Bitrix24 answering again) drains what the first one left.
            emulator.clear_faults()
            restarted = time.monotonic()
            second = await _serve(emulator, dsn, port, base)
            await wait_ready(http, base, second)
            while time.monotonic() - restarted < 30:
                if _inbox_size(dsn) == 0 and set(_deadlines(dsn, ids).values()) == {moved}:
                    break
                await asyncio.sleep(0.2)
            drained_s = time.monotonic() - restarted
            assert set(_deadlines(dsn, ids).values()) == {moved}
            assert _inbox_size(dsn) == 0
            # Start-up, then the receiving process's lease (5 s) and one drain tick.
            assert drained_s < 20, drained_s
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()


async def test_a_live_process_forgets_synced_events_and_retries_failed_ones_from_the_inbox(
    emulator: Bitrix24Emulator, fresh_database: Callable[[], str]
) -> None:
    dsn = fresh_database()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = await _serve(emulator, dsn, port, base)
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, base, process)
            launch = emulator.install()
            member_id = launch.form["member_id"]
            async with http.post(
                f"{base}/b24/install", params=launch.query, data=launch.form
            ) as reply:
                assert reply.status == 200, await reply.text()
            await emulator.install_finish(member_id)
            await emulator.drain_events()
            frame = emulator.frame_launch(member_id, 1)
            async with http.post(f"{base}/b24/app", params=frame.query, data=frame.form) as reply:
                match = re.search(r'name="tp-session" content="([^"]+)"', await reply.text())
            assert match is not None
            due = (emulator.clock.now() + timedelta(days=1)).replace(microsecond=0)
            deal = emulator.add_record(member_id, OwnerType.DEAL, title="Deal")
            async with http.post(
                f"{base}/api/v1/touchpoints",
                json={
                    "owner": {"type": "deal", "id": deal.id},
                    "type": "call",
                    "deadline": due.isoformat(),
                },
                headers={"Authorization": f"Bearer {match.group(1)}"},
            ) as reply:
                assert reply.status == 201, await reply.text()
                created = await reply.json()

            # Synced in process: the inbox row is gone once the touch-point has converged.
            moved = due + timedelta(days=2)
            await emulator.ui_update_activity(member_id, created["activity_id"], deadline=moved)
            await _until(lambda: _inbox_size(dsn) == 0, 10)
            assert _deadlines(dsn, [created["id"]]) == {created["id"]: moved}

            # Bitrix24 refuses the read (not retried): the sync fails, the row stays, and the
            # same process tries again from the inbox once the receiver's lease runs out.
            emulator.inject("*", member_id=member_id, error="INVALID_REQUEST", times=None)
            again = moved + timedelta(days=1)
            await emulator.ui_update_activity(member_id, created["activity_id"], deadline=again)
            await _until(lambda: any(r.error == "INVALID_REQUEST" for r in emulator.log), 10)
            await asyncio.sleep(0.5)
            assert _inbox_size(dsn) == 1
            assert _deadlines(dsn, [created["id"]]) == {created["id"]: moved}
            emulator.clear_faults()
            await _until(lambda: _inbox_size(dsn) == 0, 20)
            assert _deadlines(dsn, [created["id"]]) == {created["id"]: again}
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def _until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
