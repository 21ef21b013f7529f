"""Soak: mixed traffic against two ``touchpoints serve`` replicas for a while.

    .venv/bin/python bench/soak.py                 # 10 minutes
    .venv/bin/python bench/soak.py --minutes 1     # a short run
    .venv/bin/python bench/soak.py --replicas 2 --renders-per-s 2 --seconds 90
                                                   # replicas mode: one portal's budget

This process is the load generator and hosts the Bitrix24 emulator (its leaky bucket on:
burst 50, then 2 requests/s per portal, the documented default); the two replicas are real
``touchpoints serve`` processes on one embedded Postgres, sharing the secret key, served on
loopback and hit alternately (a round-robin balancer). Traffic per user loop: board
renders, creates, moves, completes with a follow-up, and activity events from "the CRM".
Reports throughput, latency, errors by status and each replica's memory growth.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from tests.fakes.bitrix24 import Bitrix24Emulator, RateLimit
from tests.net import free_port, wait_ready

from bench.stack import percentile
from touchpoints.adapters.postgres.embedded import ensure_embedded
from touchpoints.domain.model import OwnerType

PORTALS = 4
USERS_PER_PORTAL = 3


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _serve_env(dsn: str, public_url: str, b24: Bitrix24Emulator) -> dict[str, str]:
    """The environment of a ``touchpoints serve`` replica against the emulator."""
    return {
        **os.environ,
        "TOUCHPOINTS_DATABASE_URL": dsn,
        "TOUCHPOINTS_PUBLIC_URL": public_url,
        "TOUCHPOINTS_SECRET_KEY": "soak-secret-key-0123456789abcdefghijklmn",
        "TOUCHPOINTS_B24_CLIENT_ID": b24.client_id,
        "TOUCHPOINTS_B24_CLIENT_SECRET": b24.client_secret,
        "TOUCHPOINTS_B24_OAUTH_URL": b24.oauth_url,
        "TOUCHPOINTS_B24_ALLOW_HTTP": "1",
        "TOUCHPOINTS_LOG_LEVEL": "WARNING",
    }


async def _serve(port: int, env: dict[str, str]) -> asyncio.subprocess.Process:
    """One ``touchpoints serve`` replica in its own process on ``port``."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "touchpoints", "serve", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def main(minutes: float) -> None:
    scratch = tempfile.mkdtemp(prefix="tp-soak-")
    dsn = ensure_embedded(Path(scratch))
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    async with (
        Bitrix24Emulator(rate_limit=RateLimit(50, 2.0)) as b24,
        aiohttp.ClientSession() as http,
    ):
        env = _serve_env(dsn, bases[0], b24)
        replicas = [await _serve(port, env) for port in ports]
        try:
            for base in bases:
                await wait_ready(http, base)
            balancer = itertools.cycle(bases)
            sessions: list[tuple[str, str, list[int]]] = []
            for _ in range(PORTALS):
                launch = b24.install()
                member_id = launch.form["member_id"]
                async with http.post(
                    f"{bases[0]}/b24/install", params=launch.query, data=launch.form
                ) as reply:
                    assert reply.status == 200, await reply.text()
                await b24.install_finish(member_id)
                deals = [
                    b24.add_record(member_id, OwnerType.DEAL, title=f"Deal {n}").id
                    for n in range(30)
                ]
                for user in range(USERS_PER_PORTAL):
                    user_id = 1 if user == 0 else b24.add_user(member_id, name=f"Seller {user}")
                    frame = b24.frame_launch(member_id, user_id)
                    async with http.post(
                        f"{next(balancer)}/b24/app", params=frame.query, data=frame.form
                    ) as reply:
                        page = await reply.text()
                    token = re.search(r'name="tp-session" content="([^"]+)"', page)
                    assert token is not None
                    sessions.append((member_id, token.group(1), deals))
            start_rss = [rss_kib(p.pid) for p in replicas]
            statuses: Counter[str] = Counter()
            latencies: dict[str, list[float]] = {}
            deadline = time.monotonic() + minutes * 60
            rng = random.Random(3)

            async def request(
                kind: str, method: str, path: str, token: str, body: Any = None
            ) -> Any:
                started = time.perf_counter()
                async with http.request(
                    method,
                    f"{next(balancer)}{path}",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                ) as reply:
                    payload = await reply.json(content_type=None)
                    statuses[f"{kind} {reply.status}"] += 1
                latencies.setdefault(kind, []).append(time.perf_counter() - started)
                return reply.status, payload

            async def user_loop(member_id: str, token: str, deals: list[int]) -> None:
                mine: list[dict[str, Any]] = []
                while time.monotonic() < deadline:
                    roll = rng.random()
                    if roll < 0.4 or not mine:
                        if roll < 0.2 or not mine:
                            when = b24.clock.now().replace(microsecond=0) + timedelta(
                                hours=rng.randint(-5, 200)
                            )
                            status, body = await request(
                                "create",
                                "POST",
                                "/api/v1/touchpoints",
                                token,
                                {
                                    "owner": {"type": "deal", "id": rng.choice(deals)},
                                    "type": "call",
                                    "deadline": when.isoformat(),
                                },
                            )
                            if status == 201:
                                mine.append(body)
                        else:
                            await request("board", "GET", "/api/v1/board", token)
                    elif roll < 0.65:
                        item = rng.choice(mine)
                        when = b24.clock.now().replace(microsecond=0) + timedelta(
                            hours=rng.randint(1, 300)
                        )
                        await request(
                            "move",
                            "PATCH",
                            f"/api/v1/touchpoints/{item['id']}",
                            token,
                            {"deadline": when.isoformat()},
                        )
                    elif roll < 0.8:
                        item = mine.pop(rng.randrange(len(mine)))
                        status, body = await request(
                            "complete",
                            "POST",
                            f"/api/v1/touchpoints/{item['id']}/complete",
                            token,
                            {"result_note": "Spoke to them", "follow_up": {}},
                        )
                        if status == 200 and body.get("follow_up"):
                            mine.append(body["follow_up"])
                    else:
                        item = rng.choice(mine)
                        started = time.perf_counter()
                        delivery = await b24.send_event(
                            f"{next(balancer)}/b24/events",
                            "ONCRMACTIVITYUPDATE",
                            member_id,
                            {"ID": str(item["activity_id"])},
                        )
                        statuses[f"event {delivery.status}"] += 1
                        latencies.setdefault("event", []).append(time.perf_counter() - started)
                    await asyncio.sleep(rng.uniform(1.0, 3.0))  # a person, not a script

            started = time.monotonic()
            await asyncio.gather(*(user_loop(*s) for s in sessions))
            elapsed = time.monotonic() - started
            end_rss = [rss_kib(p.pid) for p in replicas]
        finally:
            for process in replicas:
                if process.returncode is None:
                    process.terminate()
            for process in replicas:
                await process.wait()
    total = sum(statuses.values())
    print(
        f"{elapsed / 60:.1f} minutes, {PORTALS} portals x {USERS_PER_PORTAL} users, 2 replicas, "
        f"Bitrix24 bucket 50 / 2 per s per portal\n"
    )
    print(f"requests: {total} ({total / elapsed:.1f}/s)\n")
    print("| kind | count | p50 | p95 | max |")
    print("|---|---|---|---|---|")
    for kind, values in sorted(latencies.items()):
        print(
            f"| {kind} | {len(values)} | {percentile(values, 0.5) * 1000:.0f} ms | "
            f"{percentile(values, 0.95) * 1000:.0f} ms | {max(values) * 1000:.0f} ms |"
        )
    print("\n| kind and status | count |\n|---|---|")
    for key, count in sorted(statuses.items()):
        print(f"| {key} | {count} |")
    for index, (before, after) in enumerate(zip(start_rss, end_rss, strict=True)):
        print(
            f"\nreplica {index + 1}: RSS {before / 1024:.0f} MiB -> {after / 1024:.0f} MiB "
            f"({(after - before) / 1024:+.1f} MiB)"
        )


