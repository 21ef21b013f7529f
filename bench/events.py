"""Verified activity events per second at ``POST /b24/events``, next to a bare aiohttp handler.

    .venv/bin/python bench/events.py            # full run
    .venv/bin/python bench/events.py --quick    # smoke run
    .venv/bin/python bench/events.py --as-served    # with the event inbox and shared budget

Events are posted form-encoded with bracket keys, as Bitrix24 sends them (BITRIX24.md §9.2),
from a client in the same process, on the embedded Postgres. Two kinds: events about
activities that are not ours (verified, then ignored without a REST call) and about ours
(verified, queued and fetched from the emulator in coalesced batches).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import Stack, app_stack, bare_server, now, planned_call, summary_ms
from touchpoints.domain.model import OwnerType


async def seed(stack: Stack, member_id: str, count: int) -> list[int]:
    portal_id = await stack.portal_id(member_id)
    created = stack.b24.clock.now()
    activities: list[int] = []
    async with stack.storage.unit_of_work() as uow:
        for n in range(count):
            ref = stack.b24.add_record(member_id, OwnerType.DEAL, title=f"Deal {n}")
            deadline = created + timedelta(hours=n)
            activity = stack.b24.add_activity(member_id, ref, deadline=deadline, responsible_id=1)
            await uow.touch_points.add(
                planned_call(
                    portal_id=portal_id,
                    activity_id=activity,
                    owner=ref,
                    deadline=deadline,
                    created_at=created,
                )
            )
            activities.append(activity)
    return activities


def event_form(member_id: str, token: str, activity_id: int) -> dict[str, str]:
    return {
        "event": "ONCRMACTIVITYUPDATE",
        "event_handler_id": "1",
        "data[FIELDS][ID]": str(activity_id),
        "ts": "1790000000",
        "auth[domain]": "portal.bitrix24.test",
        "auth[client_endpoint]": "https://portal.bitrix24.test/rest/",
        "auth[server_endpoint]": "https://oauth.bitrix.info/rest/",
        "auth[member_id]": member_id,
        "auth[application_token]": token,
        "auth[status]": "F",
        "auth[scope]": "crm",
    }


async def post_all(
    stack: Stack, url: str, forms: list[dict[str, str]], concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    pending = iter(forms)

    async def worker() -> None:
        for form in pending:
            started = now()
            async with stack.http.post(url, data=form) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append(now() - started)

    started = now()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return now() - started, latencies


async def main(quick: bool, as_served: bool) -> None:
    total = 500 if quick else 3_000
    concurrency = 16
    async with app_stack(latency=0.01, as_served=as_served) as stack:
        member_id = await stack.install()
        token = stack.b24.portal(member_id).application_token
        ours = await seed(stack, member_id, 200)
        url = f"{stack.base_url}/b24/events"
        strangers = [event_form(member_id, token, 1_000_000 + n) for n in range(total)]
        mine = [event_form(member_id, token, ours[n % len(ours)]) for n in range(total)]
        await post_all(stack, url, strangers[:50], 4)  # warm up
        rows = []
        wall, latencies = await post_all(stack, url, strangers, concurrency)
        rows.append(("not ours (verified, ignored)", wall, latencies))
        stack.b24.reset_counters()
        wall, latencies = await post_all(stack, url, mine, concurrency)
        reads = stack.b24.requests(member_id)
        rows.append((f"ours (verified, fetched: {reads} Bitrix24 requests)", wall, latencies))
        async with bare_server() as bare:
            wall, latencies = await post_all(stack, bare, strangers, concurrency)
            rows.append(("bare aiohttp handler", wall, latencies))
        print(f"{total} events per kind, {concurrency} concurrent deliveries\n")
        print("| events | events/s | handler latency |")
        print("|---|---|---|")
        for name, wall, latencies in rows:
            print(f"| {name} | {total / wall:.0f} | {summary_ms(latencies)} |")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\nPeak RSS of the process (app, emulator and client together): {peak:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--as-served",
        action="store_true",
        help="with the event inbox and the shared Bitrix24 budget, as `serve` runs",
    )
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.as_served))
