"""The daily digest on real Postgres against the HTTP emulator of Bitrix24.

Every pass is given its instant explicitly (as ``touchpoints digest --now`` does), so no
test sleeps until a digest hour.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from tests.fakes.b24_world import OUR_APP
from tests.fakes.bitrix24 import RateLimit
from tests.integration.conftest import Harness
from tests.postgres import TEST_SECRET
from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.digest import digest_tag
from touchpoints.domain.model import NewTouchPoint, OwnerRef, OwnerType, TouchPointType
from touchpoints.domain.portal import Portal, PortalStatus
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.entrypoints.catalogue import load_catalogue
from touchpoints.entrypoints.digest_job import board_link
from touchpoints.ports.digests import DigestEntry, DigestState
from touchpoints.ports.messaging import Notification
from touchpoints.ports.storage import Storage
from touchpoints.services.digest import (
    STALE_CLAIM_S,
    DigestSummary,
    run_digest_pass,
)
from touchpoints.services.digest_delivery import portal_base

pytestmark = pytest.mark.postgres

# Tuesday 2026-09-01, 09:05 in Berlin (CEST, +02:00); the digest hour is 9.
NOW = datetime(2026, 9, 1, 7, 5, tzinfo=UTC)
DAY = date(2026, 9, 1)
ZONE = "Europe/Berlin"
_activity_ids = itertools.count(1)


@attrs.frozen
class Site:
    member_id: str
    portal: Portal


async def installed(harness: Harness, users: Iterable[int] = (2, 3), **settings: object) -> Site:
    """A portal installed the documented way, with users and (changed) settings."""
    member_id = await harness.install(user_time_zone=ZONE)
    for user_id in users:
        harness.b24.add_user(member_id, user_id, name=f"User {user_id}")
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
        assert portal is not None
        if settings:
            current = await uow.settings.get(portal.id) or PortalSettings.defaults(ZONE)
            await uow.settings.put(portal.id, attrs.evolve(current, **settings), now=NOW)
    return Site(member_id, portal)


async def due(
    harness: Harness,
    site: Site,
    user_id: int,
    deadline: datetime,
    *,
    title: str = "",
    owner: OwnerRef | None = None,
) -> OwnerRef:
    """An open touch-point of ``user_id`` on a new (or the given) deal."""
    if owner is None:
        owner = harness.b24.add_record(
            site.member_id, OwnerType.DEAL, title=title or f"Deal of {user_id}"
        )
    async with harness.storage.unit_of_work() as uow:
        await uow.touch_points.add(
            NewTouchPoint(
                portal_id=site.portal.id,
                activity_id=next(_activity_ids),
                owner=owner,
                type=TouchPointType.CALL,
                deadline=deadline,
                responsible_id=user_id,
                created_by=user_id,
                created_at=NOW - timedelta(days=7),
            )
        )
    return owner


async def run_pass(
    harness: Harness, now: datetime, storage: Storage | None = None
) -> DigestSummary:
    return await run_digest_pass(
        storage=storage or harness.storage,
        connector=harness.services.connector,
        messenger=harness.services.messenger,
        clock=FixedClock(now),
        board_url=board_link(harness.b24.client_id),
        catalogue=load_catalogue(),
    )


async def entry(harness: Harness, site: Site, user_id: int, day: date = DAY) -> DigestEntry | None:
    async with harness.storage.unit_of_work() as uow:
        return await uow.digest_log.get(site.portal.id, user_id, day)


def tags(harness: Harness, site: Site, user_id: int) -> list[str | None]:
    return [message.tag for message in harness.b24.inbox(site.member_id, user_id)]


async def test_one_pass_sends_each_due_user_one_digest_of_overdue_and_today(
    harness: Harness,
) -> None:
    site = await installed(harness, users=(2, 3, 4))
    deal = await due(harness, site, 2, NOW - timedelta(days=1), title="ACME renewal")
    await due(harness, site, 2, NOW + timedelta(hours=3), title="Globex")
    gone = await due(harness, site, 2, NOW + timedelta(hours=4), title="Deleted")
    harness.b24.delete_record(site.member_id, gone)
    await due(harness, site, 3, NOW + timedelta(days=1))  # tomorrow: nothing for today
    harness.b24.reset_counters()

    summary = await run_pass(harness, NOW)

    assert summary == DigestSummary(portals=1, due=1, sent=1)
    (message,) = harness.b24.inbox(site.member_id, 2)
    assert message.tag == digest_tag(2, DAY)
    assert message.kind == "system"
    base = portal_base(site.portal)
    assert message.message.startswith("[b]Touch-points for 2026-09-01[/b][br]")
    assert f"[url={base}/crm/deal/details/{deal.id}/]ACME renewal[/url]" in message.message
    assert "[b]Overdue: 1[/b]" in message.message
    assert "[b]Due today: 2[/b]" in message.message
    assert f"Deal #{gone.id}" in message.message  # no longer readable: no title, no link
    board = f"{base}/marketplace/app/{OUR_APP}/"  # the portal's app.info CODE
    assert message.attach == [{"LINK": {"NAME": "Open the board", "LINK": board}}]
    assert harness.b24.inbox(site.member_id, 3) == []
    # The floor: one user read, one batched title read, one notification request.
    assert harness.b24.requests(site.member_id) == 3
    assert harness.b24.calls(site.member_id, "im.notify.system.add") == 1
    stored = await entry(harness, site, 2)
    assert stored is not None
    assert stored.state is DigestState.SENT


async def test_a_second_pass_the_same_day_sends_nothing_and_calls_no_bitrix24(
    harness: Harness,
) -> None:
    site = await installed(harness)
    await due(harness, site, 2, NOW + timedelta(hours=1))
    await run_pass(harness, NOW)
    harness.b24.reset_counters()

    again = await run_pass(harness, NOW + timedelta(hours=6))

    # The portal's day is settled: the pass does not even look at it.
    assert again == DigestSummary()
    assert harness.b24.requests(site.member_id) == 0
    assert tags(harness, site, 2) == [digest_tag(2, DAY)]


async def test_a_late_pass_sends_todays_digest_and_never_yesterdays(harness: Harness) -> None:
    site = await installed(harness)
    await due(harness, site, 2, NOW + timedelta(hours=1))  # due on Tuesday; the job was down

    before_hour = await run_pass(harness, NOW + timedelta(days=1, minutes=-10))
    late = await run_pass(harness, NOW + timedelta(days=1, hours=6))

    assert before_hour.due == 0
    assert late.sent == 1
    wednesday = DAY + timedelta(days=1)
    assert tags(harness, site, 2) == [digest_tag(2, wednesday)]
    assert "Overdue: 1" in harness.b24.inbox(site.member_id, 2)[0].message
    assert await entry(harness, site, 2, DAY) is None


async def test_no_digest_on_weekends_and_holidays(harness: Harness) -> None:
    site = await installed(harness, holidays=frozenset({DAY}))
    await due(harness, site, 2, NOW)

    holiday = await run_pass(harness, NOW)
    saturday = await run_pass(harness, NOW + timedelta(days=4))

    assert (holiday.due, saturday.due) == (0, 0)
    assert harness.b24.inbox(site.member_id, 2) == []


async def test_preferences_the_portal_default_and_inactive_users_are_respected(
    harness: Harness,
) -> None:
    site = await installed(harness, users=(2, 3, 4, 5), digest_default=False)
    harness.b24.add_user(site.member_id, 6, active=False)
    for user_id in (2, 3, 4, 5, 6):
        await due(harness, site, user_id, NOW + timedelta(hours=1))
    async with harness.storage.unit_of_work() as uow:
        for user_id, enabled in ((2, True), (3, False), (4, None), (6, True)):
            await uow.preferences.put(
                site.portal.id, UserPreferences(user_id=user_id, digest_enabled=enabled), now=NOW
            )

    summary = await run_pass(harness, NOW)

    # 2 opted in; 3 opted out; 4 (no choice) and 5 (no row) follow the portal's "off";
    # 6 opted in but is no longer active.
    assert [len(harness.b24.inbox(site.member_id, u)) for u in (2, 3, 4, 5, 6)] == [1, 0, 0, 0, 0]
    assert summary.sent == 1
    assert summary.skipped == 4


async def test_failed_notifications_are_recorded_and_retried_by_the_next_pass(
    harness: Harness,
) -> None:
    site = await installed(harness)
    await due(harness, site, 2, NOW + timedelta(hours=1))
    await due(harness, site, 3, NOW + timedelta(hours=1))
    # The first command of the batch (user 2) fails inside an otherwise good batch.
    harness.b24.inject("im.notify.system.add", member_id=site.member_id, error="ERROR_CORE")

    first = await run_pass(harness, NOW)
    failed = await entry(harness, site, 2)
    second = await run_pass(harness, NOW + timedelta(minutes=1))

    assert (first.sent, first.failed) == (1, 1)
    assert failed is not None
    assert failed.state is DigestState.FAILED
    assert (second.sent, second.already) == (1, 1)
    retried = await entry(harness, site, 2)
    assert retried is not None
    assert (retried.state, retried.attempts) == (DigestState.SENT, 2)
    assert tags(harness, site, 2) == [digest_tag(2, DAY)]
    # User 3 once, user 2 once: the refused command never ran, and nobody got two.
    assert harness.b24.calls(site.member_id, "im.notify.system.add") == 2


async def test_two_concurrent_passes_never_send_a_user_two_digests(
    harness: Harness, pg_dsn: str
) -> None:
    users = range(2, 32)
    site = await installed(harness, users=users)
    for user_id in users:
        await due(harness, site, user_id, NOW + timedelta(hours=1))
    # A second runner with its own connection pool, as another replica or cron job would be.
    other = await PostgresStorage.open(pg_dsn, TokenCipher(TEST_SECRET), max_size=4)
    try:
        one, two = await asyncio.gather(
            run_pass(harness, NOW), run_pass(harness, NOW, storage=other)
        )
    finally:
        await other.close()

    assert one.sent + two.sent == len(users)
    # One runner leased the portal; the other found it busy or already settled.
    assert (one.due + two.due, one.already + two.already) == (1, 0)
    # Counted at the API, so a TAG replacement cannot hide a second send.
    assert harness.b24.calls(site.member_id, "im.notify.system.add") == len(users)
    assert all(len(harness.b24.inbox(site.member_id, u)) == 1 for u in users)


async def test_a_crash_between_claim_and_send_is_recovered_later_without_a_duplicate(
    harness: Harness,
) -> None:
    site = await installed(harness)
    await due(harness, site, 2, NOW + timedelta(hours=1))
    await due(harness, site, 3, NOW + timedelta(hours=1))
    # A runner claimed user 2's digest, sent it and died before recording that it had.
    async with harness.storage.unit_of_work() as uow:
        assert await uow.digest_log.claim(
            site.portal.id, 2, DAY, now=NOW, stale_after_s=STALE_CLAIM_S
        )
    await harness.services.messenger.notify(
        site.portal,
        [Notification(user_id=2, message="sent before the crash", tag=digest_tag(2, DAY))],
    )

    soon = await run_pass(harness, NOW + timedelta(minutes=1))
    assert (soon.sent, soon.already) == (1, 1)  # user 3; user 2's claim is still fresh
    recovered = await run_pass(harness, NOW + timedelta(seconds=STALE_CLAIM_S + 60))

    assert recovered.sent == 1
    (message,) = harness.b24.inbox(site.member_id, 2)  # the resend replaced the first one
    assert message.message.startswith("[b]Touch-points for")
    stored = await entry(harness, site, 2)
    assert stored is not None
    assert (stored.state, stored.attempts) == (DigestState.SENT, 2)
    assert len(harness.b24.inbox(site.member_id, 3)) == 1


async def test_dead_portals_are_marked_and_skipped_without_stopping_the_others(
    harness: Harness,
) -> None:
    sites = [await installed(harness) for _ in range(4)]
    revoked, unpaid, deleted, healthy = sites
    for site in sites:
        await due(harness, site, 2, NOW + timedelta(hours=1))
    harness.b24.revoke_tokens(revoked.member_id)
    harness.b24.set_payment_required(unpaid.member_id)
    harness.b24.expire_access_tokens(unpaid.member_id)
    harness.b24.delete_portal(deleted.member_id)

    summary = await run_pass(harness, NOW)

    assert summary.dead_portals == 3
    assert summary.sent == 1
    assert len(harness.b24.inbox(healthy.member_id, 2)) == 1
    async with harness.storage.unit_of_work() as uow:
        statuses = [(await uow.portals.get(s.portal.id)) for s in sites]
    assert [p.status if p else None for p in statuses] == [
        PortalStatus.NEEDS_REAUTH,
        PortalStatus.NEEDS_REAUTH,
        PortalStatus.NEEDS_REAUTH,
        PortalStatus.ACTIVE,
    ]
    harness.b24.reset_counters()
    later = await run_pass(harness, NOW + timedelta(minutes=1))
    # The dead portals are not listed, the healthy one is settled for the day.
    assert later == DigestSummary()
    assert harness.b24.requests() == 0


async def test_notifications_go_fifty_to_a_request_at_the_request_floor(
    harness: Harness,
) -> None:
    users = range(2, 122)
    site = await installed(harness, users=users)
    for user_id in users:
        await due(harness, site, user_id, NOW + timedelta(hours=1))
    harness.b24.reset_counters()

    summary = await run_pass(harness, NOW)

    assert summary.sent == len(users)
    sizes = [
        len(record.commands)
        for record in harness.b24.log
        if record.method == "batch" and "im.notify.system.add" in record.commands
    ]
    assert sizes == [50, 50, 20]
    # ceil(U/50) notification requests + one users read + one batched title read.
    assert harness.b24.requests(site.member_id) == math.ceil(len(users) / 50) + 2


async def test_a_rate_limited_portal_still_gets_its_digests(harness: Harness) -> None:
    site = await installed(harness, users=range(2, 5))
    for user_id in range(2, 5):
        await due(harness, site, user_id, NOW + timedelta(hours=1))
    # The portal's bucket is all but full: Bitrix24 refuses until it drains (§7.1).
    harness.b24.set_rate_limit(site.member_id, RateLimit(burst=1, per_second=10.0))

    summary = await run_pass(harness, NOW)

    assert summary.sent == 3
    refused = [r for r in harness.b24.log if r.error == "QUERY_LIMIT_EXCEEDED"]
    assert refused  # the limit did bite, and the pass waited it out
