"""The ours-event sync writes a batch in one unit of work: ``update_synced`` and
``ActivitySync`` against MemoryStorage and PostgresStorage, and the batch's round trips."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import attrs
import pytest

from tests.contracts.conftest import NOW, Make
from tests.postgres import empty_database
from tests.roundtrips import counting
from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.model import NewTouchPoint, OwnerType, Status, TouchPoint, TouchPointType
from touchpoints.domain.portal import Portal
from touchpoints.ports.storage import Storage
from touchpoints.services.event_sync import ActivitySync

DUE = NOW + timedelta(days=1)
SELLER, OTHER = 2, 3


# ------------------------------------------------------------------ update_synced


async def test_synced_fields_are_stored_in_one_call_and_the_rest_kept(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        first = await uow.touch_points.add(make.new(portal.id))
        second = await uow.touch_points.add(make.new(portal.id))
    later = DUE + timedelta(days=3)
    done = attrs.evolve(first, status=Status.DONE, completed_at=NOW, updated_at=NOW)
    moved = attrs.evolve(
        second, deadline=later, responsible_id=OTHER, updated_at=NOW, result_note="not stored"
    )
    async with storage.unit_of_work() as uow:
        stored = await uow.touch_points.update_synced(portal.id, [moved, done])
    async with storage.unit_of_work() as uow:
        reread = await uow.touch_points.by_ids(portal.id, [first.id, second.id])
    assert stored == reread
    assert [tp.id for tp in stored] == [first.id, second.id]
    assert stored[0] == attrs.evolve(done, version=first.version + 1)
    # Only what the CRM decides is written: the note stays as stored.
    assert stored[1] == attrs.evolve(moved, result_note=None, version=second.version + 1)


async def test_a_touch_point_changed_since_it_was_read_is_left_out(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    other = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        raced = await uow.touch_points.add(make.new(portal.id))
        kept = await uow.touch_points.add(make.new(portal.id))
        foreign = await uow.touch_points.add(make.new(other.id))
    async with storage.unit_of_work() as uow:
        newer = await uow.touch_points.update(attrs.evolve(raced, responsible_id=OTHER))
    stale = attrs.evolve(raced, status=Status.DONE, completed_at=NOW, updated_at=NOW)
    async with storage.unit_of_work() as uow:
        stored = await uow.touch_points.update_synced(
            portal.id,
            [stale, attrs.evolve(kept, deadline=DUE + timedelta(hours=1)), foreign],
        )
        assert await uow.touch_points.update_synced(portal.id, []) == []
    assert [tp.id for tp in stored] == [kept.id]
    async with storage.unit_of_work() as uow:
        assert await uow.touch_points.get(portal.id, raced.id) == newer
        assert await uow.touch_points.get(other.id, foreign.id) == foreign


# ------------------------------------------------------------------ the sync on each storage


@attrs.define
class Batch:
    storage: Storage
    crm: MemoryCrm
    sync: ActivitySync
    portal: Portal

    async def touch_points(self, count: int) -> list[TouchPoint]:
        deal = self.crm.add_record(self.portal.member_id, OwnerType.DEAL, "Fleet")
        made = []
        async with self.storage.unit_of_work() as uow:
            for _ in range(count):
                activity_id = self.crm.add_activity(
                    self.portal.member_id, deal, deadline=DUE, responsible_id=SELLER
                )
                made.append(
                    await uow.touch_points.add(
                        NewTouchPoint(
                            portal_id=self.portal.id,
                            activity_id=activity_id,
                            owner=deal,
                            type=TouchPointType.CALL,
                            deadline=DUE,
                            responsible_id=SELLER,
                            created_by=SELLER,
                            created_at=NOW,
                        )
                    )
                )
        return made

    async def events(self, touch_points: list[TouchPoint]) -> list[str]:
        futures = []
        for tp in touch_points:
            future = await self.sync.activity_changed(self.portal, tp.activity_id)
            assert future is not None
            futures.append(future)
        return list(await asyncio.gather(*futures))

    async def stored(self, touch_points: list[TouchPoint]) -> list[TouchPoint]:
        async with self.storage.unit_of_work() as uow:
            return await uow.touch_points.by_ids(self.portal.id, [tp.id for tp in touch_points])


async def _batch(storage: Storage) -> Batch:
    clock = FixedClock(NOW)
    crm = MemoryCrm(clock=clock)
    member_id = crm.add_portal()
    crm.add_user(member_id, 1, name="Admin", admin=True)
    for user in (SELLER, OTHER):
        crm.add_user(member_id, user, name=f"User {user}")
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.create(crm.install(member_id, 1), now=NOW)
    # A gathering window wide enough that a test's events land in one batch.
    sync = ActivitySync(storage, MemoryCrmConnector(crm), clock, gather_window_s=0.05)
    return Batch(storage, crm, sync, portal)


@pytest.fixture
async def batch(storage: Storage) -> AsyncIterator[Batch]:
    made = await _batch(storage)
    yield made
    await made.sync.close()


async def test_a_batch_converges_every_change_deletion_and_completion_at_once(
    batch: Batch,
) -> None:
    moved, reassigned, completed, deleted, untouched = await batch.touch_points(5)
    member = batch.portal.member_id
    later = DUE + timedelta(days=2)
    batch.crm.change_activity(member, moved.activity_id, deadline=later)
    batch.crm.change_activity(member, reassigned.activity_id, responsible_id=OTHER)
    batch.crm.change_activity(member, completed.activity_id, completed=True)
    batch.crm.remove_activity(member, deleted.activity_id)
    every = [moved, reassigned, completed, deleted, untouched]

    outcomes = await batch.events(every)

    assert outcomes == ["synced", "synced", "synced", "orphaned", "unchanged"]
    assert batch.crm.calls["get_activities"] == 1
    after = {tp.id: tp for tp in await batch.stored(every)}
    assert after[moved.id].deadline == later
    assert after[reassigned.id].responsible_id == OTHER
    assert (after[completed.id].status, after[completed.id].completed_at) == (Status.DONE, NOW)
    assert after[deleted.id].status is Status.ORPHANED
    assert after[untouched.id] == untouched
    # The same events again change nothing (idempotent).
    assert await batch.events(every) == ["unchanged"] * 5
    assert {tp.id: tp for tp in await batch.stored(every)} == after


@pytest.mark.postgres
async def test_a_batch_of_events_costs_the_same_round_trips_as_one(
    pg_dsn: str, pg_cipher: TokenCipher
) -> None:
    async with counting(pg_dsn) as wire:
        storage = await PostgresStorage.open(wire.dsn, pg_cipher, min_size=1, max_size=2)
        try:
            await empty_database(pg_dsn)
            batch = await _batch(storage)
            made = await batch.touch_points(22)
            member = batch.portal.member_id
            spent = []
            # The first batch prepares the statements on the connection.
            for group in (made[:1], made[1:2], made[2:]):
                for tp in group:
                    batch.crm.change_activity(member, tp.activity_id, completed=True)
                # The lookups of the events themselves are the handler's (one read each).
                futures = [
                    await batch.sync.activity_changed(batch.portal, tp.activity_id, ours=True)
                    for tp in group
                ]
                wire.reset()
                assert await asyncio.gather(*futures) == ["synced"] * len(group)
                spent.append(wire.reset())
            await batch.sync.close()
        finally:
            await storage.close()
    # BEGIN, the rows, one UPDATE for them all, COMMIT: whether 1 or 20 activities.
    assert spent[1:] == [4, 4]
