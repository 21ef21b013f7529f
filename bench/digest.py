"""Benchmark: one daily-digest pass over many portals, against the request floor.

Runs the real service (``run_digest_pass``), the real Bitrix24 adapter and Postgres (the
embedded one, or ``TOUCHPOINTS_DATABASE_URL``'s server: a scratch database is created and
dropped) against the HTTP emulator (tests/fakes/bitrix24.py) on loopback, with every portal
under the documented leaky bucket (burst 50, drain 2/s) and a fixed latency per request.
Every user of every portal has one overdue and one due-today touch-point on its own deal.

The emulator and the seeding run in this process; each pass runs in a child process (as
``touchpoints digest --once`` would), so its wall time, CPU time and memory are the app's
own, not the emulator's. Usage, from the repository root:

    .venv/bin/python bench/digest.py [--portals 1000] [--users 20] [--latency-ms 20]
        [--concurrency 16[,32,...]] [--runners 1[,2,...]] [--tracemalloc] [--profile PATH]
        [--quick] [--bot]

``--bot`` gives every portal the digest bot (``imbot`` scope, a registered bot): each
digest is then one bot message with buttons. Either way the installing admin also gets the
team's roll-up as a message of its own, so the pass lists each portal's open deals (for
the roll-up and "No next step"), whose titles serve the digests as well.

Each ``--concurrency`` value runs a full pass on the same world (the digest log is emptied
in between), then one more pass shows the cost of a pass that finds everything sent.
``--runners N`` starts N pass processes at once on the same world, as N replicas' digest
jobs would: they split the portals through the per-portal lease (a portal another runner
holds or has settled is ``busy``); wall time is the slowest runner's, CPU the sum, and
``busy`` shows the split. Each runner count runs its own full pass.
``--tracemalloc`` also measures the pass's peak Python allocation (and slows it down).
``--profile PATH`` writes a cProfile of the n-th pass's process to PATH.n. ``--quick`` is a smoke run: 50
portals. ``BENCH_TRACE_SQL=1`` prints each statement a pass sends to stderr.

Each fresh pass is set against its latency floor (``CHAIN`` requests one after another per
portal, ``concurrency`` portals at a time, per runner). Beside the pass's own CPU, each row
shows the emulator's (this process's, during the pass):
on a small machine the two and Postgres share the cores, so a pass can be CPU-bound on
the emulator's account as well as its own.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes, tests.postgres

from tests.fakes.b24_world import OUR_APP, ChatBot
from tests.fakes.bitrix24 import Bitrix24Emulator, RateLimit
from tests.postgres import TEST_SECRET, create_database, drop_database

from bench.stack import planned_call
from touchpoints.adapters.bitrix24.bot import BitrixBotChannel
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.clock import FixedClock, SystemClock
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.adapters.postgres.embedded import ensure_embedded
from touchpoints.adapters.postgres.migrate import apply_migrations
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.bot import COMMANDS
from touchpoints.domain.model import OwnerType
from touchpoints.domain.portal import OAuthTokens, PortalInstall
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings
from touchpoints.entrypoints.catalogue import load_catalogue
from touchpoints.entrypoints.digest_job import board_link
from touchpoints.entrypoints.heap import settle_heap
from touchpoints.ports.digests import BotStatus, PortalBot
from touchpoints.services.bot_digest import app_links
from touchpoints.services.digest import run_digest_pass

# Tuesday 2026-09-01 07:05 UTC; each portal's digest hour is its local hour then, so all are due.
NOW = datetime(2026, 9, 1, 7, 5, tzinfo=UTC)
ZONES = ("UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York")
ADMIN = 1
NOTIFICATIONS_PER_REQUEST = 50
POOL_SIZE = 10  # what the composition root opens (entrypoints/runtime.py)
DEALS_PER_PAGE = 50  # crm.item.list's page (the open deals for "No next step")
BOT_SCOPE = "crm,im,imbot,placement,user_brief,department"
# The requests one portal's pass must make one after another: the people (user.get) and
# the open deals (crm.item.list) at once, then the messages, 50 to a batch. With at most 50
# requests a portal and a burst of 50, the leaky bucket never makes a portal wait, so the
# floor is this chain's latency, ``concurrency`` portals at a time.
CHAIN = 2


# ------------------------------------------------------------------ the world (parent)


async def seed(
    b24: Bitrix24Emulator, storage: PostgresStorage, portals: int, users: int, *, bot: bool
) -> dict[str, int]:
    """Portals installed with ``users`` users each; returns each member_id's request floor."""
    floors: dict[str, int] = {}
    activity_ids = itertools.count(1)
    gate = asyncio.Semaphore(8)

    async def one(index: int) -> None:
        async with gate:  # a few portals at a time, so the pool's connects never time out
            await _seed_portal(index)

    async def _seed_portal(index: int) -> None:
        launch = b24.install(admin_id=ADMIN, scope=BOT_SCOPE if bot else None)
        member_id = launch.form["member_id"]
        await b24.install_finish(member_id, send_install_event=False)
        zone = ZONES[index % len(ZONES)]
        settings = PortalSettings(time_zone=zone, digest_hour=9)
        settings = PortalSettings(time_zone=zone, digest_hour=NOW.astimezone(settings.zone).hour)
        rows = []
        for user_id in range(ADMIN + 1, ADMIN + 1 + users):
            b24.add_user(member_id, user_id)
            for deadline in (NOW - timedelta(days=1), NOW + timedelta(hours=2)):
                owner = b24.add_record(member_id, OwnerType.DEAL, title=f"Deal of {user_id}")
                rows.append((owner, deadline, user_id))
        install = PortalInstall(
            member_id=member_id,
            client_endpoint=b24.portal_endpoint(member_id),
            domain=b24.portal(member_id).domain,
            application_token=Secret(launch.form["APPLICATION_TOKEN"]),
            tokens=OAuthTokens(
                access_token=Secret(launch.form["AUTH_ID"]),
                refresh_token=Secret(launch.form["REFRESH_ID"]),
                expires_at=b24.clock.now() + timedelta(hours=1),
            ),
            installed_by=ADMIN,
        )
        async with storage.unit_of_work() as uow:
            portal = await uow.portals.create(install, now=NOW)
            await uow.settings.put(portal.id, settings, now=NOW)
            if bot:
                # As registration at install leaves it (services.bot.ensure_bot).
                state = b24.portal(member_id)
                chat_bot = ChatBot(
                    id=state.seq("bot", start=900),
                    code="touchpoints",
                    app=OUR_APP,
                    name="Touch-points",
                    event_mode="webhook",
                    webhook_url="https://app.example/b24/bot",
                    commands={command: 70 + n for n, command in enumerate(COMMANDS)},
                    hidden=set(COMMANDS),
                )
                state.chat_bots[chat_bot.id] = chat_bot
                await uow.bots.put(
                    portal.id,
                    PortalBot(status=BotStatus.REGISTERED, bot_id=chat_bot.id, updated_at=NOW),
                )
            for owner, deadline, user_id in rows:
                await uow.touch_points.add(
                    planned_call(
                        portal_id=portal.id,
                        activity_id=next(activity_ids),
                        owner=owner,
                        deadline=deadline,
                        created_at=NOW - timedelta(days=7),
                        responsible_id=user_id,
                    )
                )
        # The floor: the messages (each user's digest and the installing admin's team
        # roll-up) 50 to a request, one user.get for the recipients and the reps, and the
        # open deals 50 to a page (for "No next step" and the roll-up), whose titles are
        # every listed record's here, so no batch of titles is needed.
        floors[member_id] = (
            math.ceil((users + 1) / NOTIFICATIONS_PER_REQUEST)
            + 1
            + math.ceil(len(rows) / DEALS_PER_PAGE)
        )

    await asyncio.gather(*(one(index) for index in range(portals)))
    return floors


