"""The app in its own process: board renders and events, next to a bare aiohttp server.

    .venv/bin/python bench/app_process.py                              # this checkout
    .venv/bin/python bench/app_process.py --app-src /tmp/orig/src      # another checkout's src
    .venv/bin/python bench/app_process.py --round-trips                # + Postgres round trips
    .venv/bin/python bench/app_process.py --quick
    .venv/bin/python bench/app_process.py --instructions [--app-src DIR]  # under callgrind

This process hosts the Bitrix24 emulator (no latency, no rate limit: the app is what is
measured) and the load. The app talks to it through a replay server in a child process (each
distinct request forwarded once, then answered from memory, so a board's batch costs what a
bare server's answer does and the emulator's own CPU stays out of the figures). The app
runs in a child process (the real aiohttp app, Postgres
storage, the durable event inbox, its Bitrix24 bucket lifted as for a generous Enterprise
limit), and so does a bare aiohttp server answering the same client: a board-sized body for
``GET``, ``{"ok": true}`` for a posted form. Both children's CPU is read from ``/proc``, so
"CPU per request" is the app's own. Each figure is the median of ``--repeat`` rounds, the app
and the bare server measured alternately in every round, so their ratio compares the same
moment of a shared machine. ``--round-trips`` puts ``tests/roundtrips.py``'s counting proxy
between the app and Postgres and reports round trips per request (sequential requests).

``--instructions`` runs the app and the bare server under valgrind's callgrind instead and
reports instructions executed per request (the children's own, counted between two dumps
around each load). Seconds on a shared virtual machine swing by a factor of two from one
hour to the next; instruction counts do not, so two checkouts compare within a percent or
so whenever they are measured. They count work, not cache misses or system calls, which
the timed figures still show.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET_KEY = "bench-process-secret-key-0123456789abcdefgh"
CARDS = 200
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SCRIPT = str(Path(__file__).resolve())

_Child = TypeVar("_Child")  # a pid, or a Callgrind of one


def _settle_heap() -> None:
    """What ``touchpoints serve`` does once it listens (``entrypoints.heap``), where the
    checkout has it."""
    try:
        from touchpoints.entrypoints.heap import settle_heap
    except ImportError:
        return
    settle_heap()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# ------------------------------------------------------------------ the children


async def _run_until_terminated(start: Callable[[], Awaitable[Any]]) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    cleanup = await start()
    profile_path = os.environ.get("TP_BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_path else None
    if profiler is not None:
        profiler.enable()
    await stop.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile_path))
    await cleanup()


async def child_app(port: int) -> None:
    """The app as ``touchpoints serve`` builds it, but for the bucket (lifted)."""
    import aiohttp
    from aiohttp import web

    from touchpoints.adapters.bitrix24.connector import BitrixConnector
    from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
    from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
    from touchpoints.adapters.bitrix24.throttle import BucketLimits, Throttle
    from touchpoints.adapters.clock import SystemClock
    from touchpoints.adapters.postgres.crypto import TokenCipher
    from touchpoints.adapters.postgres.event_inbox import PostgresEventInbox
    from touchpoints.adapters.postgres.storage import PostgresStorage
    from touchpoints.domain.secrets import Secret
    from touchpoints.entrypoints.app import web_app
    from touchpoints.entrypoints.config import PrivacyConfig
    from touchpoints.entrypoints.container import Services
    from touchpoints.entrypoints.sessions import SessionSealer
    from touchpoints.services.installation import Handlers

    dsn = os.environ["TP_BENCH_DSN"]
    b24 = json.loads(os.environ["TP_BENCH_B24"])
    base_url = f"http://127.0.0.1:{port}"

    async def start() -> Callable[[], Awaitable[None]]:
        storage = await PostgresStorage.open(dsn, TokenCipher(Secret(SECRET_KEY)), max_size=10)
        inbox = await PostgresEventInbox.open(dsn)
        session = aiohttp.ClientSession()
        clock = SystemClock()
        oauth = BitrixOAuthServer(
            session,
            b24["client_id"],
            Secret(b24["client_secret"]),
            b24["oauth_url"],
            clock=clock,
            allow_http=True,
        )
        unlimited = Throttle(default=BucketLimits(burst=1_000_000, drain_per_s=1_000_000.0))
        connector = BitrixConnector(session, oauth, storage, clock, unlimited, allow_http=True)
        services = Services(
            storage=storage,
            connector=connector,
            oauth=oauth,
            messenger=BitrixMessenger(connector),
            clock=clock,
            sealer=SessionSealer(Secret(SECRET_KEY)),
            handlers=Handlers.under(base_url),
            privacy=PrivacyConfig(),
            allow_http=True,
            inbox=inbox,
        )
        runner = web.AppRunner(web_app(services), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        _settle_heap()

        async def cleanup() -> None:
            await runner.cleanup()
            await session.close()
            await inbox.close()
            await storage.close()

        return cleanup

    await _run_until_terminated(start)


async def child_bare(port: int, body_bytes: int) -> None:
    """A bare aiohttp server: a JSON body of ``body_bytes`` for GET, ``{"ok": true}`` for a form."""
    from aiohttp import web

    body = b'{"pad":"' + b"x" * max(0, body_bytes - 10) + b'"}'

    async def get(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def post(request: web.Request) -> web.Response:
        await request.post()
        return web.json_response({"ok": True})

    async def start() -> Callable[[], Awaitable[None]]:
        app = web.Application()
        app.router.add_get("/", get)
        app.router.add_post("/", post)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner.cleanup

    await _run_until_terminated(start)


async def child_replay(port: int, upstream: str) -> None:
    """Bitrix24 for the board at the cost of a bare server: each distinct REST request is
    forwarded to the emulator once and its answer replayed from then on (a board's batch
    is the same request every time), so the board's throughput is the app's, not the
    emulator's."""
    import aiohttp
    from aiohttp import web

    replies: dict[tuple[str, str, bytes], tuple[int, bytes, str]] = {}

    async def start() -> Callable[[], Awaitable[None]]:
        session = aiohttp.ClientSession()

        async def relay(request: web.Request) -> web.Response:
            body = await request.read()
            key = (request.method, request.path_qs, body)
            known = replies.get(key)
            if known is None:
                async with session.request(
                    request.method,
                    f"{upstream}{request.path_qs}",
                    data=body,
                    headers={"Content-Type": request.headers.get("Content-Type", "")},
                ) as reply:
                    known = (reply.status, await reply.read(), reply.content_type)
                if known[0] == 200:
                    replies[key] = known
            status, payload, content_type = known
            return web.Response(status=status, body=payload, content_type=content_type)

        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", relay)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

        async def cleanup() -> None:
            await runner.cleanup()
            await session.close()

        return cleanup

    await _run_until_terminated(start)