async def replicas_mode(
    replicas: int, renders_per_s: float, seconds: float, app_src: str | None
) -> None:
    """N replicas render one portal's board at a fixed total pace; count Bitrix24 refusals.

    The emulator enforces the documented default bucket (50, then 2 per s) on the portal;
    each render is one ``batch`` request (the board's titles and to-do texts), so 2 renders
    per second is the floor's pace: exactly what the portal drains. ``--app-src`` runs the
    replicas from another checkout's ``src`` (e.g. main, for the before figures).
    """
    scratch = tempfile.mkdtemp(prefix="tp-soak-replicas-")
    dsn = ensure_embedded(Path(scratch))
    ports = [free_port() for _ in range(replicas)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    async with (
        Bitrix24Emulator(rate_limit=RateLimit(50, 2.0)) as b24,
        aiohttp.ClientSession() as http,
    ):
        env = _serve_env(dsn, bases[0], b24)
        if app_src:
            env["PYTHONPATH"] = app_src
        processes = []
        for port in ports:
            processes.append(await _serve(port, env))
            # One at a time: the first applies the migrations.
            await wait_ready(http, bases[len(processes) - 1], processes[-1])
        try:
            launch = b24.install()
            member_id = launch.form["member_id"]
            async with http.post(
                f"{bases[0]}/b24/install", params=launch.query, data=launch.form
            ) as reply:
                assert reply.status == 200, await reply.text()
            await b24.install_finish(member_id)
            tokens = []
            for base in bases:
                frame = b24.frame_launch(member_id, 1)
                async with http.post(f"{base}/b24/app", params=frame.query, data=frame.form) as r:
                    found = re.search(r'name="tp-session" content="([^"]+)"', await r.text())
                assert found is not None
                tokens.append(found.group(1))
            deals = [
                b24.add_record(member_id, OwnerType.DEAL, title=f"Deal {n}").id for n in range(10)
            ]
            for n, deal in enumerate(deals):
                when = b24.clock.now().replace(microsecond=0) + timedelta(hours=n + 1)
                async with http.post(
                    f"{bases[0]}/api/v1/touchpoints",
                    json={
                        "owner": {"type": "deal", "id": deal},
                        "type": "call",
                        "deadline": when.isoformat(),
                    },
                    headers={"Authorization": f"Bearer {tokens[0]}"},
                ) as reply:
                    assert reply.status == 201, await reply.text()
            # Every replica's first render (its user cache), then a drained bucket.
            for base, token in zip(bases, tokens, strict=True):
                async with http.get(
                    f"{base}/api/v1/board", headers={"Authorization": f"Bearer {token}"}
                ) as reply:
                    assert reply.status == 200, await reply.text()
            await asyncio.sleep(30)
            b24.reset_counters()

            statuses: Counter[int] = Counter()
            latencies: list[float] = []

            async def render(n: int) -> None:
                index = n % replicas
                started = time.perf_counter()
                async with http.get(
                    f"{bases[index]}/api/v1/board",
                    headers={"Authorization": f"Bearer {tokens[index]}"},
                ) as reply:
                    await reply.read()
                    statuses[reply.status] += 1
                latencies.append(time.perf_counter() - started)

            tasks = []
            started = time.monotonic()
            total = int(seconds * renders_per_s)
            for n in range(total):
                await asyncio.sleep(max(0.0, started + n / renders_per_s - time.monotonic()))
                tasks.append(asyncio.create_task(render(n)))
            await asyncio.gather(*tasks)
            elapsed = time.monotonic() - started
        finally:
            for process in processes:
                if process.returncode is None:
                    process.terminate()
            for process in processes:
                await process.wait()
    requests = [record for record in b24.log if record.member_id == member_id]
    refused = sum(1 for record in requests if record.error and "QUERY_LIMIT" in record.error)
    renders = sum(statuses.values())
    failed = renders - statuses[200]
    print(
        f"{replicas} replicas, one portal, {renders_per_s:g} board renders/s for {elapsed:.0f} s "
        f"(Bitrix24 bucket 50 / 2 per s); app from {app_src or 'this checkout'}"
    )
    print(
        f"| {replicas} | {renders_per_s:g}/s | {renders} | {len(requests)} | "
        f"{refused} ({refused / max(1, len(requests)):.1%}) | "
        f"{failed} ({failed / max(1, renders):.1%}) | "
        f"{percentile(latencies, 0.5) * 1000:.0f} ms | "
        f"{percentile(latencies, 0.95) * 1000:.0f} ms |"
    )
    print("statuses:", dict(statuses))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--replicas", type=int, help="replicas mode: this many serve processes")
    parser.add_argument("--renders-per-s", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--app-src", help="replicas mode: run the replicas from this src dir")
    args = parser.parse_args()
    if args.replicas:
        asyncio.run(replicas_mode(args.replicas, args.renders_per_s, args.seconds, args.app_src))
    else:
        asyncio.run(main(args.minutes))
