"""Activity events converge our touch-points to the CRM on the memory fakes, coalesced per portal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.crm import Activity
from touchpoints.domain.model import (
    NewTouchPoint,
    OwnerRef,
    OwnerType,
    Status,
    TouchPoint,
    TouchPointType,
)
from touchpoints.domain.portal import Portal
from touchpoints.ports.crm import CrmUnavailable
from touchpoints.services.event_sync import ActivitySync

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DUE = NOW + timedelta(days=1)
ADMIN, SELLER, OTHER = 1, 2, 3
# Wide enough that the events a test sends in a row always land in one gathering.
WINDOW_S = 0.05


@attrs.define
class World:
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))
    storage: MemoryStorage = attrs.Factory(MemoryStorage)
    crm: MemoryCrm = attrs.field(init=False)
    sync: ActivitySync = attrs.field(init=False)
    portal: Portal = attrs.field(init=False)
    deal: OwnerRef = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.crm = MemoryCrm(clock=self.clock)
        self.sync = ActivitySync(
            self.storage, MemoryCrmConnector(self.crm), self.clock, gather_window_s=WINDOW_S
        )

    async def start(self) -> World:
        member_id = self.crm.add_portal()
        self.crm.add_user(member_id, ADMIN, name="Admin", admin=True)
        self.crm.add_user(member_id, SELLER, name="Seller")
        self.crm.add_user(member_id, OTHER, name="Other")
        async with self.storage.unit_of_work() as uow:
            self.portal = await uow.portals.create(self.crm.install(member_id, ADMIN), now=NOW)
        self.deal = self.crm.add_record(member_id, OwnerType.DEAL, "Fleet")
        return self

    async def touch_point(self) -> TouchPoint:
        """An open touch-point with its CRM to-do."""
        activity_id = self.crm.add_activity(
            self.portal.member_id, self.deal, deadline=DUE, responsible_id=SELLER
        )
        async with self.storage.unit_of_work() as uow:
            return await uow.touch_points.add(
                NewTouchPoint(
                    portal_id=self.portal.id,
                    activity_id=activity_id,
                    owner=self.deal,
                    type=TouchPointType.CALL,
                    deadline=DUE,
                    responsible_id=SELLER,
                    created_by=SELLER,
                    created_at=NOW,
                )
            )

    async def stored(self, touch_point: TouchPoint) -> TouchPoint:
        async with self.storage.unit_of_work() as uow:
            current = await uow.touch_points.get(self.portal.id, touch_point.id)
        assert current is not None
        return current

    async def event(self, *touch_points: TouchPoint) -> list[str]:
        """One event per touch-point's activity, sent in a row; their outcomes."""
        futures = []
        for touch_point in touch_points:
            future = await self.sync.activity_changed(self.portal, touch_point.activity_id)
            assert future is not None
            futures.append(future)
        return list(await asyncio.gather(*futures))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    started = await World().start()
    yield started
    await started.sync.close()


async def test_an_update_event_syncs_deadline_responsible_and_completion(world: World) -> None:
    touch_point = await world.touch_point()
    later = DUE + timedelta(days=2)
    world.crm.change_activity(
        world.portal.member_id,
        touch_point.activity_id,
        deadline=later,
        responsible_id=OTHER,
        completed=True,
    )

    assert await world.event(touch_point) == ["synced"]

    synced = await world.stored(touch_point)
    assert (synced.deadline, synced.responsible_id, synced.status) == (later, OTHER, Status.DONE)
    assert synced.completed_at == NOW


async def test_an_event_about_an_unchanged_activity_changes_nothing(world: World) -> None:
    touch_point = await world.touch_point()
    assert await world.event(touch_point) == ["unchanged"]
    assert await world.stored(touch_point) == touch_point


async def test_an_event_for_an_activity_that_is_not_ours_costs_no_crm_call(
    world: World,
) -> None:
    foreign = world.crm.add_activity(
        world.portal.member_id, world.deal, deadline=DUE, responsible_id=SELLER
    )
    assert await world.sync.activity_changed(world.portal, foreign) is None
    await world.sync.drained()
    assert sum(world.crm.calls.values()) == 0


async def test_a_delete_event_orphans_once_the_crm_confirms_the_activity_is_gone(
    world: World,
) -> None:
    touch_point = await world.touch_point()
    world.crm.remove_activity(world.portal.member_id, touch_point.activity_id)

    assert await world.event(touch_point) == ["orphaned"]

    assert (await world.stored(touch_point)).status is Status.ORPHANED
    assert world.crm.calls["missing_activities"] == 1


async def test_an_activity_the_app_merely_cannot_read_changes_nothing(world: World) -> None:
    touch_point = await world.touch_point()
    # The installing admin loses their CRM rights: the activity exists but reads as absent.
    world.crm.add_user(world.portal.member_id, ADMIN, name="Admin", crm_access="none")

    assert await world.event(touch_point) == ["unchanged"]

    assert await world.stored(touch_point) == touch_point
    assert world.crm.calls["missing_activities"] == 1