# ------------------------------------------------------------------ the load


async def spawn(
    args: list[str], env: dict[str, str], *, callgrind: str | None = None
) -> asyncio.subprocess.Process:
    """A child of this script; under callgrind, its counts written to ``callgrind``.<pid>."""
    valgrind = (
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={callgrind}.%p"]
        if callgrind
        else []
    )
    return await asyncio.create_subprocess_exec(
        *valgrind,
        sys.executable,
        SCRIPT,
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def stopped(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
    await process.wait()


def event_form(member_id: str, token: str, activity_id: int) -> dict[str, str]:
    from bench.events import event_form as form

    return form(member_id, token, activity_id)


async def load(
    http: Any,
    method: str,
    *,
    url: str,
    items: list[Any],
    concurrency: int,
    headers: dict[str, str] | None = None,
) -> tuple[float, list[float]]:
    """Send ``items`` (forms, or None for a GET) ``concurrency`` at a time; wall and latencies."""
    latencies: list[float] = []
    pending = iter(items)

    async def worker() -> None:
        for item in pending:
            started = time.perf_counter()
            async with http.request(method, url, data=item, headers=headers) as reply:
                await reply.read()
                assert reply.status == 200, reply.status
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def p(latencies: list[float], q: float) -> float:
    from bench.stack import percentile

    return percentile(latencies, q) * 1000


async def seed(dsn: str, member_id: str, b24: Any) -> list[int]:
    """``CARDS`` open touch-points of the admin, each on its own deal; their activity ids."""
    from bench.stack import planned_call
    from touchpoints.adapters.postgres.crypto import TokenCipher
    from touchpoints.adapters.postgres.storage import PostgresStorage
    from touchpoints.domain.model import OwnerType
    from touchpoints.domain.secrets import Secret

    storage = await PostgresStorage.open(dsn, TokenCipher(Secret(SECRET_KEY)), max_size=2)
    try:
        async with storage.unit_of_work() as uow:
            portal = await uow.portals.get_by_member_id(member_id)
            assert portal is not None
            created = b24.clock.now()
            activities = []
            for n in range(CARDS):
                ref = b24.add_record(member_id, OwnerType.DEAL, title=f"Deal {n}", assigned_by_id=1)
                deadline = created + timedelta(hours=n % 400)
                activity = b24.add_activity(
                    member_id,
                    ref,
                    deadline=deadline,
                    responsible_id=1,
                    subject=f"Call about offer {n}",
                    description="Ask for the budget owner; bring the pilot figures.",
                )
                await uow.touch_points.add(
                    planned_call(
                        portal_id=portal.id,
                        activity_id=activity,
                        owner=ref,
                        deadline=deadline,
                        created_at=created,
                    )
                )
                activities.append(activity)
    finally:
        await storage.close()
    return activities


async def main(
    app_src: str | None,
    *,
    repeat: int,
    quick: bool,
    round_trips: bool,
    profile: str | None,
    instructions: bool = False,
) -> None:
    import aiohttp
    from tests.fakes.bitrix24 import Bitrix24Emulator
    from tests.net import free_port, wait_ready
    from tests.roundtrips import counting

    from touchpoints.adapters.postgres.embedded import ensure_embedded
    from touchpoints.adapters.postgres.migrate import apply_migrations

    renders, events = (40, 300) if quick else (300, 2_000)
    if instructions:
        renders, events = (10, 40) if quick else (60, 300)
    scratch = tempfile.mkdtemp(prefix="tp-bench-process-")
    counts = {name: f"{scratch}/callgrind-{name}" for name in ("app", "bare")}
    dsn = ensure_embedded(Path(scratch))
    apply_migrations(dsn)
    async with (
        Bitrix24Emulator() as b24,
        aiohttp.ClientSession() as http,
        counting(dsn) as wire,
    ):
        app_port, bare_port = free_port(), free_port()
        base, bare = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}/"
        pythonpath = os.pathsep.join(filter(None, [app_src, str(ROOT / "src"), str(ROOT)]))
        env = {
            **os.environ,
            "PYTHONPATH": pythonpath,
            "TP_BENCH_DSN": wire.dsn if round_trips else dsn,
            "TP_BENCH_B24": json.dumps(
                {
                    "client_id": b24.client_id,
                    "client_secret": b24.client_secret,
                    "oauth_url": b24.oauth_url,
                }
            ),
        }
        app = await spawn(
            ["--child", "app", "--port", str(app_port)],
            {**env, **({"TP_BENCH_PROFILE": profile} if profile else {})},
            callgrind=counts["app"] if instructions else None,
        )
        processes = [app]
        try:
            await wait_ready(http, base, app, timeout_s=600 if instructions else 60)
            launch = b24.install()
            member_id = launch.form["member_id"]
            async with http.post(f"{base}/b24/install", params=launch.query, data=launch.form) as r:
                assert r.status == 200, await r.text()
            await b24.install_finish(member_id)
            await b24.drain_events()
            ours = await seed(dsn, member_id, b24)
            frame = b24.frame_launch(member_id, 1)
            async with http.post(f"{base}/b24/app", params=frame.query, data=frame.form) as r:
                found = re.search(r'name="tp-session" content="([^"]+)"', await r.text())
            assert found is not None
            headers = {"Authorization": f"Bearer {found.group(1)}"}
            replay_port = free_port()
            endpoint = urlsplit(b24.portal_endpoint(member_id))
            upstream = f"{endpoint.scheme}://{endpoint.netloc}"
            processes.append(
                await spawn(
                    ["--child", "replay", "--port", str(replay_port), "--upstream", upstream], env
                )
            )
            await _wait_bare(http, f"http://127.0.0.1:{replay_port}/")
            # The app reads its portal on every request: from now on it calls the replay.
            await repoint(dsn, member_id, f"http://127.0.0.1:{replay_port}{endpoint.path}")
            async with http.get(f"{base}/api/v1/board", headers=headers) as r:
                body = await r.read()
                assert r.status == 200
            items = sum(len(c["items"]) for c in json.loads(body)["columns"])
            assert items == CARDS, items
            bare_process = await spawn(
                ["--child", "bare", "--port", str(bare_port), "--body-bytes", str(len(body))],
                env,
                callgrind=counts["bare"] if instructions else None,
            )
            processes.append(bare_process)
            await _wait_bare(http, bare, attempts=3000 if instructions else 100)
            token = b24.portal(member_id).application_token
            strangers = [event_form(member_id, token, 9_000_000 + n) for n in range(events)]
            mine = [event_form(member_id, token, ours[n % len(ours)]) for n in range(events)]
            board_url, events_url = f"{base}/api/v1/board", f"{base}/b24/events"
            # Warm up: every statement prepared, every pooled connection opened.
            await load(
                http, "GET", url=board_url, items=[None] * 20, concurrency=8, headers=headers
            )
            await load(http, "POST", url=events_url, items=strangers[:100], concurrency=16)
            await load(http, "POST", url=events_url, items=mine[:100], concurrency=16)

            await asyncio.sleep(2)  # the warm-up's syncs, which the answers did not wait for
            work = Workload(
                board_url=board_url,
                events_url=events_url,
                bare_url=bare,
                headers=headers,
                renders=renders,
                strangers=strangers,
                mine=mine,
            )
            if instructions:
                figures = await count_instructions(
                    http,
                    work,
                    app=Callgrind(app.pid, counts["app"]),
                    bare=Callgrind(bare_process.pid, counts["bare"]),
                )
                print(
                    f"app from {app_src or 'this checkout'}; {CARDS}-card board "
                    f"({len(body):,} bytes); instructions per request under callgrind\n"
                )
                print("| figure | value |\n|---|---|")
                for name, value in figures.items():
                    print(
                        f"| {name} | {value:,.3f} |"
                        if value < 100
                        else f"| {name} | {value:,.0f} |"
                    )
                return
            if round_trips:
                await report_round_trips(
                    http,
                    wire=wire,
                    board_url=board_url,
                    events_url=events_url,
                    headers=headers,
                    strangers=strangers,
                )
                return
            rounds: dict[str, list[float]] = {}
            for _ in range(repeat):
                for name, value in (
                    await one_round(http, work, app_pid=app.pid, bare_pid=bare_process.pid)
                ).items():
                    rounds.setdefault(name, []).append(value)
            print_rounds(rounds, repeat, app_src, len(body))
        finally:
            for process in processes:
                await stopped(process)


async def repoint(dsn: str, member_id: str, endpoint: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "UPDATE portals SET client_endpoint = $2 WHERE member_id = $1", member_id, endpoint
        )
    finally:
        await connection.close()


async def _wait_bare(http: Any, url: str, *, attempts: int = 100) -> None:
    for _ in range(attempts):
        try:
            async with http.get(url) as reply:
                if reply.status < 500:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the bare server never answered")


@attrs.frozen(kw_only=True)
class Workload:
    """The five loads of a round, on the app and on the bare server, in their order."""

    board_url: str
    events_url: str
    bare_url: str
    headers: dict[str, str]
    renders: int
    strangers: list[dict[str, str]]
    mine: list[dict[str, str]]

    def steps(
        self, app: _Child, bare: _Child
    ) -> list[tuple[str, _Child, str, str, list[Any], int, Any]]:
        """(name, child, method, url, items, concurrency, headers) for each load."""
        gets: list[Any] = [None] * self.renders
        return [
            ("board", app, "GET", self.board_url, gets, 8, self.headers),
            ("bare GET", bare, "GET", self.bare_url, gets, 8, None),
            ("not ours", app, "POST", self.events_url, self.strangers, 16, None),
            ("ours", app, "POST", self.events_url, self.mine, 16, None),
            ("bare POST", bare, "POST", self.bare_url, self.strangers, 16, None),
        ]


async def one_round(http: Any, work: Workload, *, app_pid: int, bare_pid: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, pid, method, url, items, concurrency, extra in work.steps(app_pid, bare_pid):
        before = cpu_s(pid)
        wall, latencies = await load(
            http, method, url=url, items=items, concurrency=concurrency, headers=extra
        )
        if name == "ours":
            await asyncio.sleep(0.5)  # the syncs the answers did not wait for
        used = cpu_s(pid) - before
        figures[f"{name} per s"] = len(items) / wall
        figures[f"{name} CPU ms"] = used / len(items) * 1000
        figures[f"{name} p50 ms"] = p(latencies, 0.5)
        figures[f"{name} p95 ms"] = p(latencies, 0.95)
    figures["board ÷ bare"] = figures["board per s"] / figures["bare GET per s"]
    figures["not ours ÷ bare"] = figures["not ours per s"] / figures["bare POST per s"]
    figures["ours ÷ bare"] = figures["ours per s"] / figures["bare POST per s"]
    return figures


class Callgrind:
    """A child running under callgrind: each ``dump`` writes and zeroes its counters."""

    def __init__(self, pid: int, prefix: str) -> None:
        self.pid = pid
        self.prefix = prefix
        self.dumps = 0

    async def dump(self) -> int:
        """Instructions executed since the previous dump (or since the start)."""
        control = await asyncio.create_subprocess_exec(
            "callgrind_control",
            "--dump",
            str(self.pid),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await control.wait() == 0, "callgrind_control --dump failed"
        self.dumps += 1
        path = Path(f"{self.prefix}.{self.pid}.{self.dumps}")
        for _ in range(600):
            total = await asyncio.to_thread(_take_totals, path)
            if total is not None:
                return total
            await asyncio.sleep(0.1)
        raise AssertionError(f"callgrind wrote no {path}")


def _take_totals(path: Path) -> int | None:
    """The ``totals:`` of a finished callgrind dump, the file removed; None until written."""
    if not path.exists():
        return None
    found = re.search(r"^totals: (\d+)", path.read_text(), re.MULTILINE)
    if found is None:
        return None
    path.unlink()
    return int(found.group(1))


async def settled(pid: int, *, within_s: float = 300.0) -> None:
    """Wait until ``pid`` stops using the CPU: work the answers did not wait for is done."""
    before = cpu_s(pid)
    for _ in range(int(within_s / 0.5)):
        await asyncio.sleep(0.5)
        now = cpu_s(pid)
        if now - before < 0.02:
            return
        before = now
    raise AssertionError(f"process {pid} still busy after {within_s:.0f} s")


async def count_instructions(
    http: Any, work: Workload, *, app: Callgrind, bare: Callgrind
) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, child, method, url, items, concurrency, extra in work.steps(app, bare):
        await settled(child.pid)
        await child.dump()
        await load(http, method, url=url, items=items, concurrency=concurrency, headers=extra)
        await settled(child.pid)
        figures[f"{name} instructions"] = await child.dump() / len(items)
    for name, bare_name in (
        ("board", "bare GET"),
        ("not ours", "bare POST"),
        ("ours", "bare POST"),
    ):
        figures[f"{name} ÷ bare (instructions)"] = (
            figures[f"{name} instructions"] / figures[f"{bare_name} instructions"]
        )
    return figures


def print_rounds(
    rounds: dict[str, list[float]], repeat: int, app_src: str | None, size: int
) -> None:
    print(
        f"app from {app_src or 'this checkout'}; {CARDS}-card board ({size:,} bytes); "
        f"median of {repeat} rounds (min–max)\n"
    )
    print("| figure | median | min | max |\n|---|---|---|---|")
    for name, values in rounds.items():
        print(
            f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} |"
        )


async def report_round_trips(
    http: Any,
    *,
    wire: Any,
    board_url: str,
    events_url: str,
    headers: dict[str, str],
    strangers: list[dict[str, str]],
) -> None:
    print("| request (sequential, warmed up) | Postgres round trips per request |\n|---|---|")
    for name, method, url, items, extra in (
        ("board, 200 cards", "GET", board_url, [None] * 20, headers),
        ("event, activity not ours", "POST", events_url, strangers[:50], None),
    ):
        wire.reset()
        await load(http, method, url=url, items=items, concurrency=1, headers=extra)
        print(f"| {name} | {wire.reset() / len(items):.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-src", help="run the app from this src directory")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--round-trips", action="store_true")
    parser.add_argument("--profile", help="write the app process's cProfile stats here")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under callgrind"
    )
    parser.add_argument("--child", choices=["app", "bare", "replay"], help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--body-bytes", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "app":
        asyncio.run(child_app(args.port))
    elif args.child == "bare":
        asyncio.run(child_bare(args.port, args.body_bytes))
    elif args.child == "replay":
        asyncio.run(child_replay(args.port, args.upstream))
    else:
        asyncio.run(
            main(
                args.app_src,
                repeat=args.repeat,
                quick=args.quick,
                round_trips=args.round_trips,
                profile=args.profile,
                instructions=args.instructions,
            )
        )
