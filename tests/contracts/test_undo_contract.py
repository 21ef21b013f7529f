"""Undo records, hand-overs and the list view's queries: one contract for both storage adapters."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import pytest

from tests.contracts.conftest import NOW, Make
from touchpoints.domain.handover import Handover
from touchpoints.domain.listing import ListPosition
from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPointType
from touchpoints.domain.undo import UNDO_TTL, UndoItem, UndoRecord, hash_token
from touchpoints.ports.storage import ListQuery, Storage


def record(portal_id: int, token: str, *, user_id: int = 7, at: datetime = NOW) -> UndoRecord:
    return UndoRecord(
        portal_id=portal_id,
        user_id=user_id,
        token_hash=hash_token(token),
        created_at=at,
        expires_at=at + UNDO_TTL,
        items=(
            UndoItem(
                touch_point_id=3,
                before_deadline=NOW + timedelta(days=1),
                before_responsible_id=7,
                after_deadline=NOW + timedelta(days=2),
                after_responsible_id=8,
            ),
            UndoItem(
                touch_point_id=4,
                before_deadline=NOW - timedelta(hours=5),
                before_responsible_id=7,
                after_deadline=NOW + timedelta(hours=1),
                after_responsible_id=7,
            ),
        ),
    )


# ------------------------------------------------------------------ undo records


async def test_an_undo_record_reads_back_by_its_hash_within_its_portal_only(
    storage: Storage, make: Make
) -> None:
    first = await make.portal(storage)
    second = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        stored = await uow.undo.add(record(first.id, "secret-token"))
    assert stored.id is not None
    async with storage.unit_of_work() as uow:
        found = await uow.undo.get(first.id, hash_token("secret-token"))
        elsewhere = await uow.undo.get(second.id, hash_token("secret-token"))
        unknown = await uow.undo.get(first.id, hash_token("another-token"))
    assert found == stored
    assert (elsewhere, unknown) == (None, None)


async def test_an_undo_record_is_used_once_even_by_racing_callers(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        stored = await uow.undo.add(record(portal.id, "token"))
    assert stored.id is not None
    record_id = stored.id

    async def use() -> bool:
        async with storage.unit_of_work() as uow:
            return await uow.undo.use(portal.id, record_id, now=NOW + timedelta(minutes=1))

    results = await asyncio.gather(use(), use(), use())
    assert sorted(results) == [False, False, True]
    async with storage.unit_of_work() as uow:
        found = await uow.undo.get(portal.id, hash_token("token"))
    assert found is not None
    assert found.used_at == NOW + timedelta(minutes=1)


async def test_another_portal_cannot_use_a_record(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        stored = await uow.undo.add(record(portal.id, "token"))
    assert stored.id is not None
    async with storage.unit_of_work() as uow:
        assert not await uow.undo.use(other.id, stored.id, now=NOW)
        assert await uow.undo.use(portal.id, stored.id, now=NOW)


async def test_records_expired_a_day_ago_are_forgotten_when_a_new_one_is_added(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        await uow.undo.add(record(portal.id, "old"))
        await uow.undo.add(record(portal.id, "recent", at=NOW + timedelta(hours=25)))
    async with storage.unit_of_work() as uow:
        await uow.undo.add(record(portal.id, "new", at=NOW + timedelta(days=2)))
    async with storage.unit_of_work() as uow:
        assert await uow.undo.get(portal.id, hash_token("old")) is None
        assert await uow.undo.get(portal.id, hash_token("recent")) is not None
        assert await uow.undo.get(portal.id, hash_token("new")) is not None


async def test_deleting_the_portal_deletes_its_undo_records(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        await uow.undo.add(record(portal.id, "token"))
    async with storage.unit_of_work() as uow:
        assert await uow.portals.delete(portal.id)
    async with storage.unit_of_work() as uow:
        assert await uow.undo.get(portal.id, hash_token("token")) is None


async def test_an_undo_record_rolls_back_with_its_unit_of_work(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)

    async def fail_after_adding() -> None:
        async with storage.unit_of_work() as uow:
            await uow.undo.add(record(portal.id, "token"))
            raise RuntimeError("the bulk action failed after all")

    with pytest.raises(RuntimeError):
        await fail_after_adding()
    async with storage.unit_of_work() as uow:
        assert await uow.undo.get(portal.id, hash_token("token")) is None


# ------------------------------------------------------------------ list pages and ids


async def test_pages_follow_deadline_then_id_and_continue_after_a_position(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)
    same = NOW + timedelta(days=1)
    async with storage.unit_of_work() as uow:
        added = [
            await uow.touch_points.add(make.new(portal.id, deadline=deadline))
            for deadline in (same, NOW + timedelta(hours=2), same, NOW + timedelta(days=3))
        ]
        await uow.touch_points.add(make.new(other.id, deadline=NOW))
    expected = sorted(added, key=lambda tp: (tp.deadline, tp.id))
    seen = []
    after = None
    async with storage.unit_of_work() as uow:
        while True:
            page = await uow.touch_points.page(portal.id, ListQuery(after=after, limit=2))
            if not page:
                break
            seen.extend(page)
            after = ListPosition(deadline=page[-1].deadline, id=page[-1].id)
    assert seen == expected


async def test_pages_filter_by_status_responsible_owner_type_type_and_deadline(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        mine = await uow.touch_points.add(make.new(portal.id, responsible_id=5))
        theirs = await uow.touch_points.add(make.new(portal.id, responsible_id=6))
        lead = await uow.touch_points.add(
            make.new(portal.id, owner=OwnerRef(OwnerType.LEAD, 3), type=TouchPointType.EMAIL)
        )
        late = await uow.touch_points.add(make.new(portal.id, deadline=NOW + timedelta(days=9)))
        done = await uow.touch_points.update(theirs.cancel(now=NOW))

        async def ids(query: ListQuery) -> list[int]:
            return [tp.id for tp in await uow.touch_points.page(portal.id, query)]

        assert await ids(ListQuery(responsible_ids=frozenset({5}))) == [mine.id]
        assert await ids(ListQuery(statuses=frozenset({Status.CANCELLED}))) == [done.id]
        assert theirs.id not in await ids(ListQuery(statuses=frozenset({Status.OPEN})))
        assert await ids(ListQuery(owner_type=OwnerType.LEAD)) == [lead.id]
        assert await ids(ListQuery(type=TouchPointType.EMAIL)) == [lead.id]
        assert await ids(ListQuery(deadline_from=NOW + timedelta(days=5))) == [late.id]
        assert late.id not in await ids(ListQuery(deadline_before=NOW + timedelta(days=5)))
        assert await ids(ListQuery(responsible_ids=frozenset())) == []
        assert await ids(ListQuery(statuses=frozenset())) == []


async def test_by_ids_reads_the_portals_own_rows_only(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        mine = [await uow.touch_points.add(make.new(portal.id)) for _ in range(3)]
        foreign = await uow.touch_points.add(make.new(other.id))
        found = await uow.touch_points.by_ids(
            portal.id, [mine[2].id, foreign.id, mine[0].id, 10**15, mine[0].id]
        )
        assert await uow.touch_points.by_ids(portal.id, []) == []
    assert found == [mine[0], mine[2]]


# ------------------------------------------------------------------ hand-overs


def handover(portal_id: int, *, first: date = date(2026, 12, 14), days: int = 5) -> Handover:
    return Handover(
        portal_id=portal_id,
        from_user_id=7,
        to_user_id=8,
        first_day=first,
        last_day=first + timedelta(days=days - 1),
        created_by=1,
        created_at=NOW,
        touch_point_ids=(5, 3, 9),
    )


async def test_hand_overs_read_back_within_their_portal_latest_first(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        early = await uow.handovers.add(handover(portal.id, first=date(2026, 12, 1)))
        late = await uow.handovers.add(handover(portal.id, first=date(2026, 12, 14)))
        await uow.handovers.add(handover(other.id))
    assert early.id is not None
    assert late.id is not None
    async with storage.unit_of_work() as uow:
        assert await uow.handovers.get(portal.id, late.id) == late
        assert await uow.handovers.get(other.id, late.id) is None
        assert await uow.handovers.for_portal(portal.id, open_only=True) == [late, early]
        assert late.touch_point_ids == (5, 3, 9)


async def test_a_hand_over_is_closed_once_and_then_no_longer_open(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        stored = await uow.handovers.add(handover(portal.id))
    assert stored.id is not None
    handover_id = stored.id

    async def close() -> bool:
        async with storage.unit_of_work() as uow:
            return await uow.handovers.mark_returned(portal.id, handover_id, now=NOW)

    assert sorted(await asyncio.gather(close(), close())) == [False, True]
    async with storage.unit_of_work() as uow:
        assert await uow.handovers.for_portal(portal.id, open_only=True) == []
        (closed,) = await uow.handovers.for_portal(portal.id, open_only=False)
    assert closed.returned_at == NOW


async def test_a_digest_reads_the_open_hand_overs_and_those_given_back_since_an_instant(
    storage: Storage, make: Make
) -> None:
    portal, other = await make.portal(storage), await make.portal(storage)
    async with storage.unit_of_work() as uow:
        still_open = await uow.handovers.add(handover(portal.id, first=date(2026, 12, 14)))
        old = await uow.handovers.add(handover(portal.id, first=date(2026, 11, 2)))
        recent = await uow.handovers.add(handover(portal.id, first=date(2026, 12, 1)))
        await uow.handovers.add(handover(other.id))
    assert old.id is not None
    assert recent.id is not None
    async with storage.unit_of_work() as uow:
        await uow.handovers.mark_returned(portal.id, old.id, now=NOW - timedelta(days=3))
        await uow.handovers.mark_returned(portal.id, recent.id, now=NOW)
    async with storage.unit_of_work() as uow:
        found = await uow.handovers.for_digest(portal.id, returned_since=NOW - timedelta(hours=1))
    assert [h.id for h in found] == [still_open.id, recent.id]
    assert found[1].returned_at == NOW


async def test_deleting_the_portal_deletes_its_hand_overs(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        stored = await uow.handovers.add(handover(portal.id))
        assert await uow.portals.delete(portal.id)
    assert stored.id is not None
    async with storage.unit_of_work() as uow:
        assert await uow.handovers.get(portal.id, stored.id) is None
