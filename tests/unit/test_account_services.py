"""Settings, preferences, feedback, export and erase on the memory fakes: who may, what changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.model import NewTouchPoint, OwnerRef, OwnerType, Status, TouchPointType
from touchpoints.domain.placements import detail_tab
from touchpoints.domain.portal import Portal
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.domain.visibility import Viewer
from touchpoints.ports.crm import CrmUnavailable
from touchpoints.ports.storage import Feedback
from touchpoints.services import account
from touchpoints.services.context import Actor, UseCase
from touchpoints.services.errors import Forbidden, InvalidInput, RateLimited
from touchpoints.services.installation import Handlers

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN, SELLER, OTHER = 1, 2, 3
HANDLERS = Handlers.under("https://app.example")
LEADS_AND_DEALS = frozenset({OwnerType.LEAD, OwnerType.DEAL})


@attrs.define
class World:
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))
    storage: MemoryStorage = attrs.Factory(MemoryStorage)
    crm: MemoryCrm = attrs.field(init=False)
    portal: Portal = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.crm = MemoryCrm(clock=self.clock)

    async def start(self) -> World:
        member_id = self.crm.add_portal()
        self.crm.add_user(member_id, ADMIN, name="Admin", admin=True)
        self.crm.add_user(member_id, SELLER, name="Seller")
        self.crm.add_user(member_id, OTHER, name="Other")
        async with self.storage.unit_of_work() as uow:
            self.portal = await uow.portals.create(self.crm.install(member_id, ADMIN), now=NOW)
            await uow.settings.put(self.portal.id, PortalSettings.defaults(), now=NOW)
        return self

    def actor(self, user_id: int) -> Actor:
        return Actor(self.portal, Viewer(user_id, is_admin=user_id == ADMIN))

    async def ctx(self, user_id: int) -> UseCase:
        """The context of one request by ``user_id``, with the settings stored now."""
        connector = MemoryCrmConnector(self.crm)
        token = self.crm.issue_token(self.portal.member_id, user_id)
        return await UseCase.load(
            storage=self.storage,
            crm=connector.as_user(self.portal, token),
            clock=self.clock,
            connector=connector,
            actor=self.actor(user_id),
        )

    async def update_settings(
        self, user_id: int, settings: PortalSettings, handlers: Handlers | None = HANDLERS
    ) -> PortalSettings:
        return await account.update_settings(
            await self.ctx(user_id), settings=settings, handlers=handlers
        )

    async def stored_settings(self) -> PortalSettings | None:
        async with self.storage.unit_of_work() as uow:
            return await uow.settings.get(self.portal.id)

    def tabs(self) -> set[str]:
        bound = {b.placement for b in self.crm.placement_bindings(self.portal.member_id)}
        return {code for code in bound if code.endswith("_DETAIL_TAB") or code == "LEFT_MENU"}

    async def feedback(self, user_id: int = SELLER, message: str = "Nice board") -> Feedback:
        return await account.send_feedback(await self.ctx(user_id), message=message, email=None)


@pytest.fixture
async def world() -> World:
    return await World().start()


# ------------------------------------------------------------------ settings


async def test_only_an_admin_may_change_the_settings(world: World) -> None:
    changed = PortalSettings(time_zone="Europe/Berlin", digest_hour=7)
    with pytest.raises(Forbidden):
        await world.update_settings(SELLER, changed)
    assert await world.stored_settings() == PortalSettings.defaults()
    assert sum(world.crm.calls.values()) == 0


async def test_an_admins_settings_are_stored_and_returned(world: World) -> None:
    changed = PortalSettings(time_zone="Europe/Berlin", digest_hour=7)
    assert await world.update_settings(ADMIN, changed) == changed
    assert await world.stored_settings() == changed


async def test_enabling_fewer_entities_binds_their_tabs_and_unbinds_the_others(
    world: World,
) -> None:
    await world.update_settings(ADMIN, PortalSettings(enabled_entities=LEADS_AND_DEALS))
    assert world.tabs() == {"CRM_LEAD_DETAIL_TAB", "CRM_DEAL_DETAIL_TAB", "LEFT_MENU"}

    await world.update_settings(ADMIN, PortalSettings())
    assert world.tabs() == {detail_tab(t) for t in OwnerType} | {"LEFT_MENU"}


async def test_settings_that_keep_the_entities_do_not_touch_the_crm(world: World) -> None:
    await world.update_settings(ADMIN, PortalSettings(time_zone="Europe/Berlin"))
    assert sum(world.crm.calls.values()) == 0


async def test_without_handlers_the_entities_change_but_no_tab_is_bound(world: World) -> None:
    await world.update_settings(ADMIN, PortalSettings(enabled_entities=LEADS_AND_DEALS), None)
    stored = await world.stored_settings()
    assert stored is not None
    assert stored.enabled_entities == LEADS_AND_DEALS
    assert sum(world.crm.calls.values()) == 0


async def test_a_failed_rebinding_is_raised_after_the_settings_were_stored(
    world: World,
) -> None:
    world.crm.fail("bind_event", CrmUnavailable("down"))
    changed = PortalSettings(enabled_entities=LEADS_AND_DEALS)
    with pytest.raises(CrmUnavailable):
        await world.update_settings(ADMIN, changed)
    assert await world.stored_settings() == changed


# ------------------------------------------------------------------ preferences


async def test_preferences_start_unset_next_to_the_portals_settings(world: World) -> None:
    preferences, settings = await account.get_preferences(await world.ctx(SELLER))
    assert preferences == UserPreferences(user_id=SELLER)
    assert settings == PortalSettings.defaults()


async def test_a_user_sets_only_their_own_preferences(world: World) -> None:
    stored = await account.set_preferences(await world.ctx(SELLER), digest_enabled=False)
    assert stored == UserPreferences(user_id=SELLER, digest_enabled=False)
    mine, _ = await account.get_preferences(await world.ctx(SELLER))
    theirs, _ = await account.get_preferences(await world.ctx(OTHER))
    assert mine.digest_enabled is False
    assert theirs.digest_enabled is None


# ------------------------------------------------------------------ feedback


async def test_feedback_is_stored_trimmed_with_a_blank_email_dropped(world: World) -> None:
    stored = await account.send_feedback(
        await world.ctx(SELLER),
        message="  The board is great  ",
        email="   ",
    )
    assert (stored.portal_id, stored.user_id, stored.message, stored.email) == (
        world.portal.id,
        SELLER,
        "The board is great",
        None,
    )
    async with world.storage.unit_of_work() as uow:
        assert [f.message for f in await uow.feedback.for_portal(world.portal.id)] == [
            "The board is great"
        ]


async def test_empty_feedback_is_invalid_input(world: World) -> None:
    with pytest.raises(InvalidInput) as raised:
        await world.feedback(message=" \n ")
    assert "message" in raised.value.errors


async def test_feedback_is_limited_per_user_per_hour(world: World) -> None:
    for _ in range(account.FEEDBACK_PER_HOUR):
        await world.feedback()
    with pytest.raises(RateLimited):
        await world.feedback()
    await world.feedback(OTHER)  # a colleague has their own allowance

    world.clock.advance(timedelta(hours=1, seconds=1))
    await world.feedback()
    async with world.storage.unit_of_work() as uow:
        assert len(await uow.feedback.for_portal(world.portal.id)) == account.FEEDBACK_PER_HOUR + 2


# ------------------------------------------------------------------ export and erase


async def add_touch_point(world: World) -> None:
    deal = world.crm.add_record(world.portal.member_id, OwnerType.DEAL, "Fleet")
    activity_id = world.crm.add_activity(
        world.portal.member_id, deal, deadline=NOW + timedelta(days=1), responsible_id=SELLER
    )
    async with world.storage.unit_of_work() as uow:
        await uow.touch_points.add(
            NewTouchPoint(
                portal_id=world.portal.id,
                activity_id=activity_id,
                owner=deal,
                type=TouchPointType.CALL,
                deadline=NOW + timedelta(days=1),
                responsible_id=SELLER,
                created_by=SELLER,
                created_at=NOW,
            )
        )


async def test_only_an_admin_may_export(world: World) -> None:
    with pytest.raises(Forbidden):
        await account.export_portal(await world.ctx(SELLER))


async def test_the_export_holds_the_portals_data(world: World) -> None:
    # The reply leaves the portal's tokens out: tests/integration/test_api.py.
    await add_touch_point(world)
    await account.set_preferences(await world.ctx(SELLER), digest_enabled=False)
    await world.feedback(message="More colours")

    exported = await account.export_portal(await world.ctx(ADMIN))

    assert exported.portal.member_id == world.portal.member_id
    assert exported.settings == PortalSettings.defaults()
    assert exported.preferences == [UserPreferences(user_id=SELLER, digest_enabled=False)]
    [touch_point] = exported.touch_points
    assert (touch_point.owner, touch_point.status) == (
        OwnerRef(OwnerType.DEAL, 1),
        Status.OPEN,
    )
    assert [f.message for f in exported.feedback] == ["More colours"]


async def test_the_export_carries_the_settings_the_request_loaded(world: World) -> None:
    ctx = await world.ctx(ADMIN)
    changed = PortalSettings(time_zone="Europe/Berlin")
    async with world.storage.unit_of_work() as uow:
        await uow.settings.put(world.portal.id, changed, now=NOW)
    assert (await account.export_portal(ctx)).settings == ctx.settings
    assert (await account.export_portal(await world.ctx(ADMIN))).settings == changed


async def test_only_an_admin_may_erase_and_a_refusal_keeps_everything(world: World) -> None:
    await add_touch_point(world)
    with pytest.raises(Forbidden):
        await account.erase_portal(await world.ctx(SELLER))
    async with world.storage.unit_of_work() as uow:
        assert await uow.portals.get(world.portal.id) is not None
        assert len(await uow.touch_points.all(world.portal.id)) == 1


async def test_erasing_deletes_the_portal_and_everything_of_it(world: World) -> None:
    await add_touch_point(world)
    await world.feedback()
    await account.erase_portal(await world.ctx(ADMIN))
    async with world.storage.unit_of_work() as uow:
        assert await uow.portals.get(world.portal.id) is None
        assert await uow.touch_points.all(world.portal.id) == []
        assert await uow.feedback.for_portal(world.portal.id) == []
        assert await uow.settings.get(world.portal.id) is None
