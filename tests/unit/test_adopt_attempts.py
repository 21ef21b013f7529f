"""Reconciliation settles unfinished to-do creations on the memory fakes: adopt, remove, forget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.model import NewTouchPoint, OwnerRef, OwnerType, TouchPoint, TouchPointType
from touchpoints.domain.portal import Portal
from touchpoints.domain.settings import PortalSettings
from touchpoints.domain.visibility import Viewer
from touchpoints.ports.crm import CrmTimeout
from touchpoints.ports.storage import PendingTodo
from touchpoints.services import touchpoints
from touchpoints.services.context import Actor, UseCase
from touchpoints.services.reconciliation import ATTEMPT_GRACE, adopt_attempts, reconcile_portal

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DUE = NOW + timedelta(days=1)
ADMIN, SELLER = 1, 2
NOTHING = {"adopted": 0, "removed": 0, "forgotten": 0}


@attrs.define
class World:
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))
    storage: MemoryStorage = attrs.Factory(MemoryStorage)
    crm: MemoryCrm = attrs.field(init=False)
    portal: Portal = attrs.field(init=False)
    deal: OwnerRef = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.crm = MemoryCrm(clock=self.clock)

    async def start(self) -> World:
        member_id = self.crm.add_portal()
        self.crm.add_user(member_id, ADMIN, name="Admin", admin=True)
        self.crm.add_user(member_id, SELLER, name="Seller")
        async with self.storage.unit_of_work() as uow:
            self.portal = await uow.portals.create(self.crm.install(member_id, ADMIN), now=NOW)
            await uow.settings.put(self.portal.id, PortalSettings.defaults(), now=NOW)
        self.deal = self.crm.add_record(member_id, OwnerType.DEAL, "Fleet")
        return self

    async def attempt(self, **changes: object) -> PendingTodo:
        """An attempt logged now; its deadline carries the microseconds the CRM drops."""
        attempt = PendingTodo(
            portal_id=self.portal.id,
            owner=self.deal,
            type=TouchPointType.MEETING,
            deadline=DUE + timedelta(microseconds=300_000),
            responsible_id=SELLER,
            created_by=SELLER,
            created_at=self.clock.now(),
        )
        async with self.storage.unit_of_work() as uow:
            return await uow.pending.add(attrs.evolve(attempt, **changes))

    def todo(self, *, deadline: datetime = DUE, responsible_id: int = SELLER) -> int:
        """A to-do in the CRM, as a creation whose answer never arrived left it."""
        return self.crm.add_activity(
            self.portal.member_id, self.deal, deadline=deadline, responsible_id=responsible_id
        )

    async def recorded(self, activity_id: int, **changes: object) -> TouchPoint:
        touch_point = NewTouchPoint(
            portal_id=self.portal.id,
            activity_id=activity_id,
            owner=self.deal,
            type=TouchPointType.MEETING,
            deadline=DUE,
            responsible_id=SELLER,
            created_by=SELLER,
            created_at=self.clock.now(),
        )
        async with self.storage.unit_of_work() as uow:
            return await uow.touch_points.add(attrs.evolve(touch_point, **changes))

    async def settle(self) -> dict[str, int]:
        return await adopt_attempts(
            storage=self.storage,
            connector=MemoryCrmConnector(self.crm),
            clock=self.clock,
            portal=self.portal,
        )

    async def pending(self) -> list[PendingTodo]:
        async with self.storage.unit_of_work() as uow:
            return await uow.pending.older_than(self.portal.id, self.clock.now() + ATTEMPT_GRACE)

    async def by_activity(self, activity_id: int) -> TouchPoint | None:
        async with self.storage.unit_of_work() as uow:
            return await uow.touch_points.by_activity(self.portal.id, activity_id)

    async def get(self, touch_point_id: int) -> TouchPoint | None:
        async with self.storage.unit_of_work() as uow:
            return await uow.touch_points.get(self.portal.id, touch_point_id)

    def later(self) -> None:
        self.clock.advance(ATTEMPT_GRACE + timedelta(seconds=1))


@pytest.fixture
async def world() -> World:
    return await World().start()


async def test_an_attempt_still_in_flight_is_left_alone_without_asking_the_crm(
    world: World,
) -> None:
    await world.attempt()
    world.todo()
    world.clock.advance(ATTEMPT_GRACE - timedelta(seconds=1))

    assert await world.settle() == NOTHING

    assert len(await world.pending()) == 1
    assert sum(world.crm.calls.values()) == 0


async def test_a_to_do_the_crm_made_is_adopted_as_the_touch_point_the_user_asked_for(
    world: World,
) -> None:
    attempt = await world.attempt()
    activity_id = world.todo()
    world.later()

    assert await world.settle() == {**NOTHING, "adopted": 1}

    adopted = await world.by_activity(activity_id)
    assert adopted is not None
    assert (adopted.type, adopted.deadline, adopted.responsible_id, adopted.created_by) == (
        TouchPointType.MEETING,
        attempt.deadline,
        SELLER,
        SELLER,
    )
    assert adopted.previous_id is None
    assert await world.pending() == []


async def test_an_attempt_that_knows_its_to_do_is_adopted_without_a_search(world: World) -> None:
    activity_id = world.todo()
    await world.attempt(activity_id=activity_id)
    world.later()

    assert await world.settle() == {**NOTHING, "adopted": 1}

    assert await world.by_activity(activity_id) is not None
    assert world.crm.calls["find_todos"] == 0


async def test_an_adopted_follow_up_is_linked_to_its_predecessor(world: World) -> None:
    done = await world.recorded(world.todo(), deadline=NOW)
    async with world.storage.unit_of_work() as uow:
        done = await uow.touch_points.update(done.complete("Talked", now=NOW))
    await world.attempt(previous_id=done.id)
    activity_id = world.todo()
    world.later()

    assert await world.settle() == {**NOTHING, "adopted": 1}

    follow_up = await world.by_activity(activity_id)
    assert follow_up is not None
    assert follow_up.previous_id == done.id
    predecessor = await world.get(done.id)
    assert predecessor is not None
    assert predecessor.next_id == follow_up.id


async def test_a_follow_up_whose_predecessor_moved_on_is_adopted_on_its_own(
    world: World,
) -> None:
    done = await world.recorded(world.todo(), deadline=NOW)
    other = await world.recorded(world.todo(deadline=DUE + timedelta(days=3)))
    async with world.storage.unit_of_work() as uow:
        completed = await uow.touch_points.update(done.complete("Talked", now=NOW))
        done = await uow.touch_points.update(completed.link_follow_up(other.id, now=NOW))
    await world.attempt(previous_id=done.id, deadline=DUE + timedelta(days=5))
    activity_id = world.todo(deadline=DUE + timedelta(days=5))
    world.later()

    assert await world.settle() == {**NOTHING, "adopted": 1}

    adopted = await world.by_activity(activity_id)
    assert adopted is not None
    assert adopted.previous_id is None
    predecessor = await world.get(done.id)
    assert predecessor is not None
    assert predecessor.next_id == other.id


async def test_a_stray_to_do_is_removed_when_the_user_retried_and_got_one(world: World) -> None:
    await world.attempt()
    stray = world.todo()
    retried = await world.recorded(world.todo())
    world.later()

    assert await world.settle() == {**NOTHING, "removed": 1}

    assert world.crm.activity(world.portal.member_id, stray) is None
    assert await world.by_activity(stray) is None
    assert world.crm.activity(world.portal.member_id, retried.activity_id) is not None
    assert await world.pending() == []


async def test_an_attempt_the_crm_never_acted_on_is_forgotten(world: World) -> None:
    await world.attempt()
    world.later()

    assert await world.settle() == {**NOTHING, "forgotten": 1}

    assert await world.pending() == []
    async with world.storage.unit_of_work() as uow:
        assert await uow.touch_points.for_owner(world.portal.id, world.deal) == []


async def test_a_to_do_of_another_plan_is_neither_adopted_nor_removed(world: World) -> None:
    await world.attempt()
    elsewhere = world.todo(deadline=DUE + timedelta(hours=1))
    someone_else = world.todo(responsible_id=ADMIN)
    world.later()

    assert await world.settle() == {**NOTHING, "forgotten": 1}

    for activity_id in (elsewhere, someone_else):
        assert world.crm.activity(world.portal.member_id, activity_id) is not None
        assert await world.by_activity(activity_id) is None


async def test_a_to_do_already_recorded_is_not_adopted_twice(world: World) -> None:
    await world.attempt()
    recorded = await world.recorded(world.todo(), created_at=NOW - timedelta(minutes=1))
    world.later()

    assert await world.settle() == {**NOTHING, "forgotten": 1}

    async with world.storage.unit_of_work() as uow:
        assert await uow.touch_points.for_owner(world.portal.id, world.deal) == [recorded]


async def test_a_creation_that_timed_out_before_running_is_forgotten_by_reconciliation(
    world: World,
) -> None:
    world.crm.fail("create_todo", CrmTimeout("no answer"))
    connector = MemoryCrmConnector(world.crm)
    ctx = await UseCase.load(
        storage=world.storage,
        crm=connector.as_user(world.portal, world.crm.issue_token(world.portal.member_id, SELLER)),
        clock=world.clock,
        connector=connector,
        actor=Actor(world.portal, Viewer(SELLER)),
    )
    with pytest.raises(CrmTimeout):
        await touchpoints.create_touch_point(
            ctx,
            request=touchpoints.CreateRequest(
                owner=world.deal, type=TouchPointType.CALL, deadline=DUE
            ),
        )
    assert len(await world.pending()) == 1
    world.later()

    changed = await reconcile_portal(
        storage=world.storage,
        connector=MemoryCrmConnector(world.crm),
        clock=world.clock,
        portal=world.portal,
    )

    assert changed == 0
    assert await world.pending() == []


async def test_reconciliation_counts_an_adopted_to_do_but_not_a_forgotten_attempt(
    world: World,
) -> None:
    await world.attempt(deadline=DUE)
    world.todo()
    await world.attempt(owner=world.crm.add_record(world.portal.member_id, OwnerType.LEAD))
    world.later()

    changed = await reconcile_portal(
        storage=world.storage,
        connector=MemoryCrmConnector(world.crm),
        clock=world.clock,
        portal=world.portal,
    )

    assert changed == 1
    assert await world.pending() == []
