"""Throttling and retries: the leaky bucket, backoff on 503/429, and no repeat of unsafe writes."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.unit.test_b24_support import Scripted, local_env
from touchpoints.adapters.bitrix24.errors import QueryLimitExceeded, ServerError
from touchpoints.adapters.bitrix24.throttle import (
    ENTERPRISE,
    BucketLimits,
    LeakyBucket,
    RetryPolicy,
    Throttle,
)
from touchpoints.ports.crm import CrmRateLimited, CrmTimeout, CrmUnavailable

QLE = Scripted(status=503, json={"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many"})
OK = Scripted(json={"result": {"items": []}, "total": 0})


class FakeTime:
    """A monotonic clock whose sleep advances it: deterministic pacing tests."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_bucket_lets_a_burst_through_then_paces_at_the_drain_rate() -> None:
    fake = FakeTime()
    bucket = LeakyBucket(
        BucketLimits(burst=5, drain_per_s=2.0, headroom=0),
        monotonic=fake.monotonic,
        sleep=fake.sleep,
    )
    waits = [await bucket.acquire() for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.5, 0.5, 0.5])


async def test_concurrent_callers_reserve_successive_slots() -> None:
    fake = FakeTime()

    async def frozen_sleep(seconds: float) -> None:
        await asyncio.sleep(0)  # everyone reserves within the same instant

    bucket = LeakyBucket(
        BucketLimits(burst=2, drain_per_s=2.0, headroom=0),
        monotonic=fake.monotonic,
        sleep=frozen_sleep,
    )
    waits = await asyncio.gather(*(bucket.acquire() for _ in range(5)))
    # Reservations are made before anyone sleeps: 0, 0, then 0.5 s apart.
    assert sorted(waits) == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5])


async def test_a_slot_beyond_the_callers_budget_is_refused_without_reserving() -> None:
    fake = FakeTime()
    bucket = LeakyBucket(
        BucketLimits(burst=1, drain_per_s=1.0), monotonic=fake.monotonic, sleep=fake.sleep
    )
    await bucket.acquire()
    with pytest.raises(CrmRateLimited):
        await bucket.acquire(max_wait_s=0.5)
    assert bucket.level() == pytest.approx(1.0)


async def test_by_default_one_request_of_the_burst_is_kept_in_reserve() -> None:
    fake = FakeTime()
    bucket = LeakyBucket(BucketLimits(), monotonic=fake.monotonic, sleep=fake.sleep)
    waits = [await bucket.acquire() for _ in range(51)]
    assert waits[:49] == [0.0] * 49
    assert waits[49:] == pytest.approx([0.5, 0.5])


def test_enterprise_portals_can_be_given_a_bigger_bucket() -> None:
    throttle = Throttle()
    throttle.set_limits("big", ENTERPRISE)
    assert throttle.bucket("big").limits == BucketLimits(burst=250, drain_per_s=5.0, headroom=1)
    assert throttle.bucket("small").limits == BucketLimits(burst=50, drain_per_s=2.0)


def test_backoff_uses_full_jitter_under_a_growing_cap() -> None:
    import random

    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=4.0)
    rng = random.Random(7)
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0.0 <= delay <= cap for delay in delays)
        assert max(delays) > cap * 0.8


async def test_steady_traffic_under_a_small_bucket_never_draws_a_503() -> None:
    server_limits = BucketLimits(burst=5, drain_per_s=40.0)
    # A few requests of headroom absorb event-loop stalls on a busy machine, where requests
    # paced 25 ms apart when sent can reach the server bunched together.
    limits = BucketLimits(burst=5, drain_per_s=40.0, headroom=3)
    async with local_env(throttle=Throttle(limits)) as env:
        env.server.bucket = server_limits
        client = env.connector.app_client(env.portal)
        started = time.monotonic()
        await asyncio.gather(*(client.call("profile", {}, safe=True) for _ in range(30)))
        elapsed = time.monotonic() - started
        assert env.server.refused == 0
        assert len(env.server.calls) == 30
        # The floor of the app's bucket: (30 - (5 - 3 headroom)) / 40 per second.
        assert elapsed >= (30 - 2) / 40.0 * 0.9


async def test_without_the_apps_bucket_the_same_traffic_is_refused() -> None:
    # The control for the test above: the server's bucket really bites.
    limits = BucketLimits(burst=5, drain_per_s=40.0)
    async with local_env(retry=RetryPolicy(max_attempts=1)) as env:
        env.server.bucket = limits
        client = env.connector.app_client(env.portal)
        outcomes = await asyncio.gather(
            *(client.call("profile", {}, safe=True) for _ in range(30)), return_exceptions=True
        )
        assert env.server.refused > 0
        assert any(isinstance(outcome, QueryLimitExceeded) for outcome in outcomes)


async def test_a_read_backs_off_and_succeeds_after_query_limit_exceeded() -> None:
    async with local_env() as env:
        env.server.script("crm.item.list", QLE, QLE, OK)
        client = env.connector.app_client(env.portal)
        reply = await client.call("crm.item.list", {"entityTypeId": 2}, safe=True)
        assert reply.result == {"items": []}
        assert env.server.methods() == ["crm.item.list"] * 3


