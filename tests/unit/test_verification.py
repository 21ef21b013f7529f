"""The token verifier on the memory fakes: caches, the abuse budget, refunds, other apps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.oauth import MemoryOAuthServer
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.portal import Portal
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmUnavailable
from touchpoints.services.errors import RateLimited, Unauthenticated
from touchpoints.services.verification import TokenVerifier

NOW = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)


@attrs.define
class World:
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))
    storage: MemoryStorage = attrs.Factory(MemoryStorage)
    crm: MemoryCrm = attrs.field(init=False)
    verifier: TokenVerifier = attrs.field(init=False)
    monotonic: list[float] = attrs.Factory(lambda: [0.0])

    def __attrs_post_init__(self) -> None:
        self.crm = MemoryCrm(clock=self.clock)
        self.verifier = TokenVerifier(
            storage=self.storage,
            connector=MemoryCrmConnector(self.crm),
            oauth=MemoryOAuthServer(self.crm),
            clock=self.clock,
            monotonic=lambda: self.monotonic[0],
            token_endpoint_calls=6,
        )

    async def portal(self) -> Portal:
        member_id = self.crm.add_portal()
        self.crm.add_user(member_id, 1, name="Admin", admin=True)
        self.crm.add_user(member_id, 2, name="Seller")
        install = self.crm.install(member_id, 1)
        async with self.storage.unit_of_work() as uow:
            return await uow.portals.create(attrs.evolve(install, app_id="1"), now=NOW)


@pytest.fixture
def world() -> World:
    return World()


async def test_a_genuine_token_is_checked_once_and_then_answered_from_the_cache(
    world: World,
) -> None:
    portal = await world.portal()
    token = world.crm.issue_token(portal.member_id, 2)
    first = await world.verifier.user(portal, token)
    second = await world.verifier.user(portal, token)
    assert first == second
    assert first.id == 2
    assert world.crm.calls["current_user"] == 1
    assert world.crm.calls["app_info"] == 1


async def test_genuine_checks_are_refunded_so_they_never_exhaust_the_budget(
    world: World,
) -> None:
    portal = await world.portal()
    for _ in range(20):
        await world.verifier.user(portal, world.crm.issue_token(portal.member_id, 2))


async def test_failed_checks_stop_at_the_budget_and_answer_429_until_the_window_ends(
    world: World,
) -> None:
    portal = await world.portal()
    refused = 0
    for n in range(12):
        with pytest.raises((Unauthenticated, RateLimited)) as raised:
            await world.verifier.user(portal, Secret(f"junk-{n}"))
        refused += isinstance(raised.value, RateLimited)
    # A check reserves its two calls (profile, app.info); a junk token spends only the
    # first. Nine fit into ten before a tenth finds no room for a whole check.
    assert world.crm.calls["current_user"] == 9
    assert refused == 3
    with pytest.raises(RateLimited) as limited:
        await world.verifier.user(portal, world.crm.issue_token(portal.member_id, 2))
    assert limited.value.retry_after_s == 30
    world.clock.advance(timedelta(seconds=30))
    assert (await world.verifier.user(portal, world.crm.issue_token(portal.member_id, 2))).id == 2


async def test_a_refused_token_is_not_asked_about_again_for_a_while(world: World) -> None:
    portal = await world.portal()
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await world.verifier.user(portal, Secret("junk"))
    assert world.crm.calls["current_user"] == 1
    world.monotonic[0] += 301
    with pytest.raises(Unauthenticated):
        await world.verifier.user(portal, Secret("junk"))
    assert world.crm.calls["current_user"] == 2


async def test_a_token_of_another_app_is_refused(world: World) -> None:
    portal = await world.portal()
    token = world.crm.issue_token(portal.member_id, 1, app="other.app")
    with pytest.raises(Unauthenticated, match="another application"):
        await world.verifier.user(portal, token)


async def test_the_app_id_of_an_older_install_is_learned_with_our_own_tokens(
    world: World,
) -> None:
    portal = await world.portal()
    async with world.storage.unit_of_work() as uow:
        await uow.portals.replace_install(
            portal.id, world.crm.install(portal.member_id, 1), now=NOW
        )
        older = await uow.portals.get(portal.id)
    assert older is not None
    assert older.app_id is None
    await world.verifier.user(older, world.crm.issue_token(portal.member_id, 2))
    async with world.storage.unit_of_work() as uow:
        learned = await uow.portals.get(portal.id)
    assert learned is not None
    assert learned.app_id == "1"


async def test_bitrix24_being_down_is_not_charged_to_the_requester(world: World) -> None:
    portal = await world.portal()
    world.crm.fail("current_user", CrmUnavailable("down"), times=20)
    for _ in range(20):
        with pytest.raises(CrmUnavailable):
            await world.verifier.user(portal, world.crm.issue_token(portal.member_id, 2))
    # Twenty outages later the budget is untouched: a genuine check goes through.
    assert (await world.verifier.user(portal, world.crm.issue_token(portal.member_id, 2))).id == 2


async def test_install_redemptions_share_a_global_token_endpoint_budget(world: World) -> None:
    portals = [await world.portal() for _ in range(4)]
    outcomes = []
    for portal in portals:
        for n in range(2):
            try:
                await world.verifier.redeem(
                    Secret(f"junk-{portal.id}-{n}"), claimed_member_id=portal.member_id
                )
            except Unauthenticated:
                outcomes.append("refused")
            except RateLimited:
                outcomes.append("limited")
    assert world.crm.calls["refresh"] == 6
    assert outcomes == ["refused"] * 6 + ["limited"] * 2
