"""Work in bulk: a 200-item bulk reschedule's Bitrix24 requests and duration, and the list
view's latency for pages of 50 out of 10,000 visible touch-points.

    .venv/bin/python bench/bulk.py            # full run
    .venv/bin/python bench/bulk.py --quick    # smoke run (2,000 listed items)

The app runs with its real adapters on the embedded Postgres; Bitrix24 is the HTTP
emulator with a fixed latency per request, enforcing the default leaky bucket (burst 50,
then 2 requests/s) for the bulk runs. Results are printed as Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.b24_world import RateLimit

from bench.stack import Stack, app_stack, now, percentile, planned_call, summary_ms
from touchpoints.adapters.bitrix24.throttle import STANDARD, BucketLimits, Throttle
from touchpoints.domain.listing import ListPosition
from touchpoints.domain.model import OwnerType
from touchpoints.ports.storage import ListQuery

LATENCY_S = 0.02
BULK_ITEMS = 200


async def seed(stack: Stack, member_id: str, count: int, *, hours: int = 24) -> list[int]:
    """``count`` open touch-points of the admin on their own deals; returns their ids."""
    portal_id = await stack.portal_id(member_id)
    created = stack.b24.clock.now().replace(microsecond=0)
    ids: list[int] = []
    async with stack.storage.unit_of_work() as uow:
        for n in range(count):
            ref = stack.b24.add_record(member_id, OwnerType.DEAL, title=f"Deal {n}")
            deadline = created + timedelta(hours=hours + n % 500, minutes=n % 60)
            activity = stack.b24.add_activity(
                member_id,
                ref,
                deadline=deadline,
                responsible_id=1,
                subject=f"Call about offer {n}",
                description="Ask for the budget owner.",
            )
            added = await uow.touch_points.add(
                planned_call(
                    portal_id=portal_id,
                    activity_id=activity,
                    owner=ref,
                    deadline=deadline,
                    created_at=created,
                )
            )
            ids.append(added.id)
    return ids


async def post(stack: Stack, path: str, session: str, body: Any) -> tuple[int, Any, float]:
    started = now()
    async with stack.http.post(
        f"{stack.base_url}{path}", json=body, headers={"Authorization": f"Bearer {session}"}
    ) as response:
        payload = await response.json()
        return response.status, payload, now() - started


def events_elsewhere(stack: Stack, member_id: str, elsewhere: bool) -> None:
    """Whether the portal's activity events skip this process (as when another replica
    takes them): their handling then does not share the CPU with the measured request."""
    for binding in stack.b24.portal(member_id).event_bindings:
        if binding.event.startswith("ONCRMACTIVITY"):
            binding.offline = elsewhere


async def bulk_runs() -> None:
    limits = STANDARD
    print(
        f"Bitrix24 emulator latency {LATENCY_S * 1000:.0f} ms per request; portal and app "
        f"bucket: burst {limits.burst}, then {limits.drain_per_s:g} requests/s\n"
    )
    print(
        "| run | items | Bitrix24 requests | target ceil(n/50)+3 | wall time "
        "| rate-limit floor | floor + 2 s |"
    )
    print("|---|---|---|---|---|---|---|")
    target = math.ceil(BULK_ITEMS / 50) + 3
    async with app_stack(latency=LATENCY_S, throttle=Throttle(default=limits)) as stack:
        member_id = await stack.install()
        stack.b24.set_rate_limit(member_id, RateLimit(burst=limits.burst, per_second=2.0))
        ids = await seed(stack, member_id, BULK_ITEMS)
        session = await stack.session_for(member_id, 1)
        runs = (
            ("to a day, empty bucket", True, {"action": "reschedule", "day": "2027-01-12"}),
            (
                "+1 working day, empty bucket",
                True,
                {"action": "reschedule", "shift": {"working_days": 1}},
            ),
            (
                "-1 working day, events in this process",
                False,
                {"action": "reschedule", "shift": {"working_days": -1}},
            ),
        )
        undo = ""
        for label, elsewhere, body in runs:
            events_elsewhere(stack, member_id, elsewhere)
            await stack.b24.drain_events()
            await asyncio.sleep(limits.burst / limits.drain_per_s)  # both buckets drain
            stack.b24.reset_counters()
            status, reply, wall = await post(
                stack, "/api/v1/touchpoints/bulk", session, {"ids": ids, **body}
            )
            assert status == 200, reply
            assert len(reply["done"]) == BULK_ITEMS, reply["failed"][:3]
            used = stack.b24.requests(member_id)
            # Within the burst nothing waits: the floor is zero, the target two seconds.
            floor = max(0.0, (used - limits.capacity) / limits.drain_per_s)
            print(
                f"| reschedule {label} | {BULK_ITEMS} | {used} | {target} | {wall:.2f} s "
                f"| {floor:.2f} s | {floor + 2:.2f} s |"
            )
            undo = reply["undo"]["token"]
        events_elsewhere(stack, member_id, True)
        await stack.b24.drain_events()
        await asyncio.sleep(5)  # the app's own event workers finish the last run's events
        # A full bucket: spend the burst on reads first, so that the writes are paced.
        for tp_id in ids[:50]:
            async with stack.http.get(
                f"{stack.base_url}/api/v1/touchpoints/{tp_id}",
                headers={"Authorization": f"Bearer {session}"},
            ) as response:
                assert response.status == 200
        stack.b24.reset_counters()
        status, reply, wall = await post(stack, "/api/v1/undo", session, {"token": undo})
        assert status == 200, reply
        used = stack.b24.requests(member_id)
        # At most this: the bucket may have drained a little since the reads.
        floor = used / limits.drain_per_s
        codes = sorted({failure["code"] for failure in reply["failed"]})
        print(
            f"| undo of the last run, bucket full after 50 reads | {len(reply['done'])} "
            f"(failed: {len(reply['failed'])} {' '.join(codes)}) | {used} | {target} "
            f"| {wall:.2f} s | ≤ {floor:.2f} s | ≤ {floor + 2:.2f} s |"
        )


async def list_runs(total: int) -> None:
    unlimited = Throttle(default=BucketLimits(burst=1_000_000, drain_per_s=1_000_000.0))
    async with app_stack(latency=LATENCY_S, throttle=unlimited) as stack:
        member_id = await stack.install()
        started = now()
        await seed(stack, member_id, total)
        seeded = now() - started
        session = await stack.session_for(member_id, 1)
        headers = {"Authorization": f"Bearer {session}"}

        async def page(query: str) -> tuple[Any, float]:
            started = now()
            async with stack.http.get(
                f"{stack.base_url}/api/v1/touchpoints?{query}", headers=headers
            ) as response:
                body = await response.json()
                assert response.status == 200, body
            return body, now() - started

        for _ in range(5):
            await page("limit=50")  # warm up
        firsts = [(await page("limit=50"))[1] for _ in range(100)]
        walked: list[float] = []
        cursor = ""
        seen = 0
        stack.b24.reset_counters()
        while True:
            body, elapsed = await page(f"limit=50&cursor={cursor}")
            walked.append(elapsed)
            seen += len(body["items"])
            if body["next_cursor"] is None:
                break
            cursor = body["next_cursor"]
        assert seen == total, (seen, total)
        requests_per_page = stack.b24.requests(member_id) / len(walked)
        filtered = [
            (await page("limit=50&status=open&owner_type=deal&from=2026-01-01&to=2030-12-31"))[1]
            for _ in range(50)
        ]
        searches = [(await page("limit=50&q=offer%20999"))[1] for _ in range(10)]
        portal_id = await stack.portal_id(member_id)
        positions = [None]
        async with stack.storage.unit_of_work() as uow:
            rows = await uow.touch_points.page(portal_id, ListQuery(limit=total))
        positions += [
            ListPosition(deadline=rows[n].deadline, id=rows[n].id)
            for n in range(49, total - 1, max(1, total // 200))
        ]
        queries: list[float] = []
        for position in positions:
            started = now()
            async with stack.storage.unit_of_work() as uow:
                found = await uow.touch_points.page(
                    portal_id, ListQuery(responsible_ids=None, after=position, limit=51)
                )
            queries.append(now() - started)
            assert found
        print(
            f"\nList view over {total:,} visible touch-points (seeded in {seeded:.0f} s), "
            f"emulator latency {LATENCY_S * 1000:.0f} ms, app bucket lifted:\n"
        )
        print("| request | runs | latency | p95 < 150 ms |")
        print("|---|---|---|---|")
        for label, values in (
            ("first page of 50", firsts),
            (
                f"every page of 50 by cursor ({requests_per_page:.1f} Bitrix24 requests each)",
                walked,
            ),
            ("first page of 50, all filters set", filtered),
            ("search `q` (one match, scans 1,000 rows)", searches),
            ("storage only: one page query (51 rows) at any cursor", queries),
        ):
            p95 = percentile(values, 0.95) * 1000
            print(
                f"| {label} | {len(values)} | {summary_ms(values)} | "
                f"{'yes' if p95 < 150 else 'no'} |"
            )


async def main(quick: bool) -> None:
    await bulk_runs()
    await list_runs(2_000 if quick else 10_000)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
