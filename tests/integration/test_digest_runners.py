"""Several digest runners share the portals: a lease per portal, a settled day skipped."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.integration.conftest import Harness
from tests.integration.test_digest import DAY, NOW, due, installed, run_pass
from tests.postgres import TEST_SECRET
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.digest import digest_tag
from touchpoints.ports.digests import DigestState, PortalDay
from touchpoints.ports.messaging import Notification
from touchpoints.services.digest import PORTAL_BUDGET_S, STALE_CLAIM_S


async def test_two_runners_split_the_portals_and_send_every_user_one_digest(
    harness: Harness, pg_dsn: str
) -> None:
    sites = [await installed(harness, users=(2, 3)) for _ in range(6)]
    for site in sites:
        for user_id in (2, 3):
            await due(harness, site, user_id, NOW + timedelta(hours=1))
    # A second runner with its own connection pool, as another replica would be.
    other = await PostgresStorage.open(pg_dsn, TokenCipher(TEST_SECRET), max_size=4)
    try:
        one, two = await asyncio.gather(
            run_pass(harness, NOW), run_pass(harness, NOW, storage=other)
        )
    finally:
        await other.close()

    # Each portal was sent by one runner: nobody's digest was claimed twice.
    assert (one.due + two.due, one.sent + two.sent) == (6, 12)
    assert one.already + two.already == 0
    for site in sites:
        # Counted at the API, so a TAG replacement cannot hide a second send.
        assert harness.b24.calls(site.member_id, "im.notify.system.add") == 2
        assert all(len(harness.b24.inbox(site.member_id, u)) == 1 for u in (2, 3))


async def test_a_runner_that_died_mid_portal_is_taken_over_once_its_lease_and_claims_expire(
    harness: Harness,
) -> None:
    site = await installed(harness, users=(2,))
    await due(harness, site, 2, NOW + timedelta(hours=1))
    # A runner leased the portal, claimed and sent user 2's digest, and died.
    async with harness.storage.unit_of_work() as uow:
        log = uow.digest_log
        assert await log.lease(
            site.portal.id, now=NOW, until=NOW + timedelta(seconds=PORTAL_BUDGET_S)
        )
        assert await log.claim_many(
            PortalDay(site.portal.id, DAY), [2], now=NOW, stale_after_s=STALE_CLAIM_S
        ) == [2]
    await harness.services.messenger.notify(
        site.portal,
        [Notification(user_id=2, message="sent before the crash", tag=digest_tag(2, DAY))],
    )
    harness.b24.reset_counters()

    leased = await run_pass(harness, NOW + timedelta(minutes=1))
    fresh_claim = await run_pass(harness, NOW + timedelta(seconds=PORTAL_BUDGET_S + 60))
    assert (leased.portals, fresh_claim.already, fresh_claim.sent) == (0, 1, 0)
    assert harness.b24.requests(site.member_id) == 0
    recovered = await run_pass(harness, NOW + timedelta(seconds=STALE_CLAIM_S + 60))
    settled = await run_pass(harness, NOW + timedelta(seconds=STALE_CLAIM_S + 120))

    assert (recovered.sent, settled.portals) == (1, 0)
    (message,) = harness.b24.inbox(site.member_id, 2)  # the resend replaced the first one
    assert message.message.startswith("[b]Touch-points for")
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.digest_log.get(site.portal.id, 2, DAY)
    assert stored is not None
    assert (stored.state, stored.attempts) == (DigestState.SENT, 2)


async def test_a_portal_before_its_digest_hour_is_left_alone_until_the_hour_comes(
    harness: Harness,
) -> None:
    site = await installed(harness, users=(2,))
    await due(harness, site, 2, NOW + timedelta(hours=1))
    early = NOW - timedelta(hours=3)

    first = await run_pass(harness, early)
    second = await run_pass(harness, early + timedelta(hours=1))
    at_the_hour = await run_pass(harness, NOW)
    next_morning = await run_pass(harness, NOW + timedelta(hours=20))

    assert (first.portals, first.due, second.portals) == (1, 0, 0)
    assert (at_the_hour.due, at_the_hour.sent, next_morning.portals) == (1, 1, 0)
    assert len(harness.b24.inbox(site.member_id, 2)) == 1