async def child_pass(
    b24: Bitrix24Emulator,
    dsn: str,
    concurrency: int,
    *,
    trace: bool,
    profile: str | None,
    bot: bool = False,
    runners: int = 1,
) -> dict[str, Any]:
    """Run one pass in ``runners`` child processes at once while this loop keeps serving
    the emulator; their results added up (wall time and memory: the largest)."""
    b24.reset_counters()
    emulator_cpu = time.process_time()  # this process only serves the emulator meanwhile
    results = await asyncio.gather(
        *(
            _one_runner(
                b24,
                dsn,
                concurrency,
                trace=trace,
                profile=f"{profile}.{n}" if profile and runners > 1 else profile,
                bot=bot,
            )
            for n in range(1, runners + 1)
        )
    )
    emulator_cpu = time.process_time() - emulator_cpu
    summary = {key: sum(r["summary"][key] for r in results) for key in results[0]["summary"]}
    peaks = [r["tracemalloc_peak"] for r in results if r["tracemalloc_peak"] is not None]
    return {
        "summary": summary,
        "seconds": max(r["seconds"] for r in results),
        "cpu": sum(r["cpu"] for r in results),
        "emulator_cpu": emulator_cpu,
        "rss_before_mib": max(r["rss_before_mib"] for r in results),
        "rss_peak_mib": max(r["rss_peak_mib"] for r in results),
        "tracemalloc_peak": max(peaks) if peaks else None,
        "round_trips": sum(r["round_trips"] for r in results),
        "runners": [
            {"sent": r["summary"]["sent"], "due": r["summary"]["due"], "busy": r["summary"]["busy"]}
            for r in results
        ],
    }


