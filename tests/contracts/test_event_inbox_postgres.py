"""The event inbox on Postgres: recorded before the answer, leased, coalesced, split between processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tests.contracts.conftest import Make
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.adapters.postgres.event_inbox import PostgresEventInbox
from touchpoints.adapters.postgres.storage import PostgresStorage

pytestmark = pytest.mark.postgres

Inboxes = Callable[[int], Awaitable[list[PostgresEventInbox]]]


@pytest.fixture
async def inboxes(pg_dsn: str, pg_storage: PostgresStorage) -> AsyncIterator[Inboxes]:
    """Inboxes on the (emptied) session database, one pool each, as replicas have."""
    opened: list[PostgresEventInbox] = []

    async def open_(count: int) -> list[PostgresEventInbox]:
        made = [await PostgresEventInbox.open(pg_dsn) for _ in range(count)]
        opened.extend(made)
        return made

    yield open_
    for inbox in opened:
        await inbox.close()


async def test_a_recorded_event_is_leased_to_its_receiver_then_claimable_by_anyone(
    inboxes: Inboxes, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    receiver, other = await inboxes(2)
    entry = await receiver.record(portal.id, 42, lease_s=0.3)
    assert (entry.portal_id, entry.activity_id) == (portal.id, 42)
    assert await other.claim(limit=10, lease_s=30) == []
    await asyncio.sleep(0.4)
    assert await other.claim(limit=10, lease_s=30) == [entry]
    # Claimed: leased to the claimer now.
    assert await receiver.claim(limit=10, lease_s=30) == []


async def test_events_for_one_activity_coalesce_and_a_newer_one_outlives_an_older_sync(
    inboxes: Inboxes, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    (inbox,) = await inboxes(1)
    older = await inbox.record(portal.id, 7, lease_s=0)
    newer = await inbox.record(portal.id, 7, lease_s=0)
    assert newer.received_at >= older.received_at
    if newer.received_at > older.received_at:
        # Syncing what was read for the older event does not cover the newer one.
        await inbox.done([older])
        assert await inbox.claim(limit=10, lease_s=30) == [newer]
    await inbox.done([newer])
    await asyncio.sleep(0.01)
    assert await inbox.claim(limit=10, lease_s=0) == []


async def test_concurrent_claims_of_replicas_never_take_the_same_event(
    inboxes: Inboxes, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    replicas = await inboxes(4)
    for activity_id in range(1, 201):
        await replicas[0].record(portal.id, activity_id, lease_s=0)
    claims = await asyncio.gather(*(r.claim(limit=60, lease_s=30) for r in replicas))
    taken = [entry.activity_id for claim in claims for entry in claim]
    assert len(taken) == len(set(taken))
    # SKIP LOCKED may leave a row to a later claim, never to two.
    rest = [entry.activity_id for entry in await replicas[0].claim(limit=200, lease_s=30)]
    assert sorted(taken + rest) == list(range(1, 201))


async def test_deleting_a_portal_deletes_its_recorded_events(
    inboxes: Inboxes, pg_storage: PostgresStorage, pg_dsn: str, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    (inbox,) = await inboxes(1)
    await inbox.record(portal.id, 1, lease_s=5)
    raw = await asyncpg.connect(libpq_url(pg_dsn))
    try:
        await raw.execute("DELETE FROM portals WHERE id = $1", portal.id)
        assert await raw.fetchval("SELECT count(*) FROM event_inbox") == 0
    finally:
        await raw.close()
