"""One Bitrix24 budget per portal in Postgres, shared by processes (BITRIX24.md §7).

Each ``PostgresRateBudget`` here has a pool of its own, as each replica has.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tests.contracts.conftest import Make
from tests.net import free_port
from touchpoints.adapters.bitrix24.throttle import BucketLimits, Throttle
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.adapters.postgres.rate_budget import PostgresRateBudget
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.ports.rate_budget import Admission
from touchpoints.ports.storage import StorageUnavailable

pytestmark = pytest.mark.postgres

CAPACITY = 5.0
DRAIN = 2.0
SLACK_S = 0.1  # statements take time, and the level drains meanwhile

Replicas = Callable[[int], Awaitable[list[PostgresRateBudget]]]


@pytest.fixture
async def replicas(pg_dsn: str, pg_storage: PostgresStorage) -> AsyncIterator[Replicas]:
    """Budgets on the (emptied) session database, one pool each; closed afterwards."""
    opened: list[PostgresRateBudget] = []

    async def open_(count: int) -> list[PostgresRateBudget]:
        made = [await PostgresRateBudget.open(pg_dsn) for _ in range(count)]
        opened.extend(made)
        return made

    yield open_
    for budget in opened:
        await budget.close()


async def _admit(
    budget: PostgresRateBudget,
    key: str,
    method: str = "batch",
    *,
    max_wait_s: float = float("inf"),
    capacity: float = CAPACITY,
    drain_per_s: float = DRAIN,
) -> Admission:
    admission = await budget.admit(
        key, method, capacity=capacity, drain_per_s=drain_per_s, max_wait_s=max_wait_s
    )
    assert admission is not None
    return admission


async def test_replicas_draw_on_one_bucket_per_portal(
    replicas: Replicas, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    first, second = await replicas(2)
    burst = [await _admit(budget, portal.member_id) for budget in (first, second) * 3]
    # Five fit in the burst, whichever process asked; the sixth waits for the drain.
    assert [a.reserved for a in burst] == [True] * 6
    assert [a.wait_s for a in burst[:5]] == [0.0] * 5
    assert 1 / DRAIN - SLACK_S < burst[5].wait_s <= 1 / DRAIN
    seventh = await _admit(second, portal.member_id)
    assert 2 / DRAIN - SLACK_S < seventh.wait_s <= 2 / DRAIN


async def test_concurrent_replicas_never_send_faster_than_the_bucket_allows(
    replicas: Replicas, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    budgets = await replicas(4)
    capacity, drain = 10.0, 20.0
    started = time.monotonic()

    async def one(budget: PostgresRateBudget) -> float:
        admission = await _admit(budget, portal.member_id, capacity=capacity, drain_per_s=drain)
        assert admission.reserved
        return time.monotonic() + admission.wait_s - started

    sends = sorted(await asyncio.gather(*(one(budgets[n % len(budgets)]) for n in range(60))))
    # Request k (0-based) of a burst may go no earlier than (k + 1 - capacity) / drain.
    for k, at in enumerate(sends):
        assert at >= (k + 1 - capacity) / drain - 0.01, (k, at)
    assert sends[-1] < (60 - capacity) / drain + 1.0


async def test_a_busy_portal_never_delays_another(
    replicas: Replicas, pg_storage: PostgresStorage, make: Make
) -> None:
    busy, quiet = await make.portal(pg_storage), await make.portal(pg_storage)
    first, second = await replicas(2)
    waits = [(await _admit(first, busy.member_id)).wait_s for _ in range(20)]
    assert waits[-1] > 7.0
    assert await _admit(second, quiet.member_id) == Admission(reserved=True)


async def test_a_slot_beyond_the_callers_wait_is_refused_and_takes_nothing(
    replicas: Replicas, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    (budget,) = await replicas(1)
    for _ in range(5):
        await _admit(budget, portal.member_id)
    refused = await _admit(budget, portal.member_id, max_wait_s=0.1)
    assert not refused.reserved
    assert refused.wait_s > 0.1
    # Nothing was taken: the next caller who waits longer gets the same slot.
    taken = await _admit(budget, portal.member_id)
    assert taken.reserved
    assert taken.wait_s <= refused.wait_s


async def test_an_operating_time_pause_holds_that_method_back_in_every_replica(
    replicas: Replicas, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    first, second = await replicas(2)
    await _admit(first, portal.member_id, "crm.item.list")
    await first.pause(portal.member_id, "crm.item.list", 30)
    paused = await _admit(second, portal.member_id, "crm.item.list")
    assert not paused.reserved
    assert 29 < paused.paused_s <= 30
    assert (await _admit(second, portal.member_id, "batch")).reserved
    # A shorter pause reported later does not shorten the longer one.
    await second.pause(portal.member_id, "crm.item.list", 1)
    assert (await _admit(first, portal.member_id, "crm.item.list")).paused_s > 29


async def test_a_pause_runs_out_and_expired_pauses_are_dropped(
    replicas: Replicas, pg_storage: PostgresStorage, pg_dsn: str, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    (budget,) = await replicas(1)
    await _admit(budget, portal.member_id)
    await budget.pause(portal.member_id, "crm.activity.list", 0.2)
    await asyncio.sleep(0.3)
    assert (await _admit(budget, portal.member_id, "crm.activity.list")).reserved
    await budget.pause(portal.member_id, "batch", 10)
    raw = await asyncpg.connect(libpq_url(pg_dsn))
    try:
        paused = await raw.fetchval(
            "SELECT paused::text FROM b24_rate_budget WHERE portal_id = $1", portal.id
        )
    finally:
        await raw.close()
    assert "crm.activity.list" not in paused
    assert "batch" in paused


async def test_a_refusal_from_bitrix24_fills_the_bucket_for_every_replica(
    replicas: Replicas, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    first, second = await replicas(2)
    await _admit(first, portal.member_id)
    await first.saturate(portal.member_id, capacity=CAPACITY, drain_per_s=DRAIN)
    after = await _admit(second, portal.member_id)
    assert 1 / DRAIN - SLACK_S < after.wait_s <= 1 / DRAIN


async def test_a_portal_not_stored_has_no_shared_budget(replicas: Replicas) -> None:
    (budget,) = await replicas(1)
    assert (
        await budget.admit("not-installed", "profile", capacity=5, drain_per_s=2, max_wait_s=1)
        is None
    )
    await budget.saturate("not-installed", capacity=5, drain_per_s=2)
    await budget.pause("not-installed", "profile", 5)


async def test_deleting_a_portal_deletes_its_budget(
    replicas: Replicas, pg_storage: PostgresStorage, pg_dsn: str, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    (budget,) = await replicas(1)
    await _admit(budget, portal.member_id)
    raw = await asyncpg.connect(libpq_url(pg_dsn))
    try:
        assert await raw.fetchval("SELECT count(*) FROM b24_rate_budget") == 1
        await raw.execute("DELETE FROM portals WHERE id = $1", portal.id)
        assert await raw.fetchval("SELECT count(*) FROM b24_rate_budget") == 0
    finally:
        await raw.close()


# ------------------------------------------------------------------ the throttle on it


async def test_throttles_of_two_processes_pace_one_portal_together(
    replicas: Replicas, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    limits = BucketLimits(burst=3, drain_per_s=20.0, headroom=0)
    throttles = [Throttle(shared=budget) for budget in await replicas(2)]
    for throttle in throttles:
        throttle.set_limits(portal.member_id, limits)
    started = time.monotonic()
    await asyncio.gather(
        *(
            throttles[n % 2].admit(portal.member_id, "batch", deadline=started + 10)
            for n in range(11)
        )
    )
    # 11 requests, 3 at once, then 20 a second: 0.4 s, however they are split (alone,
    # each throttle would have let its 5 or 6 through in 0.15 s).
    assert time.monotonic() - started >= (11 - 3) / 20 - 0.02


async def test_the_throttle_paces_in_process_while_the_budget_cannot_be_reached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = await PostgresRateBudget.open(
        f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", connect_timeout_s=1
    )
    try:
        with pytest.raises(StorageUnavailable):
            await unreachable.admit("m", "batch", capacity=5, drain_per_s=2, max_wait_s=1)
        throttle = Throttle(shared=unreachable)
        throttle.set_limits("m", BucketLimits(burst=2, drain_per_s=50.0, headroom=0))
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                await throttle.admit("m", "batch", deadline=time.monotonic() + 5)
        assert throttle.bucket("m").level() > 0
        assert "pacing in process" in caplog.text
    finally:
        await unreachable.close()
