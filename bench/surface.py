"""The unauthenticated surface: what hostile requests without a session cost the server.

    .venv/bin/python bench/surface.py                 # against this checkout
    .venv/bin/python bench/surface.py --repeat 3      # more samples per kind
    .venv/bin/python bench/surface.py --kinds 60,deep # only some kinds
    .venv/bin/python bench/surface.py --member        # as a portal member with a session

Starts ``touchpoints demo`` (the real server, embedded Postgres) in a subprocess on a fresh
data dir, then sends each hostile request kind without a session while a well-behaved
client keeps reading ``/readyz``: the time each hostile request takes to be answered, and
the worst latency the well-behaved client saw meanwhile (a stalled event loop shows there).
Results are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.net import free_port, wait_ready

MIB = 1024 * 1024
LIMIT_S = 60.0


def hostile_bodies() -> dict[str, bytes]:
    """Bodies an outsider can send to ``POST /api/v1/feedback`` without a session."""
    dots = "." * 60_000
    return {
        "feedback e-mail 60 KB `a@...@`": (
            '{"message": "hi", "email": "a@' + dots + '@"}'
        ).encode(),
        "feedback e-mail 1 MiB `a@...@`": (
            '{"message": "hi", "email": "a@' + "." * (MIB - 64) + '@"}'
        ).encode(),
        "JSON nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
        "1 MiB of digits as an id": b'{"owner": {"type": "deal", "id": '
        + b"9" * (MIB - 64)
        + b"}}",
    }


async def probe(http: aiohttp.ClientSession, base: str, stop: asyncio.Event) -> float:
    """The worst ``/readyz`` latency seen until ``stop`` (seconds)."""
    worst = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        try:
            async with http.get(f"{base}/readyz") as reply:
                await reply.read()
        except TimeoutError:
            return LIMIT_S
        worst = max(worst, time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return worst


async def demo_session(http: aiohttp.ClientSession, base: str) -> str:
    """A portal member's session: the one the demo page embeds."""
    async with http.get(f"{base}/demo") as reply:
        page = await reply.text()
    marker = 'name="tp-session" content="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


async def measure(
    base: str, repeat: int, kinds: str, *, member: bool
) -> list[tuple[str, int, float, float]]:
    rows = []
    timeout = aiohttp.ClientTimeout(total=LIMIT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await wait_ready(http, base)
        headers = {"Content-Type": "application/json"}
        if member:
            headers["Authorization"] = f"Bearer {await demo_session(http, base)}"
        for name, body in hostile_bodies().items():
            if kinds and not any(word in name for word in kinds.split(",")):
                continue
            path = "/api/v1/touchpoints" if "id" in name else "/api/v1/feedback"
            for _ in range(repeat):
                stop = asyncio.Event()
                watcher = asyncio.create_task(probe(http, base, stop))
                started = time.perf_counter()
                try:
                    async with http.post(f"{base}{path}", data=body, headers=headers) as reply:
                        await reply.read()
                        status = reply.status
                except TimeoutError:
                    status = 0  # no answer within the client's limit
                took = time.perf_counter() - started
                stop.set()
                rows.append((name, status, took, await watcher))
    return rows


async def main(repeat: int, kinds: str, *, member: bool) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "TOUCHPOINTS_DATA_DIR": data_dir}
        env.pop("TOUCHPOINTS_DATABASE_URL", None)
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "touchpoints",
            "demo",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            rows = await measure(f"http://127.0.0.1:{port}", repeat, kinds, member=member)
        finally:
            # A server stalled in a regex does not get to its signal handler: kill it.
            server.kill()
            await server.wait()
    who = "a member's session" if member else "no session"
    print(f"| hostile request ({who}) | status | answered in | worst /readyz meanwhile |")
    print("|---|---|---|---|")
    for name, status, took, worst in rows:
        answered = f"{took * 1000:.0f} ms" if status else f"no answer in {LIMIT_S:.0f} s"
        print(f"| {name} | {status or '-'} | {answered} | {worst * 1000:.0f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--kinds", default="", help="comma-separated words naming the kinds")
    parser.add_argument(
        "--member", action="store_true", help="send them with a demo user's session"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.repeat, arguments.kinds, member=arguments.member))
