"""Loopback helpers shared by the tests and benchmarks that start servers of their own."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_ready(
    http: aiohttp.ClientSession,
    base: str,
    process: asyncio.subprocess.Process | None = None,
    *,
    timeout_s: float = 60.0,
) -> None:
    """Poll ``base/readyz`` until it answers 200; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.returncode is not None:
            output = await process.stdout.read() if process.stdout else b""
            raise AssertionError(f"the server exited: {output.decode()[-2000:]}")
        try:
            async with http.get(f"{base}/readyz") as reply:
                if reply.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{base} never became ready")
