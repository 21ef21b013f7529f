"""Tracking a to-do made in Bitrix24 as a touch-point, on the memory fakes."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from tests.unit.test_touchpoint_services import ADMIN, NOW, OTHER, SELLER, World
from touchpoints.domain.model import OwnerType, Status, TouchPointType
from touchpoints.domain.settings import PortalSettings
from touchpoints.services import adopt
from touchpoints.services import touchpoints as uc
from touchpoints.services.errors import Conflict, Forbidden, NotFound


async def a_world(settings: PortalSettings | None = None) -> World:
    return await World().start(settings)


def a_bitrix_todo(world: World, *, responsible_id: int = SELLER, **changes: object) -> int:
    return world.crm.add_activity(
        world.portal.member_id,
        world.deal,
        deadline=NOW + timedelta(days=2),
        responsible_id=responsible_id,
        subject="Call back about the fleet",
        **changes,  # type: ignore[arg-type]
    )


async def test_a_users_own_bitrix_todo_becomes_a_touch_point_on_the_board() -> None:
    world = await a_world()
    activity_id = a_bitrix_todo(world)
    ctx = await world.ctx(SELLER)

    before = await adopt.activity_standing(ctx, activity_id=activity_id)
    card = await adopt.track_activity(ctx, activity_id=activity_id, type_=TouchPointType.CALL)

    assert before.trackable
    assert before.card is None
    assert before.subject == "Call back about the fleet"
    tracked = card.touch_point
    assert (tracked.activity_id, tracked.owner, tracked.status) == (
        activity_id,
        world.deal,
        Status.OPEN,
    )
    assert (tracked.responsible_id, tracked.created_by, tracked.type) == (
        SELLER,
        SELLER,
        TouchPointType.CALL,
    )
    assert tracked.deadline == NOW + timedelta(days=2)
    assert card.title == "Call back about the fleet"
    board = await uc.get_board(ctx)
    assert tracked.id in {c.touch_point.id for _, cards in board.columns for c in cards}
    after = await adopt.activity_standing(ctx, activity_id=activity_id)
    assert after.card is not None
    assert after.card.touch_point.id == tracked.id
    assert not after.trackable


async def test_a_tracked_todo_completes_with_a_follow_up_in_its_chain() -> None:
    world = await a_world()
    ctx = await world.ctx(SELLER)
    tracked = await adopt.track_activity(ctx, activity_id=a_bitrix_todo(world))

    done = await uc.complete_touch_point(
        ctx,
        touch_point_id=tracked.touch_point.id,
        result_note="Sent the offer",
        follow_up=uc.FollowUpRequest(),
    )

    assert done.follow_up is not None
    chain = await uc.get_chain(ctx, touch_point_id=tracked.touch_point.id)
    assert [c.touch_point.id for c in chain] == [
        tracked.touch_point.id,
        done.follow_up.touch_point.id,
    ]


async def test_tracking_twice_returns_the_same_touch_point() -> None:
    world = await a_world()
    ctx = await world.ctx(SELLER)
    activity_id = a_bitrix_todo(world)

    first = await adopt.track_activity(ctx, activity_id=activity_id)
    second = await adopt.track_activity(ctx, activity_id=activity_id, type_=TouchPointType.EMAIL)

    assert second.touch_point == first.touch_point
    assert first.touch_point.type is TouchPointType.OTHER


async def test_a_colleagues_todo_is_tracked_by_team_viewers_only() -> None:
    world = await a_world()
    activity_id = a_bitrix_todo(world, responsible_id=OTHER)

    standing = await adopt.activity_standing(await world.ctx(SELLER), activity_id=activity_id)
    with pytest.raises(Forbidden):
        await adopt.track_activity(await world.ctx(SELLER), activity_id=activity_id)
    assert not standing.trackable
    assert standing.refusal is not None
    assert "colleague" in standing.refusal
    admin_ctx = attrs.evolve(await world.ctx(ADMIN), actor=world.actor(ADMIN, admin=True))
    card = await adopt.track_activity(admin_ctx, activity_id=activity_id)

    assert card.touch_point.responsible_id == OTHER
    with pytest.raises(Forbidden):
        await adopt.activity_standing(await world.ctx(SELLER), activity_id=activity_id)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"completed": True}, "already completed"),
        ({"provider_id": "VOXIMPLANT_CALL"}, "only to-dos"),
    ],
)
async def test_only_open_todos_can_be_tracked(changes: dict[str, object], reason: str) -> None:
    world = await a_world()
    ctx = await world.ctx(SELLER)
    activity_id = a_bitrix_todo(world, **changes)

    standing = await adopt.activity_standing(ctx, activity_id=activity_id)
    with pytest.raises(Conflict, match=reason):
        await adopt.track_activity(ctx, activity_id=activity_id)

    assert not standing.trackable
    assert standing.refusal is not None
    assert reason in standing.refusal


async def test_a_todo_on_a_disabled_entity_cannot_be_tracked() -> None:
    world = await a_world(
        attrs.evolve(PortalSettings.defaults(), enabled_entities=frozenset({OwnerType.LEAD}))
    )
    ctx = await world.ctx(SELLER)

    with pytest.raises(Conflict, match="not enabled"):
        await adopt.track_activity(ctx, activity_id=a_bitrix_todo(world))


async def test_a_todo_the_user_may_not_see_is_not_found() -> None:
    world = await a_world()
    world.crm.add_user(world.portal.member_id, SELLER, name="Seller", crm_access="none")

    with pytest.raises(NotFound):
        await adopt.track_activity(await world.ctx(SELLER), activity_id=a_bitrix_todo(world))
    with pytest.raises(NotFound):
        await adopt.activity_standing(await world.ctx(SELLER), activity_id=999_999)