async def _one_runner(
    b24: Bitrix24Emulator,
    dsn: str,
    concurrency: int,
    *,
    trace: bool,
    profile: str | None,
    bot: bool,
) -> dict[str, Any]:
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    command = [
        sys.executable,
        *profiler,
        __file__,
        "--child",
        "--dsn",
        dsn,
        "--client-id",
        b24.client_id,
        "--oauth-url",
        b24.oauth_url,
        "--concurrency",
        str(concurrency),
    ]
    if trace:
        command.append("--tracemalloc")
    if bot:
        command.append("--bot")
    process = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, "BENCH_CLIENT_SECRET": b24.client_secret},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the pass failed with exit status {process.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def bench(args: argparse.Namespace) -> list[str]:
    server_dsn = os.environ.get("TOUCHPOINTS_DATABASE_URL", "").strip()
    scratch = None
    if not server_dsn:
        scratch = tempfile.TemporaryDirectory(prefix="touchpoints-bench-")
        server_dsn = ensure_embedded(Path(scratch.name))
    dsn = create_database(server_dsn, "touchpoints_bench")
    apply_migrations(dsn)
    rows: list[str] = []
    try:
        storage = await PostgresStorage.open(dsn, TokenCipher(TEST_SECRET), max_size=POOL_SIZE)
        async with Bitrix24Emulator(
            latency=args.latency_ms / 1000, rate_limit=RateLimit(burst=50, per_second=2.0)
        ) as b24:
            started = time.perf_counter()
            floors = await seed(b24, storage, args.portals, args.users, bot=args.bot)
            await storage.close()
            print(
                f"seeded {args.portals} portals x {args.users} users "
                f"in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            runs = [
                (f"full, concurrency {c}" + (f", {n} runners" if n > 1 else ""), c, True, n)
                for n in args.runners
                for c in args.concurrency
            ]
            runs.append(
                (f"again (all sent), concurrency {args.concurrency[-1]}", runs[-1][1], False, 1)
            )
            for index, (label, concurrency, fresh, runners) in enumerate(runs, start=1):
                if fresh:
                    await _empty_digest_log(dsn)
                result = await child_pass(
                    b24,
                    dsn,
                    concurrency,
                    trace=args.tracemalloc,
                    profile=f"{args.profile}.{index}" if args.profile else None,
                    bot=args.bot,
                    runners=runners,
                )
                shown = label
                if runners > 1:
                    shown = label + (
                        " ("
                        + "; ".join(
                            f"{r['due']} due, {r['busy']} busy, {r['sent']:,} sent"
                            for r in result["runners"]
                        )
                        + ")"
                    )
                rows.append(
                    _row(
                        shown,
                        result,
                        per_portal=[b24.requests(member) for member in floors],
                        floor=sum(floors.values()) if fresh else 0,
                        floor_s=(
                            math.ceil(len(floors) / (concurrency * runners))
                            * CHAIN
                            * args.latency_ms
                            / 1000
                            if fresh
                            else 0.0
                        ),
                        refused=sum(1 for record in b24.log if record.status == 503),
                        token_requests=b24.token_requests(),
                    )
                )
                print(rows[-1], flush=True)
    finally:
        drop_database(server_dsn, dsn)
        if scratch is not None:
            scratch.cleanup()
    return rows


async def _empty_digest_log(dsn: str) -> None:
    connection = await asyncpg.connect(libpq_url(dsn))
    try:
        await connection.execute("TRUNCATE digest_log, digest_days")
    finally:
        await connection.close()


def _row(
    label: str,
    result: dict[str, Any],
    *,
    per_portal: list[int],
    floor: int,
    floor_s: float,
    refused: int,
    token_requests: int,
) -> str:
    summary = result["summary"]
    peak = result["tracemalloc_peak"]
    peak_text = "-" if peak is None else f"{peak / 2**20:.0f} MiB"
    return (
        f"| {label} | {result['seconds']:.1f} s "
        + (f"| {floor_s:.2f} s ({result['seconds'] / floor_s:.2f}×) " if floor_s else "| - ")
        + f"| {result['cpu']:.1f} s "
        f"| {result['emulator_cpu']:.1f} s "
        f"| {summary['sent']:,} sent, {summary['failed']} failed, "
        f"{summary['failed_portals']} failed portals "
        f"| {sum(per_portal):,} ({min(per_portal)}/{statistics.mean(per_portal):.2f}/"
        f"{max(per_portal)}) | {floor:,} | {refused} | {token_requests} "
        f"| {result['rss_before_mib']:.0f} → {result['rss_peak_mib']:.0f} MiB | {peak_text} "
        f"| {result['round_trips']:,} ({result['round_trips'] / len(per_portal):.1f}) |"
    )


# ------------------------------------------------------------------ one pass (child)


def _memory_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, from /proc (Linux).

    Not ``ru_maxrss``: it survives ``exec`` and so starts at the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


_ROUND_TRIPS = [0]


def _count_round_trips() -> None:
    """Count this process's statements sent to Postgres (BEGIN and COMMIT included).

    Every asyncpg query goes through ``Connection._execute`` (or ``_executemany``), except
    ``execute`` without arguments (a simple query, as BEGIN and COMMIT are).
    """
    connection = asyncpg.connection.Connection
    counted = {name: getattr(connection, name) for name in ("_execute", "_executemany", "execute")}

    def wrap(name: str, method: Any) -> Any:
        async def counting(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            if name != "execute" or not args:
                _ROUND_TRIPS[0] += 1
                if os.environ.get("BENCH_TRACE_SQL"):
                    print("SQL", " ".join(str(query).split())[:150], file=sys.stderr)
            return await method(self, query, *args, **kwargs)

        return counting

    for name, method in counted.items():
        setattr(connection, name, wrap(name, method))


async def run_child(args: argparse.Namespace) -> dict[str, Any]:
    _count_round_trips()
    storage = await PostgresStorage.open(args.dsn, TokenCipher(TEST_SECRET), max_size=POOL_SIZE)
    clock = SystemClock()
    try:
        async with aiohttp.ClientSession() as session:
            oauth = BitrixOAuthServer(
                session,
                args.client_id,
                Secret(os.environ["BENCH_CLIENT_SECRET"]),
                args.oauth_url,
                clock=clock,
                allow_http=True,
            )
            connector = BitrixConnector(session, oauth, storage, clock, allow_http=True)
            settle_heap()  # as ``touchpoints digest`` does once its services are built
            rss_before = _memory_mib("VmRSS")
            if args.tracemalloc:
                tracemalloc.start()
            started = time.perf_counter()
            cpu_started = time.process_time()
            trips_before = _ROUND_TRIPS[0]
            summary = await run_digest_pass(
                storage=storage,
                connector=connector,
                messenger=BitrixMessenger(connector),
                clock=FixedClock(NOW),
                board_url=board_link(args.client_id),
                catalogue=load_catalogue(),
                concurrency=args.concurrency[0],
                bots=BitrixBotChannel(connector) if args.bot else None,
                links=app_links(args.client_id),
            )
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            round_trips = _ROUND_TRIPS[0] - trips_before
            peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    finally:
        await storage.close()
    return {
        "summary": {
            "sent": summary.sent,
            "failed": summary.failed,
            "failed_portals": summary.failed_portals,
            "due": summary.due,
            "busy": summary.busy,
        },
        "seconds": seconds,
        "cpu": cpu,
        "rss_before_mib": rss_before,
        "rss_peak_mib": _memory_mib("VmHWM"),
        "tracemalloc_peak": peak,
        "round_trips": round_trips,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--portals", type=int, default=1000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", default="16")
    parser.add_argument("--runners", default="1", help="pass processes at once, e.g. 1,2")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bot", action="store_true", help="digests as bot messages")
    parser.add_argument("--profile", metavar="PATH", help="cProfile each pass into PATH")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    parser.add_argument("--client-id", help=argparse.SUPPRESS)
    parser.add_argument("--oauth-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.concurrency = [int(value) for value in args.concurrency.split(",")]
    args.runners = [int(value) for value in args.runners.split(",")]
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        print(json.dumps(asyncio.run(run_child(args))), flush=True)
        return
    if args.quick:
        args.portals = 50
    print(
        f"{args.portals} portals x {args.users} users, latency {args.latency_ms:g} ms, "
        "leaky bucket 50 / 2 per s on every portal" + (", digest bot" if args.bot else ""),
        flush=True,
    )
    rows = asyncio.run(bench(args))
    print()
    print(
        "| pass | wall time | latency floor (wall ÷ floor) | CPU (the pass's process) | CPU (the emulator's) | outcome "
        "| requests (total, min/mean/max per portal) | floor | 503s | token requests "
        "| RSS before → peak | tracemalloc peak | DB round trips (per portal) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
