"""Bursts of activity events, duplicated and out of order, converge to the CRM's latest state."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta

import pytest

from tests.integration.conftest import Harness
from touchpoints.domain.model import OwnerType

pytestmark = pytest.mark.postgres


async def wait_until(condition: object, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the touch-points did not converge in time")


async def test_a_burst_of_duplicated_out_of_order_events_converges_fast(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    colleague = harness.b24.add_user(member_id, name="Colleague")
    base = harness.b24.clock.now().replace(microsecond=0) + timedelta(days=1)
    ours: list[int] = []
    for n in range(12):
        deal = harness.b24.add_record(member_id, OwnerType.DEAL, title=f"Deal {n}")
        created = await harness.create_touch_point(
            member_id, session, deal_id=deal.id, deadline=base + timedelta(hours=n)
        )
        ours.append(created["activity_id"])
    strangers = [
        harness.b24.add_activity(
            member_id,
            harness.b24.add_record(member_id, OwnerType.LEAD, title="Lead"),
            deadline=base,
            responsible_id=1,
        )
        for _ in range(8)
    ]
    rng = random.Random(5)
    portal = harness.b24.portal(member_id)
    # Several edits per activity in the CRM; only the last state counts.
    for _round in range(3):
        for activity_id in ours:
            activity = portal.activities[activity_id]
            activity.deadline = base + timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 8))
            activity.responsible_id = rng.choice([1, colleague])
            activity.completed = rng.random() < 0.2
    events = [rng.choice(ours + strangers) for _ in range(300)]
    latencies: list[float] = []
    statuses: list[int | None] = []
    gate = asyncio.Semaphore(25)

    async def deliver(activity_id: int) -> None:
        async with gate:
            started = time.perf_counter()
            delivery = await harness.b24.send_event(
                harness.events_url, "ONCRMACTIVITYUPDATE", member_id, {"ID": str(activity_id)}
            )
            latencies.append(time.perf_counter() - started)
            statuses.append(delivery.status)

    started = time.perf_counter()
    await asyncio.gather(*(deliver(activity_id) for activity_id in events))
    elapsed = time.perf_counter() - started
    assert set(statuses) == {200}
    assert max(latencies) < 1.0, max(latencies)

    async def converged() -> bool:
        async with harness.storage.unit_of_work() as uow:
            stored_portal = await uow.portals.get_by_member_id(member_id)
            assert stored_portal is not None
            rows = await uow.touch_points.by_activities(stored_portal.id, ours)
        for row in rows:
            activity = portal.activities[row.activity_id]
            expected_status = "done" if activity.completed else "open"
            if (row.deadline, row.responsible_id, row.status.value) != (
                activity.deadline,
                activity.responsible_id,
                expected_status,
            ):
                return False
        return len(rows) == len(ours)

    await wait_until(converged)
    # Coalescing: far fewer activity reads than events (every event for ours would be 1).
    reads = harness.b24.calls(member_id, "crm.activity.list")
    assert reads < len([e for e in events if e in ours]) / 3, reads
    print(
        f"\n300 events in {elapsed:.2f} s ({300 / elapsed:.0f}/s), max latency {max(latencies) * 1000:.0f} ms"
    )