async def test_when_the_crm_cannot_be_read_the_event_fails_and_nothing_changes(
    world: World,
) -> None:
    touch_point = await world.touch_point()
    world.crm.remove_activity(world.portal.member_id, touch_point.activity_id)
    world.crm.fail("get_activities", CrmUnavailable("down"))

    assert await world.event(touch_point) == ["failed"]
    assert await world.stored(touch_point) == touch_point

    assert await world.event(touch_point) == ["orphaned"]  # the next event decides


async def test_a_confirmation_that_fails_orphans_nothing(world: World) -> None:
    touch_point = await world.touch_point()
    world.crm.remove_activity(world.portal.member_id, touch_point.activity_id)
    world.crm.fail("missing_activities", CrmUnavailable("down"))

    assert await world.event(touch_point) == ["failed"]
    assert (await world.stored(touch_point)).status is Status.OPEN


async def test_events_in_a_row_are_fetched_together(world: World) -> None:
    touch_points = [await world.touch_point() for _ in range(3)]
    for touch_point in touch_points:
        world.crm.change_activity(world.portal.member_id, touch_point.activity_id, completed=True)

    assert await world.event(*touch_points) == ["synced"] * 3

    assert world.crm.calls["get_activities"] == 1
    assert world.crm.calls["missing_activities"] == 0
    for touch_point in touch_points:
        assert (await world.stored(touch_point)).status is Status.DONE


async def test_deletions_in_a_row_are_confirmed_together(world: World) -> None:
    kept, *deleted = [await world.touch_point() for _ in range(3)]
    for touch_point in deleted:
        world.crm.remove_activity(world.portal.member_id, touch_point.activity_id)

    assert await world.event(kept, *deleted) == ["unchanged", "orphaned", "orphaned"]

    assert (world.crm.calls["get_activities"], world.crm.calls["missing_activities"]) == (1, 1)
    assert (await world.stored(kept)).status is Status.OPEN


async def test_repeated_events_for_one_activity_share_one_fetch(world: World) -> None:
    touch_point = await world.touch_point()
    world.crm.change_activity(world.portal.member_id, touch_point.activity_id, responsible_id=OTHER)

    assert await world.event(touch_point, touch_point, touch_point) == ["synced"] * 3

    assert world.crm.calls["get_activities"] == 1
    assert (await world.stored(touch_point)).responsible_id == OTHER


async def test_a_cancelled_touch_point_stays_cancelled_whatever_the_crm_says(
    world: World,
) -> None:
    touch_point = await world.touch_point()
    async with world.storage.unit_of_work() as uow:
        cancelled = await uow.touch_points.update(touch_point.cancel(now=NOW))
    world.crm.change_activity(world.portal.member_id, touch_point.activity_id, completed=True)

    assert await world.event(cancelled) == ["unchanged"]
    assert (await world.stored(touch_point)).status is Status.CANCELLED


async def test_events_after_a_drained_queue_start_a_new_fetch(world: World) -> None:
    first, second = await world.touch_point(), await world.touch_point()
    assert await world.event(first) == ["unchanged"]
    await world.sync.drained()
    assert await world.event(second) == ["unchanged"]
    assert world.crm.calls["get_activities"] == 2


@attrs.define
class _RacedCrm:
    """The CRM as read by the sync, with another writer landing right after the first read."""

    inner: Any
    race: Callable[[], Awaitable[None]]
    reads: int = 0

    async def get_activities(self, activity_ids: Sequence[int]) -> dict[int, Activity]:
        read = await self.inner.get_activities(activity_ids)
        self.reads += 1
        if self.reads == 1:
            await self.race()
        return read

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@attrs.define
class _RacedConnector:
    inner: MemoryCrmConnector
    crm: _RacedCrm

    def as_app(self, portal: Portal) -> _RacedCrm:
        return self.crm

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_change_landing_between_the_crm_read_and_the_write_is_not_overwritten(
    world: World,
) -> None:
    touch_point = await world.touch_point()
    member = world.portal.member_id
    # A hand-over reassigns the to-do: its event is queued and the sync reads the CRM...
    world.crm.change_activity(member, touch_point.activity_id, responsible_id=OTHER)

    async def give_back() -> None:
        # ...when the hand-over ends: the to-do and our row go back to the seller.
        world.crm.change_activity(member, touch_point.activity_id, responsible_id=SELLER)
        async with world.storage.unit_of_work() as uow:
            current = await uow.touch_points.get(world.portal.id, touch_point.id)
            assert current is not None
            await uow.touch_points.update(attrs.evolve(current, responsible_id=SELLER))

    real = MemoryCrmConnector(world.crm)
    connector = _RacedConnector(real, _RacedCrm(real.as_app(world.portal), give_back))
    sync = ActivitySync(world.storage, connector, world.clock, gather_window_s=WINDOW_S)
    try:
        future = await sync.activity_changed(world.portal, touch_point.activity_id)
        assert future is not None
        outcome = await future
    finally:
        await sync.close()

    # The stale read (Oleg) was not written over the newer row: the CRM was read again.
    assert connector.crm.reads == 2
    assert outcome == "unchanged"
    assert (await world.stored(touch_point)).responsible_id == SELLER