async def test_a_write_refused_by_the_limiter_is_repeated_because_it_never_ran() -> None:
    async with local_env() as env:
        env.server.script("crm.activity.todo.add", QLE)
        client = env.connector.app_client(env.portal)
        reply = await client.call(
            "crm.activity.todo.add",
            {"ownerTypeId": 2, "ownerId": 7, "deadline": "2026-06-01T10:00:00+02:00"},
            safe=False,
        )
        assert reply.result == {"id": 9001}
        assert env.server.methods() == ["crm.activity.todo.add"] * 2


async def test_query_limit_exceeded_persisting_becomes_crm_rate_limited() -> None:
    async with local_env() as env:
        env.server.script("crm.item.list", *[QLE] * 10)
        client = env.connector.app_client(env.portal)
        with pytest.raises(CrmRateLimited):
            await client.call("crm.item.list", {}, safe=True)
        assert len(env.server.calls) == 4  # FAST_RETRY.max_attempts


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (Scripted(status=500, json={"error": "INTERNAL_SERVER_ERROR"}), ServerError),
        (Scripted(status=502, text="bad gateway"), ServerError),
        (Scripted(drop=True), CrmUnavailable),
        (Scripted(json={"result": {"id": 1}}, delay_s=0.6), CrmTimeout),
    ],
)
async def test_a_write_is_never_repeated_after_a_failure_that_may_have_let_it_run(
    failure: Scripted, expected: type[Exception]
) -> None:
    async with local_env(timeout_s=0.3) as env:
        env.server.script("crm.activity.todo.add", failure, Scripted(json={"result": {"id": 2}}))
        client = env.connector.app_client(env.portal)
        with pytest.raises(expected):
            await client.call("crm.activity.todo.add", {}, safe=False)
        assert env.server.methods() == ["crm.activity.todo.add"]


@pytest.mark.parametrize(
    "failure",
    [
        Scripted(status=500, json={"error": "INTERNAL_SERVER_ERROR"}),
        Scripted(status=504, text="gateway timeout"),
        Scripted(drop=True),
    ],
)
async def test_a_read_is_repeated_after_a_server_or_network_failure(failure: Scripted) -> None:
    async with local_env() as env:
        env.server.script("crm.item.list", failure, OK)
        client = env.connector.app_client(env.portal)
        reply = await client.call("crm.item.list", {}, safe=True)
        assert reply.result == {"items": []}
        assert env.server.methods() == ["crm.item.list"] * 2


async def test_a_read_is_not_repeated_after_a_timeout() -> None:
    async with local_env(timeout_s=0.2) as env:
        env.server.script("crm.item.list", Scripted(json={"result": {}}, delay_s=0.5), OK)
        client = env.connector.app_client(env.portal)
        with pytest.raises(CrmTimeout):
            await client.call("crm.item.list", {}, safe=True)
        assert env.server.methods() == ["crm.item.list"]


async def test_operation_time_limit_waits_until_the_reported_reset_and_repeats() -> None:
    async with local_env() as env:
        reset_at = env.clock.now().timestamp() + 0.3
        env.server.script(
            "crm.activity.todo.add",
            Scripted(
                status=429,
                json={"error": "OPERATION_TIME_LIMIT", "time": {"operating_reset_at": reset_at}},
            ),
        )
        client = env.connector.app_client(env.portal)
        started = time.monotonic()
        reply = await client.call(
            "crm.activity.todo.add",
            {"ownerTypeId": 2, "ownerId": 7, "deadline": "2026-06-01T10:00:00+02:00"},
            safe=False,
        )
        assert reply.result == {"id": 9001}
        assert time.monotonic() - started >= 0.25
        assert env.server.methods() == ["crm.activity.todo.add"] * 2


async def test_operation_time_limit_beyond_the_budget_fails_fast_and_pauses_the_method() -> None:
    async with local_env() as env:
        reset_at = env.clock.now().timestamp() + 600
        env.server.script(
            "crm.item.list",
            Scripted(
                status=429,
                json={
                    "error": "OPERATION_TIME_LIMIT",
                    "time": {"operating_reset_at": str(int(reset_at))},
                },
            ),
        )
        client = env.connector.app_client(env.portal)
        with pytest.raises(CrmRateLimited):
            await client.call("crm.item.list", {}, safe=True)
        with pytest.raises(CrmRateLimited):
            await client.call("crm.item.list", {}, safe=True)
        # Other methods keep working (§7.2); the paused one was not even sent again.
        await client.call("profile", {}, safe=True)
        assert env.server.methods() == ["crm.item.list", "profile"]


async def test_operation_time_limit_without_a_reset_uses_the_last_reported_one() -> None:
    async with local_env() as env:
        client = env.connector.app_client(env.portal)
        hint = env.clock.now().timestamp() + 0.2
        env.server.script(
            "crm.item.list",
            Scripted(json={"result": {"items": []}, "time": {"operating_reset_at": hint}}),
            Scripted(status=429, json={"error": "OPERATION_TIME_LIMIT"}),
            OK,
        )
        await client.call("crm.item.list", {}, safe=True)
        await client.call("crm.item.list", {}, safe=True)
        assert env.server.methods() == ["crm.item.list"] * 3


async def test_overload_limit_is_not_retried() -> None:
    async with local_env() as env:
        env.server.script(
            "crm.item.list", Scripted(status=503, json={"error": "OVERLOAD_LIMIT"}), OK
        )
        client = env.connector.app_client(env.portal)
        with pytest.raises(CrmRateLimited):
            await client.call("crm.item.list", {}, safe=True)
        assert len(env.server.calls) == 1
