"""The touch-point use cases on the memory fakes: the rules, and what each failure leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from tests.unit.service_world import ADMIN, OTHER, SELLER, ServiceWorld
from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.domain.limits import NOTE_MAX, TITLE_MAX
from touchpoints.domain.model import OwnerType, Status, TouchPointType
from touchpoints.domain.settings import PortalSettings
from touchpoints.domain.visibility import Viewer
from touchpoints.ports.crm import CrmPermissionDenied, CrmTimeout, CrmUnavailable
from touchpoints.services import touchpoints as uc
from touchpoints.services.context import Actor, Card, UseCase
from touchpoints.services.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@attrs.define
class World(ServiceWorld):
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))

    def actor(self, user_id: int, *, admin: bool = False) -> Actor:
        return Actor(self.portal, Viewer(user_id, admin))

    async def ctx(self, user_id: int) -> UseCase:
        return await UseCase.load(
            storage=self.storage,
            crm=self.crm_as(user_id),
            clock=self.clock,
            connector=MemoryCrmConnector(self.crm),
            actor=self.actor(user_id),
        )

    async def create(self, user_id: int = SELLER, **changes: object) -> Card:
        request = uc.CreateRequest(
            owner=self.deal, type=TouchPointType.CALL, deadline=NOW + timedelta(days=1)
        )
        return await uc.create_touch_point(
            await UseCase.load(
                storage=self.storage,
                crm=self.crm_as(user_id),
                clock=self.clock,
                connector=MemoryCrmConnector(self.crm),
                actor=self.actor(user_id),
            ),
            request=attrs.evolve(request, **changes),
        )

    async def pending(self) -> int:
        async with self.storage.unit_of_work() as uow:
            return len(await uow.pending.older_than(self.portal.id, NOW + timedelta(days=1)))


@pytest.fixture
async def world() -> World:
    return await World().start()


async def test_creating_makes_the_crm_to_do_and_records_it_for_the_responsible(
    world: World,
) -> None:
    card = await world.create(title="Call about the renewal")
    touch_point = card.touch_point
    assert (touch_point.status, touch_point.responsible_id, touch_point.created_by) == (
        Status.OPEN,
        SELLER,
        SELLER,
    )
    activity = world.crm.activity(world.portal.member_id, touch_point.activity_id)
    assert activity is not None
    assert activity.subject == "Call about the renewal"
    assert card.owner_title == "Fleet"
    assert await world.pending() == 0


async def test_a_user_may_not_plan_for_a_colleague_unless_they_see_the_team(
    world: World,
) -> None:
    with pytest.raises(Forbidden):
        await world.create(responsible_id=OTHER)
    assert world.crm.calls["create_todo"] == 0


async def test_creating_on_a_disabled_entity_is_invalid_input(world: World) -> None:
    async with world.storage.unit_of_work() as uow:
        settings = attrs.evolve(
            PortalSettings.defaults(), enabled_entities=frozenset({OwnerType.LEAD})
        )
        await uow.settings.put(world.portal.id, settings, now=NOW)
    with pytest.raises(InvalidInput) as raised:
        await world.create()
    assert "owner.type" in raised.value.errors


async def test_a_crm_refusal_leaves_neither_a_touch_point_nor_an_attempt(world: World) -> None:
    world.crm.fail("create_todo", CrmPermissionDenied("no rights"))
    with pytest.raises(CrmPermissionDenied):
        await world.create()
    async with world.storage.unit_of_work() as uow:
        assert await uow.touch_points.for_owner(world.portal.id, world.deal) == []
    assert await world.pending() == 0


async def test_a_timed_out_create_leaves_the_attempt_for_reconciliation(world: World) -> None:
    world.crm.fail("create_todo", CrmTimeout("no answer"))
    with pytest.raises(CrmTimeout):
        await world.create()
    assert await world.pending() == 1


async def test_moving_changes_the_crm_first_and_then_our_row(world: World) -> None:
    card = await world.create()
    later = NOW + timedelta(days=5)
    moved = await uc.move_touch_point(
        await UseCase.load(
            storage=world.storage,
            crm=world.crm_as(SELLER),
            clock=world.clock,
            connector=MemoryCrmConnector(world.crm),
            actor=world.actor(SELLER),
        ),
        touch_point_id=card.touch_point.id,
        deadline=later,
        responsible_id=None,
    )
    assert moved.touch_point.deadline == later
    activity = world.crm.activity(world.portal.member_id, card.touch_point.activity_id)
    assert activity is not None
    assert activity.deadline == later


async def test_a_failed_crm_move_changes_nothing_of_ours(world: World) -> None:
    card = await world.create()
    world.crm.fail("update_deadline", CrmUnavailable("down"))
    with pytest.raises(CrmUnavailable):
        await uc.move_touch_point(
            await UseCase.load(
                storage=world.storage,
                crm=world.crm_as(SELLER),
                clock=world.clock,
                connector=MemoryCrmConnector(world.crm),
                actor=world.actor(SELLER),
            ),
            touch_point_id=card.touch_point.id,
            deadline=NOW + timedelta(days=5),
            responsible_id=None,
        )
    async with world.storage.unit_of_work() as uow:
        stored = await uow.touch_points.get(world.portal.id, card.touch_point.id)
    assert stored == card.touch_point


async def test_a_move_without_anything_to_change_is_invalid_input(world: World) -> None:
    card = await world.create()
    with pytest.raises(InvalidInput):
        await uc.move_touch_point(
            await UseCase.load(
                storage=world.storage,
                crm=world.crm_as(SELLER),
                clock=world.clock,
                connector=MemoryCrmConnector(world.crm),
                actor=world.actor(SELLER),
            ),
            touch_point_id=card.touch_point.id,
            deadline=None,
            responsible_id=None,
        )


async def test_completing_offers_the_follow_up_at_the_portal_interval_linked_into_a_chain(
    world: World,
) -> None:
    card = await world.create()
    done = await uc.complete_touch_point(
        await UseCase.load(
            storage=world.storage,
            crm=world.crm_as(SELLER),
            clock=world.clock,
            connector=MemoryCrmConnector(world.crm),
            actor=world.actor(SELLER),
        ),
        touch_point_id=card.touch_point.id,
        result_note="They want a quote",
        follow_up=uc.FollowUpRequest(),
    )
    assert done.completed.touch_point.status is Status.DONE
    assert done.completed.touch_point.result_note == "They want a quote"
    assert done.follow_up is not None
    follow_up = done.follow_up.touch_point
    # Three working days from Monday, at the previous deadline's time of day.
    assert follow_up.deadline == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert follow_up.previous_id == card.touch_point.id
    assert done.completed.touch_point.next_id == follow_up.id
    chain = await uc.get_chain(
        await UseCase.load(
            storage=world.storage,
            crm=world.crm_as(SELLER),
            clock=world.clock,
            connector=MemoryCrmConnector(world.crm),
            actor=world.actor(SELLER),
        ),
        touch_point_id=follow_up.id,
    )
    assert [c.touch_point.id for c in chain] == [card.touch_point.id, follow_up.id]


async def test_completing_twice_with_another_note_is_a_conflict(world: World) -> None:
    card = await world.create()
    ctx = await UseCase.load(
        storage=world.storage,
        crm=world.crm_as(SELLER),
        clock=world.clock,
        connector=MemoryCrmConnector(world.crm),
        actor=world.actor(SELLER),
    )
    arguments = {"touch_point_id": card.touch_point.id, "follow_up": None}
    await uc.complete_touch_point(ctx, result_note="first", **arguments)  # type: ignore[arg-type]
    # The same request again is a harmless retry...
    await uc.complete_touch_point(ctx, result_note="first", **arguments)  # type: ignore[arg-type]
    # ...another note is a second completion.
    with pytest.raises(Conflict):
        await uc.complete_touch_point(ctx, result_note="second", **arguments)  # type: ignore[arg-type]


async def test_cancelling_deletes_the_to_do_and_a_done_one_cannot_be_cancelled(
    world: World,
) -> None:
    card = await world.create()
    cancelled = await uc.cancel_touch_point(
        await UseCase.load(
            storage=world.storage,
            crm=world.crm_as(SELLER),
            clock=world.clock,
            connector=MemoryCrmConnector(world.crm),
            actor=world.actor(SELLER),
        ),
        touch_point_id=card.touch_point.id,
    )
    assert cancelled.touch_point.status is Status.CANCELLED
    assert world.crm.activity(world.portal.member_id, card.touch_point.activity_id) is None
    with pytest.raises(Conflict):
        await uc.move_touch_point(
            await UseCase.load(
                storage=world.storage,
                crm=world.crm_as(SELLER),
                clock=world.clock,
                connector=MemoryCrmConnector(world.crm),
                actor=world.actor(SELLER),
            ),
            touch_point_id=card.touch_point.id,
            deadline=NOW + timedelta(days=3),
            responsible_id=None,
        )


async def test_a_colleague_sees_nothing_and_another_portals_id_is_not_found(
    world: World,
) -> None:
    card = await world.create()
    with pytest.raises(Forbidden):
        await uc.get_touch_point(
            await UseCase.load(
                storage=world.storage,
                crm=world.crm_as(OTHER),
                clock=world.clock,
                connector=MemoryCrmConnector(world.crm),
                actor=world.actor(OTHER),
            ),
            touch_point_id=card.touch_point.id,
        )
    other = await World().start()
    with pytest.raises(NotFound):
        await uc.get_touch_point(
            await UseCase.load(
                storage=world.storage,
                crm=world.crm_as(SELLER),
                clock=world.clock,
                connector=MemoryCrmConnector(world.crm),
                actor=Actor(other.portal, Viewer(SELLER, False)),
            ),
            touch_point_id=card.touch_point.id + 1000,
        )
    # An admin sees it, and the record tab lists it for them only.
    seen = await uc.get_touch_point(
        await UseCase.load(
            storage=world.storage,
            crm=world.crm_as(ADMIN),
            clock=world.clock,
            connector=MemoryCrmConnector(world.crm),
            actor=world.actor(ADMIN, admin=True),
        ),
        touch_point_id=card.touch_point.id,
    )
    assert seen.touch_point == card.touch_point
    for user_id, admin, expected in ((ADMIN, True, 1), (OTHER, False, 0)):
        listed = await uc.record_touch_points(
            await UseCase.load(
                storage=world.storage,
                crm=world.crm_as(user_id),
                clock=world.clock,
                connector=MemoryCrmConnector(world.crm),
                actor=world.actor(user_id, admin=admin),
            ),
            owner=world.deal,
        )
        assert len(listed) == expected


async def test_the_board_shows_ones_own_work_in_due_columns_and_the_team_to_viewers(
    world: World,
) -> None:
    await world.create()
    await world.create(deadline=NOW - timedelta(hours=1))
    board = await uc.get_board(
        await UseCase.load(
            storage=world.storage,
            crm=world.crm_as(SELLER),
            clock=world.clock,
            connector=MemoryCrmConnector(world.crm),
            actor=world.actor(SELLER),
        )
    )
    counts = {bucket.value: len(cards) for bucket, cards in board.columns}
    assert counts["overdue"] == 1
    assert counts["tomorrow"] == 1
    empty = await uc.get_board(
        await UseCase.load(
            storage=world.storage,
            crm=world.crm_as(OTHER),
            clock=world.clock,
            connector=MemoryCrmConnector(world.crm),
            actor=world.actor(OTHER),
        )
    )
    assert sum(len(cards) for _bucket, cards in empty.columns) == 0
    with pytest.raises(Forbidden):
        await uc.get_board(
            await UseCase.load(
                storage=world.storage,
                crm=world.crm_as(OTHER),
                clock=world.clock,
                connector=MemoryCrmConnector(world.crm),
                actor=world.actor(OTHER),
            ),
            uc.BoardRequest(responsible_id=SELLER),
        )
    team = await uc.get_board(
        await UseCase.load(
            storage=world.storage,
            crm=world.crm_as(ADMIN),
            clock=world.clock,
            connector=MemoryCrmConnector(world.crm),
            actor=world.actor(ADMIN, admin=True),
        )
    )
    assert sum(len(cards) for _bucket, cards in team.columns) == 2


async def complete(
    world: World, card: Card, user_id: int = SELLER, *, note: str = "Done", follow_up: bool = True
) -> uc.Completion:
    return await uc.complete_touch_point(
        await world.ctx(user_id),
        touch_point_id=card.touch_point.id,
        result_note=note,
        follow_up=uc.FollowUpRequest() if follow_up else None,
    )


async def test_texts_over_their_limits_are_refused_before_the_crm_is_asked(
    world: World,
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await world.create(title="t" * (TITLE_MAX + 1), note="n" * (NOTE_MAX + 1))
    assert set(raised.value.errors) == {"title", "note"}
    assert world.crm.calls["create_todo"] == 0


async def test_a_blank_result_note_is_refused_and_the_to_do_stays_open(world: World) -> None:
    card = await world.create()
    with pytest.raises(InvalidInput):
        await complete(world, card, note="   ")
    activity = world.crm.activity(world.portal.member_id, card.touch_point.activity_id)
    assert activity is not None
    assert not activity.completed


async def test_a_colleague_may_neither_move_complete_nor_cancel(world: World) -> None:
    card = await world.create()
    ctx = await world.ctx(OTHER)
    with pytest.raises(Forbidden):
        await uc.move_touch_point(
            ctx,
            touch_point_id=card.touch_point.id,
            deadline=NOW + timedelta(days=2),
            responsible_id=None,
        )
    with pytest.raises(Forbidden):
        await complete(world, card, OTHER)
    with pytest.raises(Forbidden):
        await uc.cancel_touch_point(ctx, touch_point_id=card.touch_point.id)
    for operation in ("update_deadline", "complete", "delete_activity"):
        assert world.crm.calls[operation] == 0


async def test_a_team_viewer_edits_a_colleagues_touch_point_within_their_crm_rights(
    world: World,
) -> None:
    card = await world.create()
    settings = attrs.evolve(PortalSettings.defaults(), team_viewers=frozenset({OTHER}))
    async with world.storage.unit_of_work() as uow:
        await uow.settings.put(world.portal.id, settings, now=NOW)
    world.crm.add_user(world.portal.member_id, OTHER, name="Other", crm_access="none")
    later = NOW + timedelta(days=2)

    async def move() -> Card:
        return await uc.move_touch_point(
            await world.ctx(OTHER),
            touch_point_id=card.touch_point.id,
            deadline=later,
            responsible_id=None,
        )

    with pytest.raises(CrmPermissionDenied):
        await move()  # Bitrix24 still applies their own CRM rights to the to-do
    world.crm.grant(world.portal.member_id, OTHER, world.deal, edit=True)
    assert (await move()).touch_point.deadline == later


async def test_repeating_a_completion_returns_the_follow_up_already_made(world: World) -> None:
    card = await world.create()
    first = await complete(world, card)
    again = await complete(world, card)
    assert first.follow_up is not None
    assert again.follow_up is not None
    assert again.follow_up.touch_point == first.follow_up.touch_point
    assert world.crm.calls["create_todo"] == 2  # the touch-point and one follow-up
    assert world.crm.calls["complete"] == 1


async def test_cancelling_a_to_do_already_gone_in_the_crm_still_cancels(world: World) -> None:
    card = await world.create()
    world.crm.remove_activity(world.portal.member_id, card.touch_point.activity_id)
    cancelled = await uc.cancel_touch_point(
        await world.ctx(SELLER),
        touch_point_id=card.touch_point.id,
    )
    assert cancelled.touch_point.status is Status.CANCELLED


async def test_the_record_tab_lists_open_ones_most_overdue_first_then_finished_newest_first(
    world: World,
) -> None:
    soon = await world.create(deadline=NOW + timedelta(days=1))
    overdue = await world.create(deadline=NOW - timedelta(days=1))
    old_done = await world.create(deadline=NOW - timedelta(days=5))
    new_done = await world.create(deadline=NOW - timedelta(days=2))
    for card in (old_done, new_done):
        await complete(world, card, follow_up=False)
    listed = await uc.record_touch_points(
        await world.ctx(SELLER),
        owner=world.deal,
    )
    assert [c.touch_point.id for c in listed] == [
        overdue.touch_point.id,
        soon.touch_point.id,
        new_done.touch_point.id,
        old_done.touch_point.id,
    ]
    assert {c.owner_title for c in listed} == {"Fleet"}
