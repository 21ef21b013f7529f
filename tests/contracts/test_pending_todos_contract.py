"""The pending to-do log: one contract for both adapters (scoped, cascading, ordered)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contracts.conftest import NOW, Make
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPointType
from touchpoints.ports.storage import InvalidReference, PendingTodo, Storage


def pending(
    portal_id: int, *, minutes_ago: int = 10, previous_id: int | None = None
) -> PendingTodo:
    return PendingTodo(
        portal_id=portal_id,
        owner=OwnerRef(OwnerType.LEAD, 5),
        type=TouchPointType.MEETING,
        deadline=NOW + timedelta(days=2),
        responsible_id=3,
        created_by=3,
        created_at=NOW - timedelta(minutes=minutes_ago),
        previous_id=previous_id,
    )


async def test_attempts_are_listed_oldest_first_and_only_for_their_portal(
    storage: Storage, make: Make
) -> None:
    first = await make.portal(storage)
    second = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        older = await uow.pending.add(pending(first.id, minutes_ago=30))
        newer = await uow.pending.add(pending(first.id, minutes_ago=10))
        await uow.pending.add(pending(first.id, minutes_ago=0))
        await uow.pending.add(pending(second.id, minutes_ago=30))
    async with storage.unit_of_work() as uow:
        found = await uow.pending.older_than(first.id, NOW - timedelta(minutes=5))
    assert [p.id for p in found] == [older.id, newer.id]
    assert found[0] == older
    assert found[0].owner == OwnerRef(OwnerType.LEAD, 5)


async def test_an_attempt_remembers_its_activity_and_is_deleted_within_its_portal_only(
    storage: Storage, make: Make
) -> None:
    first = await make.portal(storage)
    second = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        attempt = await uow.pending.add(pending(first.id))
    assert attempt.id is not None
    async with storage.unit_of_work() as uow:
        await uow.pending.set_activity(second.id, attempt.id, 99)
        await uow.pending.delete(second.id, attempt.id)
        await uow.pending.set_activity(first.id, attempt.id, 77)
    async with storage.unit_of_work() as uow:
        (found,) = await uow.pending.older_than(first.id, NOW)
    assert found.activity_id == 77
    async with storage.unit_of_work() as uow:
        await uow.pending.delete(first.id, attempt.id)
    async with storage.unit_of_work() as uow:
        assert await uow.pending.older_than(first.id, NOW) == []


async def test_a_follow_up_attempt_must_follow_a_touch_point_of_the_same_portal(
    storage: Storage, make: Make
) -> None:
    first = await make.portal(storage)
    second = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        theirs = await uow.touch_points.add(make.new(second.id))
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.pending.add(pending(first.id, previous_id=theirs.id))
    async with storage.unit_of_work() as uow:
        mine = await uow.touch_points.add(make.new(first.id))
        follow = await uow.pending.add(pending(first.id, previous_id=mine.id))
    assert follow.previous_id == mine.id


async def test_deleting_the_portal_removes_its_attempts(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        await uow.pending.add(pending(portal.id))
        await uow.portals.delete(portal.id)
    async with storage.unit_of_work() as uow:
        assert await uow.pending.older_than(portal.id, NOW) == []
