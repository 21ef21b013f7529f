"""Per-portal leaky buckets and the retry policy for refused or failed REST calls (BITRIX24.md §7)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import attrs

from touchpoints.adapters.bitrix24.errors import NotSent, OperationTimeLimit, QueryLimitExceeded
from touchpoints.adapters.bitrix24.transport import LOGGER_NAME
from touchpoints.ports.crm import CrmError, CrmRateLimited, CrmTimeout, CrmUnavailable
from touchpoints.ports.rate_budget import Admission, RateBudget
from touchpoints.ports.storage import StorageError

Sleep = Callable[[float], Awaitable[None]]


@attrs.frozen(kw_only=True)
class BucketLimits:
    """Bitrix24's leaky bucket: ``burst`` requests at once, then ``drain_per_s`` (§7.1).

    ``headroom`` requests of the burst are kept in reserve: requests reach Bitrix24 a little
    later or earlier than they were paced (network jitter), and whether a level exactly at
    the threshold is refused is not spelled out.
    """

    burst: int = attrs.field(default=50, validator=attrs.validators.ge(1))
    drain_per_s: float = attrs.field(default=2.0, validator=attrs.validators.gt(0))
    headroom: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))

    @property
    def capacity(self) -> float:
        """The level the app lets its own copy of the bucket reach (at least one request)."""
        return max(1.0, self.burst - self.headroom)


STANDARD = BucketLimits()
ENTERPRISE = BucketLimits(burst=250, drain_per_s=5.0)


class LeakyBucket:
    """The app's own copy of a portal's bucket, so that steady traffic never draws a 503.

    Each request adds one; the level drains continuously. A request that would lift the
    level above the limits' ``capacity`` reserves its slot and waits until the level has
    drained enough, so concurrent callers are paced in arrival order without polling. The
    copy is per process: other replicas share the portal's real bucket, and the 503s that
    causes are retried (a refusal happens before anything runs, §7.1).
    """

    def __init__(
        self,
        limits: BucketLimits,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._limits = limits
        self._monotonic = monotonic
        self._sleep = sleep
        self._level = 0.0
        self._updated = monotonic()
        self._paused: dict[str, float] = {}
        self._reset_hints: dict[str, float] = {}

    @property
    def limits(self) -> BucketLimits:
        return self._limits

    def set_limits(self, limits: BucketLimits) -> None:
        self._drain()
        self._limits = limits

    def _drain(self) -> float:
        now = self._monotonic()
        self._level = max(0.0, self._level - (now - self._updated) * self._limits.drain_per_s)
        self._updated = now
        return now

    def level(self) -> float:
        """The current level, reservations included."""
        self._drain()
        return self._level

    async def acquire(self, *, max_wait_s: float = float("inf")) -> float:
        """Wait for a slot and take it; returns the seconds waited.

        Raises:
            CrmRateLimited: the slot is further away than ``max_wait_s`` (nothing reserved).
        """
        self._drain()
        wait = max(0.0, (self._level + 1 - self._limits.capacity) / self._limits.drain_per_s)
        if wait > max_wait_s:
            raise CrmRateLimited(
                f"portal request budget exhausted for {wait:.1f} s", code="CLIENT_THROTTLED"
            )
        self._level += 1
        if wait > 0:
            await self._sleep(wait)
        return wait

    def saturate(self) -> None:
        """Bitrix24 answered QUERY_LIMIT_EXCEEDED: its bucket is full (shared with other
        processes or apps from our IP, §7.1), so pace the next requests at the drain rate."""
        self._drain()
        self._level = max(self._level, self._limits.capacity)

    def pause(self, method: str, seconds: float) -> None:
        """Hold back ``method`` for ``seconds`` (OPERATION_TIME_LIMIT, §7.2)."""
        until = self._monotonic() + max(0.0, seconds)
        self._paused[method] = max(self._paused.get(method, 0.0), until)

    def note_reset(self, method: str, reset_at: float | None) -> None:
        """Remember the last ``operating_reset_at`` a reply of ``method`` reported (§7.2):
        a 429 itself may not carry one."""
        if reset_at is not None:
            self._reset_hints[method] = reset_at

    def reset_hint(self, method: str) -> float | None:
        return self._reset_hints.get(method)

    def idle(self) -> bool:
        """Fully drained and nothing paused."""
        return self.level() == 0.0 and not any(self.paused_for(m) for m in list(self._paused))

    def paused_for(self, method: str) -> float:
        """Seconds ``method`` is still held back; 0 when it may run."""
        until = self._paused.get(method)
        if until is None:
            return 0.0
        left = until - self._monotonic()
        if left <= 0:
            del self._paused[method]
            return 0.0
        return left


class Throttle:
    """One leaky bucket per portal (keyed by ``member_id``), shared by user and app calls.

    With a ``shared`` budget (Postgres) a stored portal's bucket and its paused methods are
    one for every replica and digest runner, as Bitrix24 counts them (§7.1); the bucket in
    process then only mirrors pauses and paces what the shared budget cannot: portals not
    stored yet (an install in progress), the verification buckets, and every portal while
    the database cannot be reached. Without one (tests, the demo) it paces in process.
    """

    _PRUNE_ABOVE = 10_000

    def __init__(
        self,
        default: BucketLimits = STANDARD,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        shared: RateBudget | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._default = default
        self._monotonic = monotonic
        self._sleep = sleep
        self._limits: dict[str, BucketLimits] = {}
        self._buckets: dict[str, LeakyBucket] = {}
        self._shared = shared
        self._log = logger or logging.getLogger(LOGGER_NAME)

    async def admit(self, key: str, method: str, *, deadline: float) -> None:
        """Wait until one request of ``method`` may be sent to portal ``key``, and take it.

        Raises:
            CrmRateLimited: ``method`` is paused (``OPERATION_TIME_LIMIT``) or the slot is
                (``CLIENT_THROTTLED``) beyond ``deadline`` (on ``monotonic``).
        """
        bucket = self.bucket(key)
        while True:
            await self._wait_pause(method, bucket.paused_for(method), deadline)
            admission = await self._admit_shared(key, method, bucket, deadline)
            if admission is None:
                break
            if admission.paused_s > 0:
                bucket.pause(method, admission.paused_s)
                continue
            if not admission.reserved:
                raise CrmRateLimited(
                    f"portal request budget exhausted for {admission.wait_s:.1f} s",
                    code="CLIENT_THROTTLED",
                )
            if admission.wait_s > 0:
                await self._sleep(admission.wait_s)
            return
        await bucket.acquire(max_wait_s=max(0.0, deadline - self._monotonic()))

    async def _wait_pause(self, method: str, paused: float, deadline: float) -> None:
        if paused <= 0:
            return
        if self._monotonic() + paused > deadline:
            raise CrmRateLimited(
                f"{method}: operating-time limit for {paused:.0f} s more",
                code="OPERATION_TIME_LIMIT",
            )
        await self._sleep(paused)

    async def _admit_shared(
        self, key: str, method: str, bucket: LeakyBucket, deadline: float
    ) -> Admission | None:
        if self._shared is None:
            return None
        limits = bucket.limits
        try:
            return await self._shared.admit(
                key,
                method,
                capacity=limits.capacity,
                drain_per_s=limits.drain_per_s,
                max_wait_s=max(0.0, deadline - self._monotonic()),
            )
        except StorageError as exc:
            self._log.warning("b24 rate budget unavailable, pacing in process: %s", exc)
            return None

    async def saturate(self, key: str) -> None:
        """Bitrix24 answered QUERY_LIMIT_EXCEEDED for portal ``key`` (§7.1)."""
        bucket = self.bucket(key)
        bucket.saturate()
        if self._shared is not None:
            limits = bucket.limits
            try:
                await self._shared.saturate(
                    key, capacity=limits.capacity, drain_per_s=limits.drain_per_s
                )
            except StorageError as exc:
                self._log.warning("b24 rate budget unavailable: %s", exc)

    async def pause(self, key: str, method: str, seconds: float) -> None:
        """Hold back ``method`` on portal ``key`` for ``seconds`` (OPERATION_TIME_LIMIT, §7.2)."""
        self.bucket(key).pause(method, seconds)
        if self._shared is not None:
            try:
                await self._shared.pause(key, method, seconds)
            except StorageError as exc:
                self._log.warning("b24 rate budget unavailable: %s", exc)

    @property
    def monotonic(self) -> Callable[[], float]:
        return self._monotonic

    @property
    def sleep(self) -> Sleep:
        return self._sleep

    def set_limits(self, key: str, limits: BucketLimits) -> None:
        """Configure a portal's bucket, e.g. ``ENTERPRISE`` for Enterprise plans."""
        self._limits[key] = limits
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.set_limits(limits)

    def bucket(self, key: str) -> LeakyBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._PRUNE_ABOVE:
                self._prune()
            bucket = LeakyBucket(
                self._limits.get(key, self._default),
                monotonic=self._monotonic,
                sleep=self._sleep,
            )
            self._buckets[key] = bucket
        return bucket

    def _prune(self) -> None:
        # A drained bucket with no paused method holds no state worth keeping; thousands
        # of portals should not pin memory.
        for key in [key for key, bucket in self._buckets.items() if bucket.idle()]:
            del self._buckets[key]


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter inside a bounded budget (STYLE.md §13).

    ``budget_s`` bounds one logical call, waits and attempts included, so an API request
    still answers within DESIGN.md §3.5's 30 s.
    """

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    budget_s: float = 25.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The pause before retry number ``attempt`` (1-based): uniform in [0, cap]."""
        cap = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return rng.uniform(0.0, cap)


def retryable(error: CrmError, *, safe: bool) -> bool:
    """Whether repeating the call after ``error`` is sound.

    A limiter refusal (503 QUERY_LIMIT_EXCEEDED) and a connection that never opened happen
    before anything ran, so they are repeated for every call. Other network failures and
    5xx answers are repeated only for calls that are ``safe`` to run twice; a timeout never
    (a write may have run, and the time budget is spent).
    """
    if isinstance(error, QueryLimitExceeded | NotSent):
        return True
    if isinstance(error, CrmTimeout | CrmRateLimited):
        return False
    return safe and isinstance(error, CrmUnavailable)


def wait_for_reset(
    error: OperationTimeLimit, *, now: float, fallback: float | None
) -> float | None:
    """Seconds until the method's operating time frees up, if Bitrix24 told us (§7.2)."""
    reset_at = error.reset_at if error.reset_at is not None else fallback
    if reset_at is None:
        return None
    return max(0.0, reset_at - now)
