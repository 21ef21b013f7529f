"""Install, update, uninstall and reconciliation use cases on the memory fakes (DESIGN §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrm, MemoryCrmConnector, MemoryOAuthServer
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.domain.model import NewTouchPoint, OwnerType, Status, TouchPointType
from touchpoints.domain.portal import Portal
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmUnavailable
from touchpoints.services import installation, reconciliation
from touchpoints.services.errors import Forbidden, Unauthenticated
from touchpoints.services.verification import TokenVerifier

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN, SELLER = 1, 2
HANDLERS = installation.Handlers.under("https://app.example")


@attrs.define
class World:
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))
    storage: MemoryStorage = attrs.Factory(MemoryStorage)
    crm: MemoryCrm = attrs.field(init=False)
    connector: MemoryCrmConnector = attrs.field(init=False)
    verifier: TokenVerifier = attrs.field(init=False)
    member_id: str = ""

    def __attrs_post_init__(self) -> None:
        self.crm = MemoryCrm(clock=self.clock)
        self.connector = MemoryCrmConnector(self.crm)
        self.verifier = TokenVerifier(
            storage=self.storage,
            connector=self.connector,
            oauth=MemoryOAuthServer(self.crm),
            clock=self.clock,
        )
        self.member_id = self.crm.add_portal()
        self.crm.add_user(self.member_id, ADMIN, name="Admin", admin=True)
        self.crm.add_user(self.member_id, SELLER, name="Seller")

    async def install(self, user_id: int = ADMIN, token: str | None = None) -> Portal:
        application_token = token or self.crm.portal(self.member_id).application_token.reveal()
        return await installation.install_portal(
            storage=self.storage,
            verifier=self.verifier,
            connector=self.connector,
            clock=self.clock,
            request=installation.InstallRequest(
                member_id=self.member_id,
                refresh_token=self.crm.issue_refresh_token(self.member_id, user_id),
                application_token=Secret(application_token),
            ),
            handlers=HANDLERS,
            allow_http=False,
        )

    async def stored(self) -> Portal | None:
        async with self.storage.unit_of_work() as uow:
            return await uow.portals.get_by_member_id(self.member_id)

    async def open_touch_points(self, portal: Portal, count: int) -> list[int]:
        deal = self.crm.add_record(self.member_id, OwnerType.DEAL, "Deal")
        ids = []
        async with self.storage.unit_of_work() as uow:
            for _ in range(count):
                activity = self.crm.add_activity(
                    self.member_id, deal, deadline=NOW + timedelta(days=1), responsible_id=SELLER
                )
                added = await uow.touch_points.add(
                    NewTouchPoint(
                        portal_id=portal.id,
                        activity_id=activity,
                        owner=deal,
                        type=TouchPointType.CALL,
                        deadline=NOW + timedelta(days=1),
                        responsible_id=SELLER,
                        created_by=SELLER,
                        created_at=NOW,
                    )
                )
                ids.append(added.activity_id)
        return ids


@pytest.fixture
def world() -> World:
    return World()


async def test_an_admins_install_stores_the_portal_with_our_app_id_and_binds_handlers(
    world: World,
) -> None:
    portal = await world.install()
    assert portal.installed_by == ADMIN
    assert portal.app_id == world.crm.app_id("touchpoints")
    assert ("ONAPPUNINSTALL", HANDLERS.events) in world.crm.event_bindings(world.member_id)


async def test_a_members_install_is_forbidden_and_stores_nothing(world: World) -> None:
    with pytest.raises(Forbidden):
        await world.install(SELLER)
    assert await world.stored() is None


async def test_a_members_reinstall_with_the_right_application_token_changes_nothing(
    world: World,
) -> None:
    before = await world.install()
    with pytest.raises(Forbidden):
        await world.install(SELLER)
    after = await world.stored()
    assert after is not None
    assert after.tokens == before.tokens


async def test_an_install_whose_binding_fails_stores_nothing(world: World) -> None:
    world.crm.fail("bind_event", CrmUnavailable("down"))
    with pytest.raises(CrmUnavailable):
        await world.install()
    assert await world.stored() is None


async def test_an_update_rotates_only_with_an_admins_token(world: World) -> None:
    portal = await world.install()

    async def update(user_id: int) -> None:
        await installation.update_application_token(
            storage=world.storage,
            verifier=world.verifier,
            connector=world.connector,
            clock=world.clock,
            member_id=world.member_id,
            application_token="n" * 32,
            access_token=world.crm.issue_token(world.member_id, user_id).reveal(),
            handlers=HANDLERS,
        )

    with pytest.raises(Unauthenticated):
        await update(SELLER)
    unchanged = await world.stored()
    assert unchanged is not None
    assert unchanged.application_token == portal.application_token
    await update(ADMIN)
    rotated = await world.stored()
    assert rotated is not None
    assert rotated.application_token.reveal() == "n" * 32
    assert rotated.previous_application_token == portal.application_token


async def test_uninstall_deletes_only_once_bitrix24_refuses_our_tokens(world: World) -> None:
    portal = await world.install()
    kept = await installation.uninstall_portal(
        storage=world.storage, connector=world.connector, clock=world.clock, portal=portal
    )
    assert kept is installation.Installation.PRESENT
    assert await world.stored() is not None
    world.crm.uninstall(world.member_id)
    gone = await installation.uninstall_portal(
        storage=world.storage, connector=world.connector, clock=world.clock, portal=portal
    )
    assert gone is installation.Installation.GONE
    assert await world.stored() is None


async def test_an_unconfirmed_uninstall_waits_and_reconciliation_finishes_it(
    world: World,
) -> None:
    portal = await world.install()
    world.crm.uninstall(world.member_id)
    world.crm.fail("app_info", CrmUnavailable("down"))
    state = await installation.uninstall_portal(
        storage=world.storage, connector=world.connector, clock=world.clock, portal=portal
    )
    assert state is installation.Installation.UNKNOWN
    waiting = await world.stored()
    assert waiting is not None
    assert waiting.uninstall_requested_at == NOW
    summary = await reconciliation.reconcile_all(
        storage=world.storage, connector=world.connector, clock=world.clock
    )
    assert summary["uninstalled"] == 1
    assert await world.stored() is None


async def test_reconciliation_orphans_what_the_crm_says_is_gone_but_never_in_bulk(
    world: World,
) -> None:
    portal = await world.install()
    activities = await world.open_touch_points(portal, 30)
    for activity_id in activities[:12]:
        world.crm.remove_activity(world.member_id, activity_id)
    changed = await reconciliation.reconcile_portal(
        storage=world.storage, connector=world.connector, clock=world.clock, portal=portal
    )
    assert changed == 0  # 12 of 30 (40 %) would be a bulk orphaning: nothing happens
    world.crm.remove_activity(world.member_id, activities[-1])
    await world.open_touch_points(portal, 200)
    changed = await reconciliation.reconcile_portal(
        storage=world.storage, connector=world.connector, clock=world.clock, portal=portal
    )
    assert changed == 13  # 13 of 230 is under 10 %: ordinary deletions
    async with world.storage.unit_of_work() as uow:
        orphaned = [
            tp for tp in await uow.touch_points.all(portal.id) if tp.status is Status.ORPHANED
        ]
    assert len(orphaned) == 13
