"""The storage port's contract: every test runs against MemoryStorage and PostgresStorage."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from tests.contracts.conftest import NOW, Make
from touchpoints.domain.errors import ChainError, InvalidValue
from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPointType
from touchpoints.domain.portal import PortalStatus
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import IntervalUnit, PortalSettings, UserPreferences
from touchpoints.ports.digests import DigestState
from touchpoints.ports.storage import (
    BoardQuery,
    ConcurrentUpdate,
    DuplicateActivity,
    Feedback,
    InvalidReference,
    PortalExists,
    Storage,
)

DAY = timedelta(days=1)
TODAY = date(2026, 3, 2)


class Boom(Exception):
    """Raised inside a unit of work to make it roll back."""


# ------------------------------------------------------------------ portals


async def test_a_created_portal_reads_back_with_its_tokens(storage: Storage, make: Make) -> None:
    install = make.install("abc123")
    async with storage.unit_of_work() as uow:
        created = await uow.portals.create(install, now=NOW)
    async with storage.unit_of_work() as uow:
        by_id = await uow.portals.get(created.id)
        by_member = await uow.portals.get_by_member_id("abc123")
    assert by_id == created == by_member
    assert created.tokens.access_token.reveal() == install.tokens.access_token.reveal()
    assert created.tokens.refresh_token.reveal() == install.tokens.refresh_token.reveal()
    assert created.application_token.reveal() == install.application_token.reveal()
    assert created.tokens.expires_at == install.tokens.expires_at
    assert (created.status, created.created_at, created.updated_at) == (
        PortalStatus.ACTIVE,
        NOW,
        NOW,
    )
    assert (created.client_endpoint, created.domain, created.installed_by, created.scope) == (
        install.client_endpoint,
        install.domain,
        install.installed_by,
        install.scope,
    )


async def test_unknown_portals_read_as_none(storage: Storage) -> None:
    async with storage.unit_of_work() as uow:
        assert await uow.portals.get(999) is None
        assert await uow.portals.get_by_member_id("nobody") is None
        assert await uow.portals.lock(999) is None


async def test_a_second_portal_with_the_same_member_id_is_refused(
    storage: Storage, make: Make
) -> None:
    first = await make.portal(storage, "same")
    with pytest.raises(PortalExists):
        async with storage.unit_of_work() as uow:
            await uow.portals.create(make.install("same"), now=NOW)
    async with storage.unit_of_work() as uow:
        assert await uow.portals.list_ids(active_only=False) == [first.id]


async def test_replacing_an_install_swaps_endpoint_and_tokens_and_reactivates(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage, "m1")
    later = NOW + timedelta(hours=2)
    install = make.install("m1", client_endpoint="https://moved.example/rest/")
    async with storage.unit_of_work() as uow:
        await uow.portals.set_status(portal.id, PortalStatus.NEEDS_REAUTH, now=NOW)
        replaced = await uow.portals.replace_install(portal.id, install, now=later)
    async with storage.unit_of_work() as uow:
        stored = await uow.portals.get(portal.id)
    assert stored == replaced
    assert stored.client_endpoint == "https://moved.example/rest/"
    assert stored.status is PortalStatus.ACTIVE
    assert stored.tokens.access_token.reveal() == install.tokens.access_token.reveal()
    assert stored.application_token.reveal() == install.application_token.reveal()
    assert (stored.created_at, stored.updated_at) == (NOW, later)


async def test_replacing_the_install_of_an_unknown_portal_is_an_invalid_reference(
    storage: Storage, make: Make
) -> None:
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.portals.replace_install(404, make.install(), now=NOW)


async def test_tokens_application_token_and_status_updates_are_stored(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    tokens = make.tokens()
    later = NOW + timedelta(minutes=5)
    async with storage.unit_of_work() as uow:
        await uow.portals.update_tokens(portal.id, tokens, now=later)
        await uow.portals.set_application_token(portal.id, Secret("new-app-token"), now=later)
        await uow.portals.set_status(portal.id, PortalStatus.NEEDS_REAUTH, now=later)
    async with storage.unit_of_work() as uow:
        stored = await uow.portals.lock(portal.id)
    assert stored is not None
    assert stored.tokens.access_token.reveal() == tokens.access_token.reveal()
    assert stored.tokens.refresh_token.reveal() == tokens.refresh_token.reveal()
    assert stored.tokens.expires_at == tokens.expires_at
    assert stored.application_token.reveal() == "new-app-token"
    assert stored.status is PortalStatus.NEEDS_REAUTH
    assert stored.updated_at == later


async def test_updates_of_an_unknown_portal_change_nothing(storage: Storage, make: Make) -> None:
    async with storage.unit_of_work() as uow:
        await uow.portals.update_tokens(404, make.tokens(), now=NOW)
        await uow.portals.set_status(404, PortalStatus.NEEDS_REAUTH, now=NOW)
        await uow.portals.set_application_token(404, Secret("x"), now=NOW)
        assert await uow.portals.list_ids(active_only=False) == []


async def test_list_ids_leaves_out_portals_that_need_reauthorisation(
    storage: Storage, make: Make
) -> None:
    first = await make.portal(storage)
    second = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        await uow.portals.set_status(first.id, PortalStatus.NEEDS_REAUTH, now=NOW)
    async with storage.unit_of_work() as uow:
        assert await uow.portals.list_ids() == [second.id]
        assert await uow.portals.list_ids(active_only=False) == [first.id, second.id]


async def test_deleting_a_portal_removes_all_of_its_data_and_only_its_data(
    storage: Storage, make: Make
) -> None:
    doomed = await make.portal(storage)
    kept = await make.portal(storage)
    for portal in (doomed, kept):
        async with storage.unit_of_work() as uow:
            await uow.settings.put(portal.id, PortalSettings.defaults(), now=NOW)
            await uow.preferences.put(
                portal.id, UserPreferences(user_id=7, digest_enabled=False), now=NOW
            )
            await uow.touch_points.add(make.new(portal.id, activity_id=1))
            await uow.digest_log.claim(portal.id, 7, TODAY, now=NOW, stale_after_s=600)
            await uow.feedback.add(
                Feedback(portal_id=portal.id, user_id=7, message="hi", email=None, created_at=NOW)
            )
    async with storage.unit_of_work() as uow:
        assert await uow.portals.delete(doomed.id) is True
    async with storage.unit_of_work() as uow:
        assert await uow.portals.delete(doomed.id) is False
        assert await uow.portals.get(doomed.id) is None
        assert await uow.settings.get(doomed.id) is None
        assert await uow.preferences.list(doomed.id) == []
        assert await uow.touch_points.all(doomed.id) == []
        assert await uow.digest_log.get(doomed.id, 7, TODAY) is None
        assert await uow.feedback.for_portal(doomed.id) == []
        assert [f.portal_id for f in await uow.feedback.since(None)] == [kept.id]
        assert await uow.settings.get(kept.id) is not None
        assert len(await uow.preferences.list(kept.id)) == 1
        assert len(await uow.touch_points.all(kept.id)) == 1
        assert await uow.digest_log.get(kept.id, 7, TODAY) is not None


async def test_a_deleted_member_id_can_install_again(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage, "again")
    async with storage.unit_of_work() as uow:
        await uow.portals.delete(portal.id)
    reinstalled = await make.portal(storage, "again")
    assert reinstalled.id != portal.id


# ------------------------------------------------------------------ settings and preferences


async def test_settings_are_none_until_put_and_then_read_back(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    settings = PortalSettings.create(
        time_zone="Europe/Berlin",
        enabled_entities=[OwnerType.DEAL, OwnerType.LEAD],
        default_interval=5,
        default_interval_unit=IntervalUnit.DAYS,
        working_days=[1, 2, 3, 4, 6],
        holidays=[date(2026, 12, 25), date(2026, 1, 1)],
        digest_hour=7,
        team_viewers=[3, 9],
        digest_default=False,
    )
    async with storage.unit_of_work() as uow:
        assert await uow.settings.get(portal.id) is None
        await uow.settings.put(portal.id, PortalSettings.defaults("Asia/Tokyo"), now=NOW)
        await uow.settings.put(portal.id, settings, now=NOW)
    async with storage.unit_of_work() as uow:
        assert await uow.settings.get(portal.id) == settings


async def test_settings_of_an_unknown_portal_are_an_invalid_reference(storage: Storage) -> None:
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.settings.put(404, PortalSettings.defaults(), now=NOW)


async def test_preferences_default_until_saved_and_list_in_user_order(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        assert await uow.preferences.get(portal.id, 5) == UserPreferences(user_id=5)
        await uow.preferences.put(
            portal.id, UserPreferences(user_id=9, digest_enabled=True), now=NOW
        )
        await uow.preferences.put(
            portal.id, UserPreferences(user_id=5, digest_enabled=True), now=NOW
        )
        await uow.preferences.put(
            portal.id, UserPreferences(user_id=5, digest_enabled=False), now=NOW
        )
        await uow.preferences.put(
            other.id, UserPreferences(user_id=5, digest_enabled=None), now=NOW
        )
    async with storage.unit_of_work() as uow:
        assert await uow.preferences.get(portal.id, 5) == UserPreferences(
            user_id=5, digest_enabled=False
        )
        assert await uow.preferences.list(portal.id) == [
            UserPreferences(user_id=5, digest_enabled=False),
            UserPreferences(user_id=9, digest_enabled=True),
        ]
        assert await uow.preferences.list(other.id) == [UserPreferences(user_id=5)]


async def test_preferences_refuse_a_non_positive_user_and_an_unknown_portal(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    with pytest.raises(InvalidValue):
        async with storage.unit_of_work() as uow:
            await uow.preferences.put(portal.id, UserPreferences(user_id=0), now=NOW)
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.preferences.put(404, UserPreferences(user_id=1), now=NOW)


# ------------------------------------------------------------------ touch-points


async def test_an_added_touch_point_is_numbered_open_at_version_one(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    new = make.new(portal.id, activity_id=77)
    async with storage.unit_of_work() as uow:
        added = await uow.touch_points.add(new)
    async with storage.unit_of_work() as uow:
        assert await uow.touch_points.get(portal.id, added.id) == added
        assert await uow.touch_points.by_activity(portal.id, 77) == added
    assert added.status is Status.OPEN
    assert added.version == 1
    assert (added.activity_id, added.owner, added.deadline, added.updated_at) == (
        77,
        new.owner,
        new.deadline,
        NOW,
    )


async def test_deadlines_keep_their_instant_whatever_the_offset(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    local = (NOW + DAY).astimezone(ZoneInfo("Asia/Kolkata"))
    async with storage.unit_of_work() as uow:
        added = await uow.touch_points.add(make.new(portal.id, deadline=local))
    async with storage.unit_of_work() as uow:
        stored = await uow.touch_points.get(portal.id, added.id)
    assert stored is not None
    assert stored.deadline == NOW + DAY
    assert stored.deadline.utcoffset() == timedelta(0)


async def test_a_touch_point_is_invisible_through_another_portal(
    storage: Storage, make: Make
) -> None:
    mine = await make.portal(storage)
    theirs = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        tp = await uow.touch_points.add(make.new(mine.id, activity_id=5))
    async with storage.unit_of_work() as uow:
        assert await uow.touch_points.get(theirs.id, tp.id) is None
        assert await uow.touch_points.get_for_update(theirs.id, tp.id) is None
        assert await uow.touch_points.by_activity(theirs.id, 5) is None
        assert await uow.touch_points.by_activities(theirs.id, [5]) == []
        assert await uow.touch_points.board(theirs.id, BoardQuery()) == []
        assert await uow.touch_points.for_owner(theirs.id, tp.owner) == []
        assert await uow.touch_points.chain(theirs.id, tp.id) == []
        assert await uow.touch_points.open_page(theirs.id, after_id=0, limit=10) == []
        assert await uow.touch_points.in_period(theirs.id, NOW - DAY, NOW + 9 * DAY) == []
        assert await uow.touch_points.all(theirs.id) == []


async def test_an_activity_is_stored_once_per_portal(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        await uow.touch_points.add(make.new(portal.id, activity_id=9))
        await uow.touch_points.add(make.new(other.id, activity_id=9))
    with pytest.raises(DuplicateActivity):
        async with storage.unit_of_work() as uow:
            await uow.touch_points.add(make.new(portal.id, activity_id=9))


async def test_adding_to_an_unknown_portal_is_an_invalid_reference(
    storage: Storage, make: Make
) -> None:
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.touch_points.add(make.new(404))


async def test_a_follow_up_cannot_name_a_previous_of_another_portal(
    storage: Storage, make: Make
) -> None:
    mine = await make.portal(storage)
    theirs = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        foreign = await uow.touch_points.add(make.new(theirs.id))
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.touch_points.add(make.new(mine.id, previous_id=foreign.id))
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.touch_points.add(make.new(mine.id, previous_id=foreign.id + 1000))


async def _completed_with_follow_up(
    storage: Storage, make: Make, portal_id: int
) -> tuple[int, int]:
    async with storage.unit_of_work() as uow:
        first = await uow.touch_points.add(make.new(portal_id))
        done = await uow.touch_points.update(first.complete("talked", now=NOW))
        follow = await uow.touch_points.add(make.new(portal_id, previous_id=first.id))
        await uow.touch_points.update(done.link_follow_up(follow.id, now=NOW))
    return first.id, follow.id


async def test_a_chain_reads_oldest_first_from_any_of_its_members(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    first_id, second_id = await _completed_with_follow_up(storage, make, portal.id)
    async with storage.unit_of_work() as uow:
        second = await uow.touch_points.get_for_update(portal.id, second_id)
        assert second is not None
        done = await uow.touch_points.update(second.complete("again", now=NOW + DAY))
        third = await uow.touch_points.add(
            make.new(portal.id, previous_id=second_id, created_at=NOW + DAY)
        )
        await uow.touch_points.update(done.link_follow_up(third.id, now=NOW + DAY))
        lonely = await uow.touch_points.add(make.new(portal.id))
    async with storage.unit_of_work() as uow:
        for member in (first_id, second_id, third.id):
            chain = await uow.touch_points.chain(portal.id, member)
            assert [tp.id for tp in chain] == [first_id, second_id, third.id]
        assert [tp.id for tp in await uow.touch_points.chain(portal.id, lonely.id)] == [lonely.id]
        assert await uow.touch_points.chain(portal.id, 9999) == []
        first = await uow.touch_points.get(portal.id, first_id)
    assert first is not None
    assert (first.next_id, first.status, first.result_note) == (second_id, Status.DONE, "talked")


async def test_a_chain_never_forks(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    first_id, _ = await _completed_with_follow_up(storage, make, portal.id)
    with pytest.raises(ChainError):
        async with storage.unit_of_work() as uow:
            await uow.touch_points.add(make.new(portal.id, previous_id=first_id))


async def test_an_update_bumps_the_version_and_a_stale_one_is_refused(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        tp = await uow.touch_points.add(make.new(portal.id))
    moved = tp.reschedule(NOW + 3 * DAY, now=NOW + timedelta(minutes=1))
    async with storage.unit_of_work() as uow:
        stored = await uow.touch_points.update(moved)
    assert stored == attrs.evolve(moved, version=2)
    with pytest.raises(ConcurrentUpdate):
        async with storage.unit_of_work() as uow:
            await uow.touch_points.update(tp.reassign(99, now=NOW))
    async with storage.unit_of_work() as uow:
        assert await uow.touch_points.get(portal.id, tp.id) == stored


async def test_updating_a_touch_point_that_is_not_stored_is_an_invalid_reference(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        tp = await uow.touch_points.add(make.new(portal.id))
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.touch_points.update(attrs.evolve(tp, id=tp.id + 100))
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.touch_points.update(attrs.evolve(tp, portal_id=other.id))


async def test_a_chain_link_to_another_portal_is_refused_on_update(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        tp = await uow.touch_points.add(make.new(portal.id))
        foreign = await uow.touch_points.add(make.new(other.id))
    done = tp.complete("ok", now=NOW)
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.touch_points.update(attrs.evolve(done, next_id=foreign.id))


async def test_the_board_filters_and_orders_by_deadline_then_id(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    lead = OwnerRef(OwnerType.LEAD, 3)
    async with storage.unit_of_work() as uow:
        add = uow.touch_points.add
        late = await add(make.new(portal.id, deadline=NOW + 3 * DAY, responsible_id=1))
        early_b = await add(make.new(portal.id, deadline=NOW + DAY, responsible_id=2))
        early_a = await add(make.new(portal.id, deadline=NOW + DAY, responsible_id=1))
        meeting = await add(
            make.new(portal.id, deadline=NOW + 2 * DAY, type=TouchPointType.MEETING, owner=lead)
        )
        overdue = await add(make.new(portal.id, deadline=NOW - DAY, responsible_id=1))
        cancelled = await uow.touch_points.update(
            (await add(make.new(portal.id, deadline=NOW, responsible_id=1))).cancel(now=NOW)
        )
    async with storage.unit_of_work() as uow:

        async def board(**query: object) -> list[int]:
            found = await uow.touch_points.board(portal.id, BoardQuery(**query))  # type: ignore[arg-type]
            return [tp.id for tp in found]

        assert await board() == [overdue.id, early_b.id, early_a.id, meeting.id, late.id]
        assert await board(responsible_ids=frozenset({1})) == [overdue.id, early_a.id, late.id]
        assert await board(responsible_ids=frozenset()) == []
        assert await board(deadline_from=NOW, deadline_before=NOW + 3 * DAY) == [
            early_b.id,
            early_a.id,
            meeting.id,
        ]
        assert await board(owner_type=OwnerType.LEAD) == [meeting.id]
        assert await board(type=TouchPointType.MEETING) == [meeting.id]
        assert await board(statuses=frozenset({Status.CANCELLED})) == [cancelled.id]
        assert await board(statuses=frozenset({Status.CANCELLED, Status.OPEN}), limit=2) == [
            overdue.id,
            cancelled.id,
        ]
        assert await board(statuses=frozenset()) == []
        assert await board(limit=0) == []


async def test_the_records_tab_lists_one_record_newest_deadline_first(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    deal = OwnerRef(OwnerType.DEAL, 5)
    async with storage.unit_of_work() as uow:
        old = await uow.touch_points.add(make.new(portal.id, owner=deal, deadline=NOW))
        new = await uow.touch_points.add(make.new(portal.id, owner=deal, deadline=NOW + DAY))
        await uow.touch_points.add(make.new(portal.id, owner=OwnerRef(OwnerType.LEAD, 5)))
        await uow.touch_points.add(make.new(portal.id, owner=OwnerRef(OwnerType.DEAL, 6)))
    async with storage.unit_of_work() as uow:
        assert [tp.id for tp in await uow.touch_points.for_owner(portal.id, deal)] == [
            new.id,
            old.id,
        ]


async def test_open_touch_points_page_in_id_order(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        ids = [(await uow.touch_points.add(make.new(portal.id))).id for _ in range(5)]
        closed = await uow.touch_points.get(portal.id, ids[1])
        assert closed is not None
        await uow.touch_points.update(closed.cancel(now=NOW))
    async with storage.unit_of_work() as uow:
        first = await uow.touch_points.open_page(portal.id, after_id=0, limit=2)
        rest = await uow.touch_points.open_page(portal.id, after_id=first[-1].id, limit=10)
    assert [tp.id for tp in first + rest] == [ids[0], ids[2], ids[3], ids[4]]


async def test_by_activities_finds_the_stored_ones(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        a = await uow.touch_points.add(make.new(portal.id, activity_id=11))
        b = await uow.touch_points.add(make.new(portal.id, activity_id=12))
    async with storage.unit_of_work() as uow:
        found = await uow.touch_points.by_activities(portal.id, [12, 11, 13])
        assert await uow.touch_points.by_activities(portal.id, []) == []
    assert [tp.id for tp in found] == [a.id, b.id]


async def test_in_period_finds_what_was_created_due_or_completed_then(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    start, end = NOW + 10 * DAY, NOW + 11 * DAY
    async with storage.unit_of_work() as uow:
        created = await uow.touch_points.add(
            make.new(portal.id, created_at=start, deadline=NOW + 20 * DAY)
        )
        due = await uow.touch_points.add(make.new(portal.id, deadline=start + timedelta(hours=1)))
        completed = await uow.touch_points.add(make.new(portal.id, deadline=NOW + 30 * DAY))
        await uow.touch_points.update(completed.complete("done", now=end - timedelta(seconds=1)))
        await uow.touch_points.add(make.new(portal.id, deadline=end))
    async with storage.unit_of_work() as uow:
        found = await uow.touch_points.in_period(portal.id, start, end)
    assert [tp.id for tp in found] == [due.id, created.id, completed.id]


async def test_all_lists_every_touch_point_of_the_portal_in_id_order(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        ids = [(await uow.touch_points.add(make.new(portal.id))).id for _ in range(3)]
        tp = await uow.touch_points.get(portal.id, ids[0])
        assert tp is not None
        await uow.touch_points.update(tp.mark_orphaned(now=NOW))
    async with storage.unit_of_work() as uow:
        assert [tp.id for tp in await uow.touch_points.all(portal.id)] == ids


# ------------------------------------------------------------------ bad input


async def test_naive_datetimes_and_negative_limits_are_refused(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    naive = NOW.replace(tzinfo=None)
    async with storage.unit_of_work() as uow:
        with pytest.raises(InvalidValue):
            await uow.touch_points.board(portal.id, BoardQuery(deadline_from=naive))
        with pytest.raises(InvalidValue):
            await uow.touch_points.board(portal.id, BoardQuery(limit=-1))
        with pytest.raises(InvalidValue):
            await uow.touch_points.open_page(portal.id, after_id=0, limit=-1)
        with pytest.raises(InvalidValue):
            await uow.touch_points.in_period(portal.id, naive, NOW)
        with pytest.raises(InvalidValue):
            await uow.feedback.count_since(portal.id, 1, naive)
        with pytest.raises(InvalidValue):
            await uow.digest_log.claim(portal.id, 1, TODAY, now=naive, stale_after_s=1)
        with pytest.raises(InvalidValue):
            await uow.settings.put(portal.id, PortalSettings.defaults(), now=naive)


@pytest.mark.parametrize(
    ("message", "email"),
    [("", None), ("x" * 5001, None), ("nul \x00 inside", None), ("fine", "")],
)
async def test_feedback_outside_the_limits_is_refused(
    storage: Storage, make: Make, message: str, email: str | None
) -> None:
    portal = await make.portal(storage)
    with pytest.raises(InvalidValue):
        async with storage.unit_of_work() as uow:
            await uow.feedback.add(
                Feedback(
                    portal_id=portal.id, user_id=1, message=message, email=email, created_at=NOW
                )
            )
    async with storage.unit_of_work() as uow:
        assert await uow.feedback.for_portal(portal.id) == []


async def test_a_portal_with_an_empty_member_id_is_refused(storage: Storage, make: Make) -> None:
    with pytest.raises(InvalidValue):
        async with storage.unit_of_work() as uow:
            await uow.portals.create(make.install(member_id=""), now=NOW)


# ------------------------------------------------------------------ transactions


async def test_a_failed_unit_of_work_leaves_nothing_behind(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        tp = await uow.touch_points.add(make.new(portal.id, activity_id=1))

    async def write_then_fail() -> None:
        async with storage.unit_of_work() as uow:
            await uow.portals.create(make.install("half"), now=NOW)
            await uow.touch_points.add(make.new(portal.id, activity_id=2))
            await uow.touch_points.update(tp.cancel(now=NOW))
            await uow.settings.put(portal.id, PortalSettings.defaults(), now=NOW)
            await uow.portals.delete(portal.id)
            raise Boom

    with pytest.raises(Boom):
        await write_then_fail()
    async with storage.unit_of_work() as uow:
        assert await uow.portals.get_by_member_id("half") is None
        assert await uow.touch_points.all(portal.id) == [tp]
        assert await uow.settings.get(portal.id) is None


async def test_a_storage_error_mid_way_rolls_back_the_earlier_writes(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)

    async def write_twice() -> None:
        async with storage.unit_of_work() as uow:
            await uow.touch_points.add(make.new(portal.id, activity_id=1))
            await uow.feedback.add(
                Feedback(portal_id=portal.id, user_id=1, message="m", email=None, created_at=NOW)
            )
            await uow.touch_points.add(make.new(portal.id, activity_id=1))

    with pytest.raises(DuplicateActivity):
        await write_twice()
    async with storage.unit_of_work() as uow:
        assert await uow.touch_points.all(portal.id) == []
        assert await uow.feedback.for_portal(portal.id) == []


async def test_a_unit_of_work_reads_its_own_writes(storage: Storage, make: Make) -> None:
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.create(make.install(), now=NOW)
        tp = await uow.touch_points.add(make.new(portal.id))
        assert await uow.touch_points.get(portal.id, tp.id) == tp
        await uow.portals.delete(portal.id)
        assert await uow.touch_points.get(portal.id, tp.id) is None


async def test_two_concurrent_updates_of_one_touch_point_cannot_both_win(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        tp = await uow.touch_points.add(make.new(portal.id))
    started = asyncio.Event()

    async def move(responsible_id: int) -> str:
        try:
            async with storage.unit_of_work() as uow:
                await uow.touch_points.update(tp.reassign(responsible_id, now=NOW))
                started.set()
                await asyncio.sleep(0.05)  # hold the row while the other one tries
        except ConcurrentUpdate:
            return "lost"
        return "won"

    async def second() -> str:
        await started.wait()
        return await move(21)

    results = await asyncio.gather(move(20), second())
    assert sorted(results) == ["lost", "won"]
    async with storage.unit_of_work() as uow:
        stored = await uow.touch_points.get(portal.id, tp.id)
    assert stored is not None
    assert (stored.responsible_id, stored.version) == (20, 2)


async def test_get_for_update_makes_a_second_locker_wait_for_the_first(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        tp = await uow.touch_points.add(make.new(portal.id))
    order: list[str] = []
    locked = asyncio.Event()

    async def first() -> None:
        async with storage.unit_of_work() as uow:
            current = await uow.touch_points.get_for_update(portal.id, tp.id)
            assert current is not None
            locked.set()
            await asyncio.sleep(0.05)
            await uow.touch_points.update(current.reschedule(NOW + 5 * DAY, now=NOW))
            order.append("first")

    async def second() -> None:
        await locked.wait()
        async with storage.unit_of_work() as uow:
            current = await uow.touch_points.get_for_update(portal.id, tp.id)
            assert current is not None
            order.append(f"second saw v{current.version}")

    await asyncio.gather(first(), second())
    assert order == ["first", "second saw v2"]


# ------------------------------------------------------------------ digest log


async def test_a_digest_is_claimed_once_per_user_and_day(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        assert await uow.digest_log.claim(portal.id, 7, TODAY, now=NOW, stale_after_s=600)
        assert not await uow.digest_log.claim(portal.id, 7, TODAY, now=NOW, stale_after_s=600)
        assert await uow.digest_log.claim(portal.id, 8, TODAY, now=NOW, stale_after_s=600)
        assert await uow.digest_log.claim(portal.id, 7, TODAY + DAY, now=NOW, stale_after_s=600)
        entry = await uow.digest_log.get(portal.id, 7, TODAY)
    assert entry is not None
    assert (entry.state, entry.claimed_at, entry.attempts) == (DigestState.PENDING, NOW, 1)


async def test_a_failed_or_stale_digest_may_be_claimed_again_but_a_sent_one_never(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    later = NOW + timedelta(minutes=5)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        await log.claim(portal.id, 1, TODAY, now=NOW, stale_after_s=600)
        await log.mark(portal.id, 1, TODAY, DigestState.FAILED)
        assert await log.claim(portal.id, 1, TODAY, now=later, stale_after_s=600)
        retried = await log.get(portal.id, 1, TODAY)

        await log.claim(portal.id, 2, TODAY, now=NOW, stale_after_s=600)
        assert not await log.claim(portal.id, 2, TODAY, now=later, stale_after_s=600)
        assert await log.claim(portal.id, 2, TODAY, now=later, stale_after_s=60)

        await log.claim(portal.id, 3, TODAY, now=NOW, stale_after_s=600)
        await log.mark(portal.id, 3, TODAY, DigestState.SENT)
        assert not await log.claim(portal.id, 3, TODAY, now=NOW + DAY, stale_after_s=0)
        sent = await log.get(portal.id, 3, TODAY)
        await log.mark(portal.id, 4, TODAY, DigestState.SENT)
        assert await log.get(portal.id, 4, TODAY) is None
    assert retried is not None
    assert (retried.state, retried.claimed_at, retried.attempts) == (DigestState.PENDING, later, 2)
    assert sent is not None
    assert sent.state is DigestState.SENT


async def test_claiming_a_digest_of_an_unknown_portal_is_an_invalid_reference(
    storage: Storage,
) -> None:
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.digest_log.claim(404, 1, TODAY, now=NOW, stale_after_s=1)


async def test_concurrent_digest_claimers_produce_exactly_one_winner(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)

    async def claim() -> bool:
        async with storage.unit_of_work() as uow:
            won = await uow.digest_log.claim(portal.id, 7, TODAY, now=NOW, stale_after_s=600)
            await asyncio.sleep(0.01)  # keep the transaction open while the others arrive
            return won

    results = await asyncio.gather(*(claim() for _ in range(6)))
    assert results.count(True) == 1


# ------------------------------------------------------------------ feedback


async def test_feedback_is_numbered_counted_and_listed(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)

    def note(portal_id: int, user_id: int, minutes: int) -> Feedback:
        return Feedback(
            portal_id=portal_id,
            user_id=user_id,
            message=f"message at {minutes}",
            email="user@example.com" if user_id == 1 else None,
            created_at=NOW + timedelta(minutes=minutes),
        )

    async with storage.unit_of_work() as uow:
        first = await uow.feedback.add(note(portal.id, 1, 0))
        second = await uow.feedback.add(note(portal.id, 1, 10))
        third = await uow.feedback.add(note(other.id, 2, 5))
        await uow.feedback.add(note(portal.id, 2, 20))
    assert first.id is not None
    assert len({first.id, second.id, third.id}) == 3
    assert attrs.evolve(first, id=None) == note(portal.id, 1, 0)
    async with storage.unit_of_work() as uow:
        assert await uow.feedback.count_since(portal.id, 1, NOW) == 2
        assert await uow.feedback.count_since(portal.id, 1, NOW + timedelta(minutes=1)) == 1
        assert [f.message for f in await uow.feedback.for_portal(portal.id)] == [
            "message at 0",
            "message at 10",
            "message at 20",
        ]
        everything = await uow.feedback.since(None)
        recent = await uow.feedback.since(NOW + timedelta(minutes=5))
    assert [f.created_at for f in everything] == sorted(f.created_at for f in everything)
    assert len(everything) == 4
    assert [(f.portal_id, f.message) for f in recent] == [
        (other.id, "message at 5"),
        (portal.id, "message at 10"),
        (portal.id, "message at 20"),
    ]


async def test_feedback_for_an_unknown_portal_is_an_invalid_reference(storage: Storage) -> None:
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.feedback.add(
                Feedback(portal_id=404, user_id=1, message="hi", email=None, created_at=NOW)
            )


async def test_ping_succeeds_on_a_healthy_storage(storage: Storage) -> None:
    assert await storage.ping() is None
