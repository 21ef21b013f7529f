"""Verifying requests, asking Bitrix24 about the installation and waiting uninstalls, on the fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.portal import Portal, PortalStatus
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmUnavailable
from touchpoints.services.errors import Unauthenticated
from touchpoints.services.installation import (
    Installation,
    installation_state,
    request_uninstall,
    verify_portal,
)
from touchpoints.services.reconciliation import confirm_uninstalls

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = 1
NEW_TOKEN = "n" * 32


@attrs.define
class World:
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))
    storage: MemoryStorage = attrs.Factory(MemoryStorage)
    crm: MemoryCrm = attrs.field(init=False)
    connector: MemoryCrmConnector = attrs.field(init=False)
    portal: Portal = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.crm = MemoryCrm(clock=self.clock)
        self.connector = MemoryCrmConnector(self.crm)

    async def start(self) -> World:
        member_id = self.crm.add_portal()
        self.crm.add_user(member_id, ADMIN, name="Admin", admin=True)
        async with self.storage.unit_of_work() as uow:
            self.portal = await uow.portals.create(self.crm.install(member_id, ADMIN), now=NOW)
        return self

    @property
    def token(self) -> str:
        return self.portal.application_token.reveal()

    async def verify(self, token: str | None, member_id: str | None = None) -> Portal:
        return await verify_portal(
            self.storage,
            self.portal.member_id if member_id is None else member_id,
            token,
            clock=self.clock,
        )

    async def stored(self) -> Portal | None:
        async with self.storage.unit_of_work() as uow:
            return await uow.portals.get(self.portal.id)

    async def rotate(self) -> None:
        async with self.storage.unit_of_work() as uow:
            await uow.portals.rotate_application_token(self.portal.id, Secret(NEW_TOKEN), now=NOW)


@pytest.fixture
async def world() -> World:
    return await World().start()


# ------------------------------------------------------------------ verify_portal


async def test_a_request_with_the_portals_application_token_is_its_portal(world: World) -> None:
    assert (await world.verify(world.token)).id == world.portal.id


@pytest.mark.parametrize(
    ("member_id", "token"),
    [("", "t" * 32), (None, None), ("unknown", "t" * 32), (None, "t" * 32)],
    ids=["no member id", "no token", "unknown portal", "wrong token"],
)
async def test_a_request_without_the_right_token_is_unauthenticated(
    world: World, member_id: str | None, token: str | None
) -> None:
    with pytest.raises(Unauthenticated):
        await world.verify(token, member_id)


async def test_after_a_rotation_the_previous_token_works_until_the_new_one_is_used(
    world: World,
) -> None:
    old = world.token
    await world.rotate()

    assert (await world.verify(old)).previous_application_token is not None
    retired = await world.verify(NEW_TOKEN)

    assert retired.previous_application_token is None
    stored = await world.stored()
    assert stored is not None
    assert stored.previous_application_token is None
    with pytest.raises(Unauthenticated):
        await world.verify(old)


# ------------------------------------------------------------------ installation_state


async def test_an_installed_app_is_present(world: World) -> None:
    assert await installation_state(world.connector, world.portal) is Installation.PRESENT


async def test_an_uninstalled_app_is_gone(world: World) -> None:
    world.crm.uninstall(world.portal.member_id)
    assert await installation_state(world.connector, world.portal) is Installation.GONE


async def test_bitrix24_out_of_reach_leaves_the_installation_unknown(world: World) -> None:
    world.crm.fail("app_info", CrmUnavailable("down"))
    assert await installation_state(world.connector, world.portal) is Installation.UNKNOWN


async def test_a_portal_marked_dead_is_asked_through_the_token_endpoint(world: World) -> None:
    dead = attrs.evolve(world.portal, status=PortalStatus.NEEDS_REAUTH)
    assert await installation_state(world.connector, dead) is Installation.PRESENT
    assert world.crm.calls["app_info"] == 0

    world.crm.fail("refresh", CrmUnavailable("down"))
    assert await installation_state(world.connector, dead) is Installation.UNKNOWN

    world.crm.uninstall(world.portal.member_id)
    assert await installation_state(world.connector, dead) is Installation.GONE


# ------------------------------------------------------------------ waiting uninstalls


async def test_an_uninstall_request_is_recorded_once(world: World) -> None:
    await request_uninstall(storage=world.storage, clock=world.clock, portal=world.portal)
    waiting = await world.stored()
    assert waiting is not None
    assert waiting.uninstall_requested_at == NOW

    world.clock.advance(timedelta(minutes=5))
    await request_uninstall(storage=world.storage, clock=world.clock, portal=waiting)
    again = await world.stored()
    assert again is not None
    assert again.uninstall_requested_at == NOW


async def test_a_waiting_uninstall_bitrix24_denies_is_dropped_and_the_portal_kept(
    world: World,
) -> None:
    await request_uninstall(storage=world.storage, clock=world.clock, portal=world.portal)

    assert (
        await confirm_uninstalls(
            storage=world.storage, connector=world.connector, clock=world.clock
        )
        == 0
    )

    kept = await world.stored()
    assert kept is not None
    assert kept.uninstall_requested_at is None


async def test_a_waiting_uninstall_bitrix24_confirms_deletes_the_portal(world: World) -> None:
    await request_uninstall(storage=world.storage, clock=world.clock, portal=world.portal)
    world.crm.uninstall(world.portal.member_id)

    assert (
        await confirm_uninstalls(
            storage=world.storage, connector=world.connector, clock=world.clock
        )
        == 1
    )

    assert await world.stored() is None
