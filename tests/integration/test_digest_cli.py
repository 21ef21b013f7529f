"""``touchpoints digest`` as operators run it: a subprocess on real Postgres and the emulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.conftest import Harness
from tests.integration.test_digest import DAY, NOW, due, installed
from tests.postgres import TEST_SECRET
from touchpoints.domain.bot import rollup_tag
from touchpoints.domain.digest import digest_tag
from touchpoints.entrypoints.config import load_config
from touchpoints.entrypoints.digest_job import digest_main

pytestmark = pytest.mark.postgres

TIMEOUT_S = 30.0


def environment(harness: Harness, data_dir: Path) -> dict[str, str]:
    """The documented variables (DESIGN.md §3.2), pointing at the test database and emulator."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPOINTS_")}
    return {
        **inherited,
        "TOUCHPOINTS_DATABASE_URL": harness.dsn,
        "TOUCHPOINTS_DATA_DIR": str(data_dir),
        "TOUCHPOINTS_PUBLIC_URL": "https://touchpoints.example",
        "TOUCHPOINTS_SECRET_KEY": TEST_SECRET.reveal(),
        "TOUCHPOINTS_B24_CLIENT_ID": harness.b24.client_id,
        "TOUCHPOINTS_B24_CLIENT_SECRET": harness.b24.client_secret,
        "TOUCHPOINTS_B24_OAUTH_URL": harness.b24.oauth_url,
        "TOUCHPOINTS_B24_ALLOW_HTTP": "1",
        "TOUCHPOINTS_LOG_LEVEL": "INFO",
    }


async def digest_command(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run ``touchpoints digest ARGS`` while this loop keeps serving the emulator."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "touchpoints",
        "digest",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_digest_once_sends_the_due_digests_and_prints_a_summary(
    harness: Harness, tmp_path: Path
) -> None:
    site = await installed(harness)
    await due(harness, site, 2, NOW + timedelta(hours=1))
    await due(harness, site, 3, NOW - timedelta(hours=30))
    env = environment(harness, tmp_path)

    code, out, err = await digest_command(env, "--once", "--now", NOW.isoformat())

    assert code == 0, err
    # Users 2 and 3 get their digests; the installing admin (user 1) their team's roll-up.
    assert "digest: 1 portal(s), 1 due, 3 sent" in out
    for user_id in (2, 3):
        assert [m.tag for m in harness.b24.inbox(site.member_id, user_id)] == [
            digest_tag(user_id, DAY)
        ]
    assert [m.tag for m in harness.b24.inbox(site.member_id, 1)] == [rollup_tag(1, DAY)]
    assert TEST_SECRET.reveal() not in out + err


@pytest.mark.slow
async def test_the_digest_loop_stops_cleanly_on_sigterm(harness: Harness, tmp_path: Path) -> None:
    site = await installed(harness)
    await due(harness, site, 2, NOW + timedelta(hours=1))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "touchpoints",
        "digest",
        "--now",
        NOW.isoformat(),
        env=environment(harness, tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        # Logs are JSON lines when stderr is not a terminal; wait for the first summary.
        while True:
            line = await asyncio.wait_for(process.stderr.readline(), TIMEOUT_S)
            assert line, "the digest loop exited before finishing a pass"
            record = json.loads(line)
            if record["message"].startswith("digest pass done"):
                break
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert code == 0
    assert record["sent"] == 2  # user 2's digest and the installing admin's roll-up
    assert len(harness.b24.inbox(site.member_id, 2)) == 1


async def test_digest_once_exits_1_with_a_message_when_the_database_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(
        {
            "TOUCHPOINTS_DATABASE_URL": "postgresql://touchpoints@127.0.0.1:1/touchpoints",
            "TOUCHPOINTS_DATA_DIR": str(tmp_path),
            "TOUCHPOINTS_PUBLIC_URL": "https://touchpoints.example",
            "TOUCHPOINTS_SECRET_KEY": TEST_SECRET.reveal(),
            "TOUCHPOINTS_B24_CLIENT_ID": "local.app",
            "TOUCHPOINTS_B24_CLIENT_SECRET": "client-secret",
        }
    )

    code = await digest_main(config, once=True, now=NOW)

    assert code == 1
    assert "database is unavailable" in capsys.readouterr().err
