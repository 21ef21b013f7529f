"""The real adapter against the HTTP emulator: token rotation, redirects, limits and faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import attrs
import pytest

from tests.fakes.bitrix24 import Bitrix24Emulator, EmulatorClock, RateLimit
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.bitrix24.throttle import BucketLimits, RetryPolicy, Throttle
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.domain.crm import TodoSpec
from touchpoints.domain.model import OwnerType, TouchPointType
from touchpoints.domain.portal import Portal, PortalInstall, PortalStatus
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmUnavailable, PortalGone

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05, budget_s=5.0)


@attrs.define
class Setup:
    b24: Bitrix24Emulator
    storage: MemoryStorage
    connector: BitrixConnector
    portal: Portal

    @property
    def member_id(self) -> str:
        return self.portal.member_id

    async def stored(self) -> Portal:
        async with self.storage.unit_of_work() as uow:
            portal = await uow.portals.get(self.portal.id)
        assert portal is not None
        return portal


async def _setup(
    b24: Bitrix24Emulator, session: aiohttp.ClientSession, throttle: Throttle | None = None
) -> Setup:
    launch = b24.install(admin_id=1)
    oauth = BitrixOAuthServer(
        session,
        b24.client_id,
        Secret(b24.client_secret),
        b24.oauth_url,
        clock=b24.clock,
        allow_http=True,
    )
    grant = await oauth.refresh(Secret(launch.form["REFRESH_ID"]))
    storage = MemoryStorage()
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.create(
            PortalInstall(
                member_id=grant.member_id,
                client_endpoint=grant.client_endpoint,
                domain=grant.domain,
                application_token=Secret(launch.form["APPLICATION_TOKEN"]),
                tokens=grant.tokens,
                installed_by=grant.user_id,
            ),
            now=b24.clock.now(),
        )
    connector = BitrixConnector(
        session, oauth, storage, b24.clock, throttle, retry=FAST, allow_http=True
    )
    b24.reset_counters()
    return Setup(b24, storage, connector, portal)


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    clock = EmulatorClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), frozen=True)
    async with Bitrix24Emulator(clock=clock) as b24, aiohttp.ClientSession() as session:
        ready = await _setup(b24, session)
        yield ready
        await ready.storage.close()
        assert b24.internal_errors == []


async def test_an_hour_later_the_app_refreshes_once_and_stores_the_rotated_pair(
    setup: Setup,
) -> None:
    setup.b24.clock.advance(3600)
    crm = setup.connector.as_app(setup.portal)
    await asyncio.gather(*(crm.current_user() for _ in range(5)))
    assert setup.b24.token_requests("refresh_token") == 1
    stored = await setup.stored()
    assert stored.tokens.refresh_token != setup.portal.tokens.refresh_token
    # The old refresh token is spent; the stored one is the portal's only live one.
    assert setup.b24.valid_refresh_tokens(setup.member_id) >= 1


async def test_a_revoked_access_token_is_refreshed_on_expired_token(setup: Setup) -> None:
    setup.b24.expire_access_tokens(setup.member_id)
    user = await setup.connector.as_app(setup.portal).current_user()
    assert user.id == 1
    assert setup.b24.token_requests("refresh_token") == 1
    assert setup.b24.requests(setup.member_id, "profile") == 2


async def test_payment_required_marks_the_portal_for_reauthorisation(setup: Setup) -> None:
    setup.b24.set_payment_required(setup.member_id)
    setup.b24.clock.advance(3600)
    with pytest.raises(PortalGone):
        await setup.connector.as_app(setup.portal).current_user()
    assert (await setup.stored()).status is PortalStatus.NEEDS_REAUTH


async def test_a_deleted_portal_is_gone(setup: Setup) -> None:
    setup.b24.delete_portal(setup.member_id)
    with pytest.raises(PortalGone):
        await setup.connector.as_app(setup.portal).current_user()


async def test_calls_follow_a_domain_change(setup: Setup) -> None:
    setup.b24.change_domain(setup.member_id, "renamed.bitrix24.test")
    crm = setup.connector.as_app(setup.portal)
    assert (await crm.current_user()).id == 1
    deal = setup.b24.add_record(setup.member_id, OwnerType.DEAL, title="After the move")
    activity_id = await crm.create_todo(
        TodoSpec(
            owner=deal,
            type=TouchPointType.CALL,
            deadline=datetime(2026, 3, 3, 10, tzinfo=UTC),
            responsible_id=1,
            title="t",
        )
    )
    assert setup.b24.activity(setup.member_id, activity_id) is not None


async def test_a_refused_read_is_retried_and_a_failed_write_is_not(setup: Setup) -> None:
    deal = setup.b24.add_record(setup.member_id, OwnerType.DEAL, title="D")
    setup.b24.inject("crm.item.list", error="QUERY_LIMIT_EXCEEDED")
    setup.b24.inject("crm.activity.todo.add", error="INTERNAL_SERVER_ERROR")
    crm = setup.connector.as_app(setup.portal)
    cards = await crm.read_records([deal])
    assert cards[deal].ref == deal
    assert setup.b24.requests(setup.member_id, "crm.item.list") == 2
    with pytest.raises(CrmUnavailable):
        await crm.create_todo(
            TodoSpec(
                owner=deal,
                type=TouchPointType.CALL,
                deadline=datetime(2026, 3, 3, 10, tzinfo=UTC),
                responsible_id=1,
                title="t",
            )
        )
    assert setup.b24.requests(setup.member_id, "crm.activity.todo.add") == 1


async def test_ceil_m_over_2500_requests_read_m_records(setup: Setup) -> None:
    refs = [
        setup.b24.add_record(setup.member_id, OwnerType.DEAL, title=f"D{i}") for i in range(2501)
    ]
    cards = await setup.connector.as_app(setup.portal).read_records(refs)
    assert len(cards) == 2501
    assert setup.b24.requests(setup.member_id) == 2


async def test_steady_traffic_under_the_emulators_bucket_draws_no_503() -> None:
    limits = RateLimit(burst=10, per_second=40.0)
    async with Bitrix24Emulator(rate_limit=limits) as b24, aiohttp.ClientSession() as session:
        # Headroom of a few requests absorbs event-loop stalls on a busy machine: requests
        # paced 25 ms apart when sent can reach the server bunched together.
        bucket = BucketLimits(burst=10, drain_per_s=40.0, headroom=4.0)
        ready = await _setup(b24, session, Throttle(bucket))
        # The install's own token call went through the emulator's bucket: let it drain.
        await asyncio.sleep(0.3)
        crm = ready.connector.as_app(ready.portal)
        await asyncio.gather(*(crm.current_user() for _ in range(40)))
        statuses = [record.status for record in b24.log if record.member_id == ready.member_id]
        assert len(statuses) == 40
        assert 503 not in statuses
        await ready.storage.close()


async def test_without_the_apps_bucket_the_emulator_refuses_the_same_traffic() -> None:
    limits = RateLimit(burst=10, per_second=40.0)
    async with Bitrix24Emulator(rate_limit=limits) as b24, aiohttp.ClientSession() as session:
        ready = await _setup(b24, session, Throttle(BucketLimits(burst=10_000, drain_per_s=1e6)))
        await asyncio.sleep(0.3)
        crm = ready.connector.as_app(ready.portal)
        await asyncio.gather(*(crm.current_user() for _ in range(40)), return_exceptions=True)
        statuses = [record.status for record in b24.log if record.member_id == ready.member_id]
        assert 503 in statuses
        await ready.storage.close()
