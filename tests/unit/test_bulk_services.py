"""The list view, bulk actions, the sweep and undo on the memory fakes, failure paths included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from tests.unit.service_world import ADMIN, OTHER, SELLER, ServiceWorld
from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.model import OwnerType, Status, TouchPoint, TouchPointType
from touchpoints.domain.scheduling import Shift, SweepTarget
from touchpoints.domain.settings import IntervalUnit, PortalSettings
from touchpoints.domain.visibility import Viewer
from touchpoints.ports.crm import CrmInvalidInput, CrmPermissionDenied, CrmUnavailable
from touchpoints.ports.storage import PendingTodo
from touchpoints.services import bulk, undo
from touchpoints.services import touchpoints as uc
from touchpoints.services.bulk import BulkAction, BulkRequest, ListRequest
from touchpoints.services.context import Actor, UseCase
from touchpoints.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from touchpoints.services.todos import new_from_attempt

NOW = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)  # a Wednesday


@attrs.define
class World(ServiceWorld):
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))

    async def ctx(self, user_id: int) -> UseCase:
        return await UseCase.load(
            storage=self.storage,
            crm=self.crm_as(user_id),
            clock=self.clock,
            connector=MemoryCrmConnector(self.crm),
            actor=Actor(self.portal, Viewer(user_id, user_id == ADMIN)),
        )

    async def create(
        self, user_id: int = SELLER, *, deadline: datetime | None = None, **extra: object
    ) -> TouchPoint:
        request = uc.CreateRequest(
            owner=self.deal,
            type=TouchPointType.CALL,
            deadline=deadline or NOW + timedelta(days=1),
            **extra,  # type: ignore[arg-type]
        )
        card = await uc.create_touch_point(await self.ctx(user_id), request=request)
        return card.touch_point

    async def row(self, touch_point_id: int) -> TouchPoint:
        async with self.storage.unit_of_work() as uow:
            found = await uow.touch_points.get(self.portal.id, touch_point_id)
        assert found is not None
        return found

    def crm_deadline(self, tp: TouchPoint) -> datetime:
        activity = self.crm.activity(self.portal.member_id, tp.activity_id)
        assert activity is not None
        return activity.deadline

    def crm_responsible(self, tp: TouchPoint) -> int:
        activity = self.crm.activity(self.portal.member_id, tp.activity_id)
        assert activity is not None
        return activity.responsible_id


@pytest.fixture
async def world() -> World:
    return await World().start()


def reschedule(ids: list[int], **target: object) -> BulkRequest:
    return BulkRequest(ids=tuple(ids), action=BulkAction.RESCHEDULE, **target)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the list view


async def test_the_list_shows_a_user_their_own_and_admins_everyones(world: World) -> None:
    mine = await world.create(SELLER)
    theirs = await world.create(OTHER)
    own = await bulk.list_touch_points(await world.ctx(SELLER), ListRequest())
    everyone = await bulk.list_touch_points(await world.ctx(ADMIN), ListRequest())
    assert [c.touch_point.id for c in own.cards] == [mine.id]
    assert {c.touch_point.id for c in everyone.cards} == {mine.id, theirs.id}
    with pytest.raises(Forbidden):
        await bulk.list_touch_points(await world.ctx(SELLER), ListRequest(responsible_id=OTHER))


async def test_paging_walks_every_item_once_in_deadline_then_id_order(world: World) -> None:
    same = NOW + timedelta(days=2)
    made = [
        await world.create(deadline=deadline)
        for deadline in (same, NOW + timedelta(hours=3), same, NOW + timedelta(days=9), same)
    ]
    ctx = await world.ctx(SELLER)
    seen: list[int] = []
    cursor = ""
    pages = 0
    while True:
        page = await bulk.list_touch_points(ctx, ListRequest(limit=2, cursor=cursor))
        pages += 1
        seen.extend(card.touch_point.id for card in page.cards)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [tp.id for tp in sorted(made, key=lambda tp: (tp.deadline, tp.id))]
    assert pages == 3


async def test_a_cursor_works_only_with_the_filters_and_user_it_came_from(world: World) -> None:
    for _ in range(3):
        await world.create()
    page = await bulk.list_touch_points(await world.ctx(SELLER), ListRequest(limit=1))
    assert page.next_cursor is not None
    with pytest.raises(InvalidValue):
        await bulk.list_touch_points(
            await world.ctx(SELLER),
            ListRequest(limit=1, cursor=page.next_cursor, status=Status.OPEN),
        )
    with pytest.raises(InvalidValue):
        await bulk.list_touch_points(
            await world.ctx(ADMIN), ListRequest(limit=1, cursor=page.next_cursor)
        )


async def test_the_list_filters_by_status_and_local_days_both_included(world: World) -> None:
    thursday = await world.create(deadline=datetime(2026, 3, 5, 23, 59, tzinfo=UTC))
    friday = await world.create(deadline=datetime(2026, 3, 6, 0, 0, tzinfo=UTC))
    await world.create(deadline=datetime(2026, 3, 7, 0, 0, tzinfo=UTC))
    cancelled = await world.create(deadline=datetime(2026, 3, 8, 9, 0, tzinfo=UTC))
    await uc.cancel_touch_point(await world.ctx(SELLER), touch_point_id=cancelled.id)
    ctx = await world.ctx(SELLER)
    days = await bulk.list_touch_points(
        ctx, ListRequest(first=date(2026, 3, 5), last=date(2026, 3, 6))
    )
    assert [c.touch_point.id for c in days.cards] == [thursday.id, friday.id]
    gone = await bulk.list_touch_points(ctx, ListRequest(status=Status.CANCELLED))
    assert [c.touch_point.id for c in gone.cards] == [cancelled.id]


async def test_search_matches_live_titles_and_notes_and_pages_through_matches(
    world: World,
) -> None:
    hits = [
        await world.create(title="Call about the RENEWAL", deadline=NOW + timedelta(hours=1)),
        await world.create(note="ask for the renewal date", deadline=NOW + timedelta(hours=2)),
        await world.create(title="Renewal, second try", deadline=NOW + timedelta(hours=4)),
    ]
    await world.create(title="Invoice", deadline=NOW + timedelta(hours=3))
    ctx = await world.ctx(SELLER)
    first = await bulk.list_touch_points(ctx, ListRequest(q="renewal", limit=2))
    assert [c.touch_point.id for c in first.cards] == [hits[0].id, hits[1].id]
    assert first.next_cursor is not None
    rest = await bulk.list_touch_points(
        ctx, ListRequest(q="renewal", limit=2, cursor=first.next_cursor)
    )
    assert [c.touch_point.id for c in rest.cards] == [hits[2].id]
    assert rest.next_cursor is None
    assert rest.cards[0].title == "Renewal, second try"


async def test_a_long_search_stops_after_its_scan_budget_with_a_cursor(world: World) -> None:
    for n in range(bulk.SEARCH_SCAN_MAX + 5):
        deadline = NOW + timedelta(minutes=n)
        async with world.storage.unit_of_work() as uow:
            activity_id = world.crm.add_activity(
                world.portal.member_id, world.deal, deadline=deadline, responsible_id=SELLER
            )
            await uow.touch_points.add(
                new_from_attempt(
                    PendingTodo(
                        portal_id=world.portal.id,
                        owner=world.deal,
                        type=TouchPointType.CALL,
                        deadline=deadline,
                        responsible_id=SELLER,
                        created_by=SELLER,
                        created_at=NOW,
                    ),
                    activity_id,
                )
            )
    page = await bulk.list_touch_points(await world.ctx(SELLER), ListRequest(q="nowhere"))
    assert page.cards == ()
    assert page.next_cursor is not None
    rest = await bulk.list_touch_points(
        await world.ctx(SELLER), ListRequest(q="nowhere", cursor=page.next_cursor)
    )
    assert (rest.cards, rest.next_cursor) == ((), None)


# ------------------------------------------------------------------ bulk actions


async def test_a_bulk_move_to_a_day_keeps_each_time_and_offers_an_undo(world: World) -> None:
    first = await world.create(deadline=datetime(2026, 3, 5, 10, 15, tzinfo=UTC))
    second = await world.create(deadline=datetime(2026, 3, 6, 16, 0, tzinfo=UTC))
    outcome = await bulk.bulk_action(
        await world.ctx(SELLER), reschedule([first.id, second.id], day=date(2026, 3, 10))
    )
    assert outcome.done == (first.id, second.id)
    assert outcome.failed == ()
    assert outcome.undo is not None
    assert outcome.undo.expires_at >= NOW + timedelta(minutes=10)
    moved = [await world.row(first.id), await world.row(second.id)]
    assert [tp.deadline for tp in moved] == [
        datetime(2026, 3, 10, 10, 15, tzinfo=UTC),
        datetime(2026, 3, 10, 16, 0, tzinfo=UTC),
    ]
    assert [world.crm_deadline(tp) for tp in moved] == [tp.deadline for tp in moved]


async def test_each_id_is_checked_like_a_single_call_and_failures_do_not_stop_the_rest(
    world: World,
) -> None:
    mine = await world.create(SELLER)
    theirs = await world.create(OTHER)
    done = await world.create(SELLER)
    await uc.complete_touch_point(
        await world.ctx(SELLER), touch_point_id=done.id, result_note="talked", follow_up=None
    )
    outcome = await bulk.bulk_action(
        await world.ctx(SELLER),
        reschedule([theirs.id, mine.id, 999_999, done.id, mine.id], deadline=NOW + timedelta(3)),
    )
    assert outcome.done == (mine.id,)
    kinds = {failure.id: type(failure.error) for failure in outcome.failed}
    assert kinds == {theirs.id: Forbidden, 999_999: NotFound, done.id: Conflict}
    assert [failure.id for failure in outcome.failed] == [theirs.id, 999_999, done.id]
    assert (await world.row(theirs.id)).deadline == theirs.deadline


async def test_another_portals_ids_are_not_found(world: World) -> None:
    mine = await world.create(ADMIN)
    member_id = world.crm.add_portal(time_zone="UTC")
    world.crm.add_user(member_id, ADMIN, name="Admin", admin=True)
    async with world.storage.unit_of_work() as uow:
        second = await uow.portals.create(world.crm.install(member_id, ADMIN), now=NOW)
        await uow.settings.put(second.id, PortalSettings.defaults(), now=NOW)
    deal = world.crm.add_record(member_id, OwnerType.DEAL, "Elsewhere")
    connector = MemoryCrmConnector(world.crm)
    elsewhere = await uc.create_touch_point(
        await UseCase.load(
            storage=world.storage,
            crm=connector.as_user(second, world.crm.issue_token(member_id, ADMIN)),
            clock=world.clock,
            connector=connector,
            actor=Actor(second, Viewer(ADMIN, True)),
        ),
        request=uc.CreateRequest(
            owner=deal, type=TouchPointType.CALL, deadline=NOW + timedelta(days=1)
        ),
    )
    foreign = elsewhere.touch_point
    outcome = await bulk.bulk_action(
        await world.ctx(ADMIN), reschedule([foreign.id, mine.id], day=date(2026, 3, 12))
    )
    assert outcome.done == (mine.id,)
    assert [(f.id, type(f.error)) for f in outcome.failed] == [(foreign.id, NotFound)]
    activity = world.crm.activity(member_id, foreign.activity_id)
    assert activity is not None
    assert activity.deadline == foreign.deadline


async def test_shifts_move_by_working_days_or_calendar_days_either_way(world: World) -> None:
    monday = await world.create(deadline=datetime(2026, 3, 9, 11, 0, tzinfo=UTC))
    ctx = await world.ctx(SELLER)
    await bulk.bulk_action(ctx, reschedule([monday.id], shift=Shift(-1, IntervalUnit.WORKING_DAYS)))
    assert (await world.row(monday.id)).deadline == datetime(2026, 3, 6, 11, 0, tzinfo=UTC)
    await bulk.bulk_action(ctx, reschedule([monday.id], shift=Shift(2, IntervalUnit.DAYS)))
    # Friday + 2 calendar days is a Sunday: it lands on the next working day.
    assert (await world.row(monday.id)).deadline == datetime(2026, 3, 9, 11, 0, tzinfo=UTC)


async def test_a_crm_refusal_fails_that_id_alone_and_leaves_its_row(world: World) -> None:
    first = await world.create()
    second = await world.create()
    world.crm.fail("update_deadline", CrmPermissionDenied("no", code="ACCESS_DENIED"))
    outcome = await bulk.bulk_action(
        await world.ctx(SELLER), reschedule([first.id, second.id], day=date(2026, 3, 11))
    )
    assert outcome.done == (second.id,)
    assert [(f.id, type(f.error)) for f in outcome.failed] == [(first.id, CrmPermissionDenied)]
    assert await world.row(first.id) == first


async def test_an_unavailable_crm_fails_every_id_and_changes_nothing(world: World) -> None:
    made = [await world.create() for _ in range(3)]
    world.crm.fail("change_todos", CrmUnavailable("down"))
    outcome = await bulk.bulk_action(
        await world.ctx(SELLER), reschedule([tp.id for tp in made], day=date(2026, 3, 11))
    )
    assert (outcome.done, outcome.undo) == ((), None)
    assert {type(f.error) for f in outcome.failed} == {CrmUnavailable}
    assert [await world.row(tp.id) for tp in made] == made


async def test_reassigning_in_bulk_follows_the_single_call_rules(world: World) -> None:
    mine = await world.create(SELLER)
    theirs = await world.create(OTHER)
    handed = await bulk.bulk_action(
        await world.ctx(SELLER),
        BulkRequest(ids=(mine.id,), action=BulkAction.REASSIGN, responsible_id=OTHER),
    )
    assert handed.done == (mine.id,)
    assert world.crm_responsible(await world.row(mine.id)) == OTHER
    by_admin = await bulk.bulk_action(
        await world.ctx(ADMIN),
        BulkRequest(ids=(theirs.id,), action=BulkAction.REASSIGN, responsible_id=SELLER),
    )
    assert by_admin.done == (theirs.id,)
    assert (await world.row(theirs.id)).responsible_id == SELLER


async def test_completing_in_bulk_records_one_note_and_offers_no_undo(world: World) -> None:
    made = [await world.create() for _ in range(2)]
    outcome = await bulk.bulk_action(
        await world.ctx(SELLER),
        BulkRequest(
            ids=tuple(tp.id for tp in made), action=BulkAction.COMPLETE, result_note=" Called "
        ),
    )
    assert (outcome.done, outcome.undo) == (tuple(tp.id for tp in made), None)
    rows = [await world.row(tp.id) for tp in made]
    assert {(tp.status, tp.result_note, tp.next_id) for tp in rows} == {
        (Status.DONE, "Called", None)
    }
    for tp in rows:
        activity = world.crm.activity(world.portal.member_id, tp.activity_id)
        assert activity is not None
        assert activity.completed
    again = await bulk.bulk_action(
        await world.ctx(SELLER),
        BulkRequest(ids=(made[0].id,), action=BulkAction.COMPLETE, result_note="Called"),
    )
    assert again.done == (made[0].id,)  # the same completion again is no second one


async def test_cancelling_in_bulk_deletes_the_todos_even_when_one_is_already_gone(
    world: World,
) -> None:
    made = [await world.create() for _ in range(2)]
    world.crm.portal(world.portal.member_id).activities.pop(made[0].activity_id)
    outcome = await bulk.bulk_action(
        await world.ctx(SELLER),
        BulkRequest(ids=tuple(tp.id for tp in made), action=BulkAction.CANCEL),
    )
    assert outcome.done == tuple(tp.id for tp in made)
    assert {(await world.row(tp.id)).status for tp in made} == {Status.CANCELLED}
    assert world.crm.activity(world.portal.member_id, made[1].activity_id) is None


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (BulkRequest(ids=(), action=BulkAction.CANCEL), "ids"),
        (BulkRequest(ids=tuple(range(1, 502)), action=BulkAction.CANCEL), "ids"),
        (BulkRequest(ids=(1,), action=BulkAction.RESCHEDULE), "deadline"),
        (
            BulkRequest(ids=(1,), action=BulkAction.RESCHEDULE, deadline=NOW, day=date(2026, 3, 9)),
            "deadline",
        ),
        (BulkRequest(ids=(1,), action=BulkAction.REASSIGN), "responsible_id"),
        (BulkRequest(ids=(1,), action=BulkAction.COMPLETE, result_note="  "), "result_note"),
        (BulkRequest(ids=(1,), action=BulkAction.CANCEL, responsible_id=2), "responsible_id"),
    ],
)
async def test_an_unusable_bulk_request_is_invalid_input_and_touches_nothing(
    world: World, request_: BulkRequest, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await bulk.bulk_action(await world.ctx(SELLER), request_)
    assert field in raised.value.errors
    assert world.crm.calls["change_todos"] == 0


# ------------------------------------------------------------------ undo


async def test_undo_restores_deadlines_and_responsibles_in_our_rows_and_the_crm(
    world: World,
) -> None:
    made = [await world.create(ADMIN) for _ in range(2)]
    ctx = await world.ctx(ADMIN)
    moved = await bulk.bulk_action(ctx, reschedule([tp.id for tp in made], day=date(2026, 3, 20)))
    handed = await bulk.bulk_action(
        ctx, BulkRequest(ids=(made[0].id,), action=BulkAction.REASSIGN, responsible_id=OTHER)
    )
    assert moved.undo is not None
    assert handed.undo is not None
    back = await undo.redeem_undo(ctx, token=handed.undo.token)
    assert back.done == (made[0].id,)
    assert (await world.row(made[0].id)).responsible_id == ADMIN
    assert world.crm_responsible(made[0]) == ADMIN
    back = await undo.redeem_undo(ctx, token=moved.undo.token)
    assert back.done == tuple(tp.id for tp in made)
    for tp in made:
        row = await world.row(tp.id)
        assert row.deadline == tp.deadline
        assert world.crm_deadline(tp) == tp.deadline


async def test_undo_skips_and_reports_what_changed_since(world: World) -> None:
    made = [await world.create() for _ in range(3)]
    ctx = await world.ctx(SELLER)
    moved = await bulk.bulk_action(ctx, reschedule([tp.id for tp in made], day=date(2026, 3, 20)))
    assert moved.undo is not None
    await uc.move_touch_point(
        ctx, touch_point_id=made[0].id, deadline=NOW + timedelta(days=30), responsible_id=None
    )
    await uc.complete_touch_point(
        ctx, touch_point_id=made[1].id, result_note="done", follow_up=None
    )
    back = await undo.redeem_undo(ctx, token=moved.undo.token)
    assert back.done == (made[2].id,)
    assert [(f.id, type(f.error)) for f in back.failed] == [
        (made[0].id, undo.ChangedSince),
        (made[1].id, undo.ChangedSince),
    ]
    assert (await world.row(made[0].id)).deadline == NOW + timedelta(days=30)


async def test_an_undo_works_once_for_its_own_user_while_it_lasts(world: World) -> None:
    tp = await world.create(SELLER)
    moved = await bulk.bulk_action(
        await world.ctx(SELLER), reschedule([tp.id], day=date(2026, 3, 20))
    )
    assert moved.undo is not None
    token = moved.undo.token
    with pytest.raises(Forbidden):
        await undo.redeem_undo(await world.ctx(ADMIN), token=token)
    with pytest.raises(NotFound):
        await undo.redeem_undo(await world.ctx(SELLER), token=token + "x")
    await undo.redeem_undo(await world.ctx(SELLER), token=token)
    with pytest.raises(undo.UndoUsed):
        await undo.redeem_undo(await world.ctx(SELLER), token=token)


async def test_an_undo_expires_after_a_quarter_of_an_hour_not_before_ten_minutes(
    world: World,
) -> None:
    tp = await world.create()
    ctx = await world.ctx(SELLER)
    early = await bulk.bulk_action(ctx, reschedule([tp.id], day=date(2026, 3, 20)))
    late = await bulk.bulk_action(ctx, reschedule([tp.id], day=date(2026, 3, 23)))
    assert early.undo is not None
    assert late.undo is not None
    world.clock.advance(timedelta(minutes=10))
    await undo.redeem_undo(await world.ctx(SELLER), token=late.undo.token)
    world.clock.advance(timedelta(minutes=6))
    with pytest.raises(undo.UndoExpired):
        await undo.redeem_undo(await world.ctx(SELLER), token=early.undo.token)


async def test_an_undo_that_cannot_reach_the_crm_reports_every_id(world: World) -> None:
    tp = await world.create()
    ctx = await world.ctx(SELLER)
    moved = await bulk.bulk_action(ctx, reschedule([tp.id], day=date(2026, 3, 20)))
    assert moved.undo is not None
    world.crm.fail("update_deadline", CrmInvalidInput("refused", code="X"))
    back = await undo.redeem_undo(ctx, token=moved.undo.token)
    assert back.done == ()
    assert [type(f.error) for f in back.failed] == [CrmInvalidInput]


async def test_a_single_move_offers_an_undo_and_a_non_move_none(world: World) -> None:
    tp = await world.create()
    ctx = await world.ctx(SELLER)
    card, ticket = await undo.move_with_undo(
        ctx, touch_point_id=tp.id, deadline=None, responsible_id=OTHER
    )
    assert card.touch_point.responsible_id == OTHER
    assert ticket is not None
    back = await undo.redeem_undo(ctx, token=ticket.token)
    assert back.done == (tp.id,)
    assert (await world.row(tp.id)).responsible_id == SELLER
    _card, none = await undo.move_with_undo(
        ctx, touch_point_id=tp.id, deadline=tp.deadline, responsible_id=None
    )
    assert none is None


# ------------------------------------------------------------------ the sweep


async def test_the_sweep_moves_overdue_ones_to_today_keeping_times_not_yet_past(
    world: World,
) -> None:
    morning = await world.create(deadline=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    evening = await world.create(deadline=datetime(2026, 3, 3, 17, 45, tzinfo=UTC))
    future = await world.create(deadline=datetime(2026, 3, 5, 8, 0, tzinfo=UTC))
    ctx = await world.ctx(SELLER)
    dry = await bulk.sweep(ctx, to=SweepTarget.TODAY, dry_run=True)
    assert dry.ids == (morning.id, evening.id)
    assert await world.row(morning.id) == morning
    swept = await bulk.sweep(ctx, to=SweepTarget.TODAY)
    assert swept.ids == (morning.id, evening.id)
    assert swept.outcome.undo is not None
    # 08:00 already passed at 09:30: the next full hour; 17:45 is still ahead.
    assert (await world.row(morning.id)).deadline == datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    assert (await world.row(evening.id)).deadline == datetime(2026, 3, 4, 17, 45, tzinfo=UTC)
    assert await world.row(future.id) == future
    await undo.redeem_undo(ctx, token=swept.outcome.undo.token)
    assert (await world.row(morning.id)).deadline == morning.deadline


async def test_the_sweep_covers_what_the_caller_may_see(world: World) -> None:
    mine = await world.create(SELLER, deadline=NOW - timedelta(days=1))
    theirs = await world.create(OTHER, deadline=NOW - timedelta(days=1))
    seller = await bulk.sweep(
        await world.ctx(SELLER), to=SweepTarget.NEXT_WORKING_DAY, dry_run=True
    )
    assert seller.ids == (mine.id,)
    with pytest.raises(Forbidden):
        await bulk.sweep(await world.ctx(SELLER), to=SweepTarget.TODAY, responsible_id=OTHER)
    admin = await bulk.sweep(await world.ctx(ADMIN), to=date(2026, 3, 9), responsible_id=OTHER)
    assert admin.ids == (theirs.id,)
    assert (await world.row(theirs.id)).deadline.date() == date(2026, 3, 9)
    with pytest.raises(InvalidInput):
        await bulk.sweep(await world.ctx(ADMIN), to=date(2026, 3, 3))
