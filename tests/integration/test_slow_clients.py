"""Slow clients are cut off: request headers have a deadline, idle keep-alive connections close.

The app is served as ``touchpoints serve`` serves it (``listener.serve_until_stopped``'s
runner) with short limits so the suite stays fast; one slow test checks the real
commands' 10 s default from outside.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.bitrix24 import Bitrix24Emulator
from tests.integration.conftest import Harness
from tests.integration.test_replicas import environment
from tests.net import free_port, wait_ready
from touchpoints.entrypoints.app import web_app
from touchpoints.entrypoints.listener import ConnectionLimits, GuardedAppRunner

pytestmark = pytest.mark.postgres

LIMITS = ConnectionLimits(header_timeout_s=1.0, keepalive_timeout_s=2.5)
# The server's clock starts when it accepts the connection, a moment before ours does.
SLACK_S = 0.25
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: touchpoints.test\r\n\r\n"


@pytest.fixture
async def served(harness: Harness) -> AsyncIterator[int]:
    """The real app on a real socket, with the short test limits; yields its port."""
    runner = GuardedAppRunner(web_app(harness.services), limits=LIMITS, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def _closed_after(reader: asyncio.StreamReader, started: float, limit_s: float) -> float:
    """Read until the server closes the connection; seconds from ``started``."""
    async with asyncio.timeout(limit_s):
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
    return time.monotonic() - started


async def _drip(writer: asyncio.StreamWriter, chunks: list[bytes], every_s: float) -> None:
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(every_s)
    except ConnectionError:
        pass  # the server hung up on us: what the test waits for


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def test_a_client_dripping_header_bytes_is_cut_off_at_the_header_deadline(
    served: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    started = time.monotonic()
    drip = asyncio.create_task(
        _drip(writer, [b"GET /healthz HTTP/1.1\r\n", *[b"X-Slow: y\r\n"] * 100], 0.1)
    )
    elapsed = await _closed_after(reader, started, limit_s=5)
    drip.cancel()
    writer.close()
    assert LIMITS.header_timeout_s - SLACK_S <= elapsed < LIMITS.header_timeout_s + 1.0


async def test_a_connection_that_never_sends_a_request_is_closed(served: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    started = time.monotonic()
    elapsed = await _closed_after(reader, started, limit_s=5)
    writer.close()
    assert LIMITS.header_timeout_s - SLACK_S <= elapsed < LIMITS.header_timeout_s + 1.0


async def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(
    served: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    writer.write(REQUEST)
    status, headers, _ = await _response(reader)
    assert status == 200
    assert headers.get("connection", "keep-alive").lower() != "close"
    answered = time.monotonic()
    elapsed = await _closed_after(reader, answered, limit_s=6)
    writer.close()
    # The idle pause between requests is the keep-alive's to bound, not the header deadline's.
    assert LIMITS.keepalive_timeout_s - SLACK_S <= elapsed < LIMITS.keepalive_timeout_s + 1.0


async def test_the_next_request_on_a_kept_connection_has_its_own_header_deadline(
    served: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    writer.write(REQUEST)
    assert (await _response(reader))[0] == 200
    await asyncio.sleep(1.5)  # idle longer than the header deadline: still open
    started = time.monotonic()
    drip = asyncio.create_task(
        _drip(writer, [b"GET /healthz HTTP/1.1\r\n", *[b"X: y\r\n"] * 50], 0.1)
    )
    elapsed = await _closed_after(reader, started, limit_s=5)
    drip.cancel()
    writer.close()
    assert LIMITS.header_timeout_s - SLACK_S <= elapsed < LIMITS.header_timeout_s + 1.0


async def test_a_prompt_client_keeps_its_connection_across_requests(served: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    for _ in range(3):
        # Headers in pieces, well within the deadline, and pauses shorter than keep-alive.
        for piece in (REQUEST[:10], REQUEST[10:30], REQUEST[30:]):
            writer.write(piece)
            await asyncio.sleep(0.2)
        status, _, body = await _response(reader)
        assert status == 200
        assert json.loads(body) == {"status": "ok"}
        await asyncio.sleep(1.5)
    writer.close()


async def test_a_request_too_malformed_to_route_gets_our_headers_and_echoes_nothing(
    served: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    writer.write(b"G\x01T /\x1b[31m HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await _response(reader)
    writer.close()
    assert status == 400
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert json.loads(body) == {"code": "BAD_REQUEST", "message": "Bad Request"}


def test_the_commands_default_to_ten_seconds_for_headers_and_fifteen_idle() -> None:
    assert ConnectionLimits() == ConnectionLimits(header_timeout_s=10.0, keepalive_timeout_s=15.0)


async def _start(command: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "touchpoints",
        *command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _dripping_lasts(port: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    drip = asyncio.create_task(
        _drip(writer, [b"GET /healthz HTTP/1.1\r\n", *[b"X-Slow: y\r\n"] * 100], 0.5)
    )
    elapsed = await _closed_after(reader, started, limit_s=20)
    drip.cancel()
    writer.close()
    return elapsed


@pytest.mark.slow
async def test_serve_and_demo_cut_off_slow_headers_after_ten_seconds(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    async with Bitrix24Emulator() as b24:
        serve_port, demo_port = free_port(), free_port()
        serve_env = environment(b24, fresh_database(), f"http://127.0.0.1:{serve_port}")
        demo_env = {
            **environment(b24, fresh_database(), f"http://127.0.0.1:{demo_port}"),
            "TOUCHPOINTS_DATA_DIR": str(tmp_path),
        }
        processes = [
            await _start(["serve", "--host", "127.0.0.1", "--port", str(serve_port)], serve_env),
            await _start(["demo", "--host", "127.0.0.1", "--port", str(demo_port)], demo_env),
        ]
        try:
            async with aiohttp.ClientSession() as http:
                for port, process in zip((serve_port, demo_port), processes, strict=True):
                    await wait_ready(http, f"http://127.0.0.1:{port}", process)
            elapsed = await asyncio.gather(_dripping_lasts(serve_port), _dripping_lasts(demo_port))
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                await asyncio.wait_for(process.wait(), 30)
        for seconds in elapsed:
            assert 10.0 - SLACK_S <= seconds < 12.0, elapsed
        assert [process.returncode for process in processes] == [0, 0]
