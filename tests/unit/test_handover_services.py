"""Hand-over with return on the memory fakes: what goes, what comes back, who may."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.unit.test_bulk_services import ADMIN, NOW, OTHER, SELLER, World
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.handover import Handover
from touchpoints.ports.crm import CrmUnavailable
from touchpoints.services import handover
from touchpoints.services import touchpoints as uc
from touchpoints.services.errors import Forbidden, NotFound

FIRST, LAST = date(2026, 3, 9), date(2026, 3, 13)  # Monday to Friday of next week


@pytest.fixture
async def world() -> World:
    return await World().start()


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def start(world: World, user_id: int = SELLER) -> handover.HandoverResult:
    return await handover.start_handover(
        await world.ctx(user_id),
        from_user_id=SELLER,
        to_user_id=OTHER,
        first_day=FIRST,
        last_day=LAST,
    )


async def returns(world: World) -> int:
    return await handover.return_due(
        storage=world.storage, connector=MemoryCrmConnector(world.crm), clock=world.clock
    )


async def test_a_hand_over_moves_the_open_touch_points_of_its_period_only(world: World) -> None:
    inside = [await world.create(deadline=at(FIRST, 8)), await world.create(deadline=at(LAST, 23))]
    before = await world.create(deadline=at(FIRST - timedelta(days=1), 23))
    after = await world.create(deadline=at(LAST + timedelta(days=1), 0))
    theirs = await world.create(OTHER, deadline=at(FIRST))
    result = await start(world)
    assert result.done == tuple(tp.id for tp in inside)
    assert result.handover.touch_point_ids == result.done
    for tp in inside:
        assert (await world.row(tp.id)).responsible_id == OTHER
        assert world.crm_responsible(tp) == OTHER
    for tp in (before, after):
        assert (await world.row(tp.id)).responsible_id == SELLER
    assert (await world.row(theirs.id)).responsible_id == OTHER


async def test_only_the_owner_or_the_team_hands_over_and_never_to_oneself(world: World) -> None:
    await world.create(deadline=at(FIRST))
    with pytest.raises(Forbidden):
        await start(world, OTHER)
    by_admin = await start(world, ADMIN)
    assert len(by_admin.done) == 1
    with pytest.raises(InvalidValue):
        await handover.start_handover(
            await world.ctx(SELLER),
            from_user_id=SELLER,
            to_user_id=SELLER,
            first_day=FIRST,
            last_day=LAST,
        )


async def test_the_return_pass_gives_back_what_is_still_open_and_still_theirs(
    world: World,
) -> None:
    kept_open = await world.create(deadline=at(FIRST))
    completed = await world.create(deadline=at(FIRST, 11))
    moved_on = await world.create(deadline=at(FIRST, 12))
    await start(world)
    other = await world.ctx(OTHER)
    await uc.complete_touch_point(
        other, touch_point_id=completed.id, result_note="done", follow_up=None
    )
    await uc.move_touch_point(
        await world.ctx(ADMIN), touch_point_id=moved_on.id, deadline=None, responsible_id=ADMIN
    )
    assert await returns(world) == 0  # the period has not ended
    world.clock.current = at(LAST + timedelta(days=1), 0)
    assert await returns(world) == 1
    assert (await world.row(kept_open.id)).responsible_id == SELLER
    assert world.crm_responsible(kept_open) == SELLER
    assert (await world.row(completed.id)).responsible_id == OTHER
    assert (await world.row(moved_on.id)).responsible_id == ADMIN
    assert await returns(world) == 0  # closed: once only
    assert await handover.list_handovers(await world.ctx(SELLER)) == []


async def test_a_return_that_cannot_reach_bitrix24_is_tried_again_next_pass(
    world: World,
) -> None:
    tp = await world.create(deadline=at(FIRST))
    await start(world)
    world.clock.current = at(LAST + timedelta(days=2))
    world.crm.fail("change_todos", CrmUnavailable("down"))
    assert await returns(world) == 0
    assert (await world.row(tp.id)).responsible_id == OTHER
    assert await returns(world) == 1
    assert (await world.row(tp.id)).responsible_id == SELLER


async def test_ending_a_hand_over_early_gives_back_at_once_and_only_once(world: World) -> None:
    tp = await world.create(deadline=at(FIRST))
    started = await start(world)
    assert started.handover.id is not None
    with pytest.raises(Forbidden):
        await handover.end_handover(await world.ctx(OTHER), handover_id=started.handover.id)
    ended = await handover.end_handover(await world.ctx(SELLER), handover_id=started.handover.id)
    assert ended.done == (tp.id,)
    assert ended.handover.returned_at == NOW
    assert (await world.row(tp.id)).responsible_id == SELLER
    with pytest.raises(NotFound):
        await handover.end_handover(await world.ctx(SELLER), handover_id=started.handover.id)


async def test_hand_overs_are_listed_for_those_involved_and_the_team(world: World) -> None:
    await start(world)
    member_id = world.portal.member_id
    world.crm.add_user(member_id, 4, name="Stranger")

    async def listed(user_id: int) -> list[Handover]:
        return await handover.list_handovers(await world.ctx(user_id))

    assert len(await listed(SELLER)) == len(await listed(OTHER)) == len(await listed(ADMIN)) == 1
    assert await listed(4) == []
