"""The digest log's bulk claim and mark: one statement per portal, same guarantees as one."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from tests.contracts.conftest import NOW, Make
from touchpoints.domain.portal import PortalStatus
from touchpoints.ports.digests import DigestState, PortalDay
from touchpoints.ports.storage import InvalidReference, Storage

TODAY = date(2026, 3, 2)
LATER = NOW + timedelta(minutes=5)


async def test_a_bulk_claim_wins_each_users_digest_once_per_day(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    day = PortalDay(portal.id, TODAY)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        first = await log.claim_many(day, [3, 1, 2], now=NOW, stale_after_s=600)
        again = await log.claim_many(day, [4, 2, 1, 4], now=NOW, stale_after_s=600)
        tomorrow = await log.claim_many(
            PortalDay(portal.id, TODAY + timedelta(days=1)), [1], now=NOW, stale_after_s=600
        )
        entry = await log.get(portal.id, 4, TODAY)
    assert (first, again, tomorrow) == ([1, 2, 3], [4], [1])
    assert entry is not None
    assert (entry.state, entry.claimed_at, entry.attempts) == (DigestState.PENDING, NOW, 1)


async def test_a_bulk_claim_takes_over_failed_and_stale_claims_but_never_a_sent_one(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    day = PortalDay(portal.id, TODAY)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        await log.claim_many(day, [1, 2, 3], now=NOW, stale_after_s=600)
        await log.mark_many(day, {1: DigestState.FAILED, 3: DigestState.SENT}, max_attempts=30)
        fresh = await log.claim_many(day, [1, 2, 3], now=LATER, stale_after_s=600)
        stale = await log.claim_many(day, [1, 2, 3], now=LATER, stale_after_s=60)
        retried = await log.get(portal.id, 1, TODAY)
        sent = await log.get(portal.id, 3, TODAY)
    assert (fresh, stale) == ([1], [2])
    assert retried is not None
    assert (retried.state, retried.claimed_at, retried.attempts) == (DigestState.PENDING, LATER, 2)
    assert sent is not None
    assert sent.state is DigestState.SENT


async def test_a_bulk_mark_leaves_a_failure_pending_once_the_user_ran_out_of_attempts(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    day = PortalDay(portal.id, TODAY)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        await log.claim_many(day, [1, 2, 3], now=NOW, stale_after_s=600)
        await log.mark_many(day, {2: DigestState.FAILED}, max_attempts=5)
        await log.claim_many(day, [2], now=LATER, stale_after_s=600)
        backed_off = await log.mark_many(
            day,
            {
                1: DigestState.SENT,
                2: DigestState.FAILED,
                3: DigestState.FAILED,
                9: DigestState.SENT,
            },
            max_attempts=2,
        )
        states = [await log.get(portal.id, user, TODAY) for user in (1, 2, 3, 9)]
    assert backed_off == 1
    assert [None if e is None else (e.state, e.attempts) for e in states] == [
        (DigestState.SENT, 1),
        (DigestState.PENDING, 2),
        (DigestState.FAILED, 1),
        None,
    ]


async def test_bulk_marking_nothing_and_claiming_nobody_change_nothing(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    day = PortalDay(portal.id, TODAY)
    async with storage.unit_of_work() as uow:
        claimed = await uow.digest_log.claim_many(day, [], now=NOW, stale_after_s=1)
        marked = await uow.digest_log.mark_many(day, {}, max_attempts=1)
        entry = await uow.digest_log.get(portal.id, 1, TODAY)
    assert (claimed, marked, entry) == ([], 0, None)


async def test_a_bulk_claim_for_an_unknown_portal_is_an_invalid_reference(
    storage: Storage,
) -> None:
    with pytest.raises(InvalidReference):
        async with storage.unit_of_work() as uow:
            await uow.digest_log.claim_many(PortalDay(404, TODAY), [1, 2], now=NOW, stale_after_s=1)


async def test_concurrent_bulk_claims_of_overlapping_users_win_each_user_exactly_once(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    day = PortalDay(portal.id, TODAY)
    users = list(range(1, 21))

    async def claim(order: list[int]) -> list[int]:
        async with storage.unit_of_work() as uow:
            won = await uow.digest_log.claim_many(day, order, now=NOW, stale_after_s=600)
            await asyncio.sleep(0.01)  # keep the transaction open while the others arrive
            return won

    orders = [users, users[::-1], users[5:], users[::2], users, users[::-1]]
    results = await asyncio.gather(*(claim(order) for order in orders))
    won = sorted(user for result in results for user in result)
    assert won == users


# ------------------------------------------------------------------ the portals' schedule


async def test_a_portal_is_due_until_scheduled_and_again_once_its_next_digest_has_come(
    storage: Storage, make: Make
) -> None:
    first = await make.portal(storage)
    second = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        before = await uow.digest_log.due_portals(now=NOW)
        await uow.digest_log.schedule(first.id, next_at=NOW + timedelta(hours=1))
        scheduled = await uow.digest_log.due_portals(now=NOW)
        come = await uow.digest_log.due_portals(now=NOW + timedelta(hours=1))
        await uow.digest_log.schedule(first.id, next_at=None)
        cleared = await uow.digest_log.due_portals(now=NOW)
    assert before == cleared == come == [first.id, second.id]
    assert scheduled == [second.id]


async def test_a_leased_portal_is_left_to_its_runner_until_the_lease_expires_or_ends(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    until = NOW + timedelta(minutes=5)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        won = await log.lease(portal.id, now=NOW, until=until)
        lost = await log.lease(portal.id, now=NOW + timedelta(minutes=1), until=until)
        hidden = await log.due_portals(now=NOW + timedelta(minutes=1))
        expired = await log.lease(portal.id, now=until, until=until + timedelta(minutes=5))
        await log.schedule(portal.id, next_at=None)
        ended = await log.lease(portal.id, now=NOW, until=until)
    assert (won, lost, hidden, expired, ended) == (True, False, [], True, True)


async def test_a_portal_settles_only_once_every_claim_of_the_day_is_sent(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    day = PortalDay(portal.id, TODAY)
    tomorrow = NOW + timedelta(days=1)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        await log.lease(portal.id, now=NOW, until=NOW + timedelta(minutes=5))
        await log.claim_many(day, [1, 2], now=NOW, stale_after_s=600)
        await log.mark_many(day, {1: DigestState.SENT}, max_attempts=30)
        open_claim = await log.settle(day, next_at=tomorrow)
        # Not settled, but the lease ended: the next pass (any runner) retries.
        retried = await log.due_portals(now=NOW)
        await log.mark_many(day, {2: DigestState.SENT}, max_attempts=30)
        settled = await log.settle(day, next_at=tomorrow)
        skipped = await log.due_portals(now=NOW)
        nobody = await log.settle(PortalDay(portal.id, TODAY + timedelta(days=5)), next_at=tomorrow)
        due_tomorrow = await log.due_portals(now=tomorrow)
    assert (open_claim, retried, settled, skipped) == (False, [portal.id], True, [])
    assert (nobody, due_tomorrow) == (True, [portal.id])


async def test_a_portal_settled_since_it_was_listed_is_not_leased_again(
    storage: Storage, make: Make
) -> None:
    # Two runners list the portal as due; the first sends and settles it, then the second
    # asks for the lease: it must not read the portal's users again.
    portal = await make.portal(storage)
    day = PortalDay(portal.id, TODAY)
    tomorrow = NOW + timedelta(days=1)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        listed = await log.due_portals(now=NOW)
        await log.lease(portal.id, now=NOW, until=NOW + timedelta(minutes=5))
        await log.claim_many(day, [1], now=NOW, stale_after_s=600)
        await log.mark_many(day, {1: DigestState.SENT}, max_attempts=30)
        await log.settle(day, next_at=tomorrow)
        late = await log.lease(
            portal.id, now=NOW + timedelta(seconds=1), until=NOW + timedelta(minutes=5)
        )
        next_day = await log.lease(portal.id, now=tomorrow, until=tomorrow + timedelta(minutes=5))
    assert (listed, late, next_day) == ([portal.id], False, True)


async def test_portals_needing_reauthorisation_are_never_due(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        await uow.portals.set_status(portal.id, PortalStatus.NEEDS_REAUTH, now=NOW)
        due = await uow.digest_log.due_portals(now=NOW)
    assert due == []


async def test_concurrent_leases_of_one_portal_have_exactly_one_winner(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)

    async def lease() -> bool:
        async with storage.unit_of_work() as uow:
            won = await uow.digest_log.lease(portal.id, now=NOW, until=NOW + timedelta(minutes=5))
            await asyncio.sleep(0.01)  # keep the transaction open while the others arrive
            return won

    results = await asyncio.gather(*(lease() for _ in range(6)))
    assert results.count(True) == 1
