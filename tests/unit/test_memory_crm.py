"""The in-memory CRM, messenger and OAuth server behave like a Bitrix24 portal would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector, MemoryCrmSession
from touchpoints.adapters.memory.messaging import MemoryMessenger
from touchpoints.adapters.memory.oauth import MemoryOAuthServer
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.crm import RecordCard, TodoSpec
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPointType
from touchpoints.domain.portal import Portal
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import (
    CrmAuthExpired,
    CrmInvalidInput,
    CrmNotFound,
    CrmPermissionDenied,
    CrmUnavailable,
    Hidden,
    PortalGone,
)
from touchpoints.ports.messaging import Delivery, Notification

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 5, 6, 10, 0, tzinfo=UTC)


@attrs.frozen
class World:
    crm: MemoryCrm
    clock: FixedClock
    member_id: str
    portal: Portal
    deal: OwnerRef

    def session(self, user_id: int) -> MemoryCrmSession:
        token = self.crm.issue_token(self.member_id, user_id)
        return MemoryCrmConnector(self.crm).as_user(self.portal, token)

    @property
    def app(self) -> MemoryCrmSession:
        return MemoryCrmConnector(self.crm).as_app(self.portal)


@pytest.fixture
def world() -> World:
    clock = FixedClock(NOW)
    crm = MemoryCrm(clock)
    member_id = crm.add_portal("m1", domain="acme.bitrix24.test", time_zone="Europe/Berlin")
    crm.add_user(member_id, 1, name="Admin", admin=True)
    crm.add_user(member_id, 2, name="Seller", crm_access="own", time_zone="Europe/Berlin")
    deal = crm.add_record(member_id, OwnerType.DEAL, "Big deal", assigned_by_id=1, amount=10.5)
    install = crm.install(member_id, 1)
    portal = Portal(
        id=1,
        member_id=install.member_id,
        client_endpoint=install.client_endpoint,
        domain=install.domain,
        application_token=install.application_token,
        tokens=install.tokens,
        installed_by=1,
        created_at=NOW,
        updated_at=NOW,
    )
    return World(crm, clock, member_id, portal, deal)


def todo(owner: OwnerRef, **changes: object) -> TodoSpec:
    spec = TodoSpec(
        owner=owner,
        type=TouchPointType.CALL,
        deadline=DEADLINE,
        responsible_id=1,
        title="Call back",
    )
    return attrs.evolve(spec, **changes)


# ------------------------------------------------------------------ to-dos


async def test_a_created_todo_is_readable_as_an_open_crm_todo(world: World) -> None:
    activity_id = await world.app.create_todo(todo(world.deal, description="budget?"))
    activities = await world.app.get_activities([activity_id, 999])
    assert list(activities) == [activity_id]
    activity = activities[activity_id]
    assert (activity.owner, activity.deadline, activity.responsible_id) == (world.deal, DEADLINE, 1)
    assert (activity.completed, activity.provider_id, activity.subject) == (
        False,
        "CRM_TODO",
        "Call back",
    )
    stored = world.crm.activity(world.member_id, activity_id)
    assert stored is not None
    assert (stored.description, stored.type) == ("budget?", TouchPointType.CALL)


async def test_creating_a_todo_needs_edit_rights_on_the_record(world: World) -> None:
    seller = world.session(2)
    with pytest.raises(CrmPermissionDenied):
        await seller.create_todo(todo(world.deal))
    world.crm.grant(world.member_id, 2, world.deal, read=True)
    with pytest.raises(CrmPermissionDenied):
        await seller.create_todo(todo(world.deal))
    world.crm.grant(world.member_id, 2, world.deal, edit=True)
    assert await seller.create_todo(todo(world.deal)) > 0


async def test_a_todo_on_a_missing_record_is_not_found(world: World) -> None:
    with pytest.raises(CrmNotFound):
        await world.app.create_todo(todo(OwnerRef(OwnerType.LEAD, 77)))


async def test_a_todo_needs_an_aware_deadline_and_a_real_responsible(world: World) -> None:
    with pytest.raises(CrmInvalidInput):
        await world.app.create_todo(todo(world.deal, deadline=datetime(2026, 5, 6, 10)))  # noqa: DTZ001
    with pytest.raises(CrmInvalidInput):
        await world.app.create_todo(todo(world.deal, responsible_id=0))


async def test_moving_and_reassigning_update_an_open_todo(world: World) -> None:
    activity_id = await world.app.create_todo(todo(world.deal))
    later = DEADLINE + timedelta(days=2)
    await world.app.update_deadline(activity_id, world.deal, later)
    await world.app.update_responsible(activity_id, world.deal, 2)
    activity = (await world.app.get_activities([activity_id]))[activity_id]
    assert (activity.deadline, activity.responsible_id) == (later, 2)


async def test_a_completed_todo_cannot_be_moved_or_reassigned(world: World) -> None:
    activity_id = await world.app.create_todo(todo(world.deal))
    await world.app.complete(activity_id)
    with pytest.raises(CrmInvalidInput) as moved:
        await world.app.update_deadline(activity_id, world.deal, DEADLINE)
    assert moved.value.code == "CAN_NOT_UPDATE_COMPLETED_TODO"
    with pytest.raises(CrmInvalidInput):
        await world.app.update_responsible(activity_id, world.deal, 2)
    await world.app.complete(activity_id)  # completing twice is harmless
    assert (await world.app.get_activities([activity_id]))[activity_id].completed


async def test_updating_a_todo_under_the_wrong_owner_is_not_found(world: World) -> None:
    activity_id = await world.app.create_todo(todo(world.deal))
    other = world.crm.add_record(world.member_id, OwnerType.DEAL, "Other")
    with pytest.raises(CrmNotFound):
        await world.app.update_deadline(activity_id, other, DEADLINE)
    with pytest.raises(CrmNotFound):
        await world.app.complete(999)


async def test_deleting_removes_the_activity_and_needs_edit_rights(world: World) -> None:
    activity_id = await world.app.create_todo(todo(world.deal))
    world.crm.grant(world.member_id, 2, world.deal, read=True)
    with pytest.raises(CrmPermissionDenied):
        await world.session(2).delete_activity(activity_id)
    await world.app.delete_activity(activity_id)
    assert await world.app.get_activities([activity_id]) == {}
    with pytest.raises(CrmNotFound):
        await world.app.delete_activity(activity_id)


async def test_activities_of_records_a_user_cannot_read_stay_invisible(world: World) -> None:
    activity_id = await world.app.create_todo(todo(world.deal))
    seller = world.session(2)
    assert await seller.get_activities([activity_id]) == {}
    world.crm.grant(world.member_id, 2, world.deal)
    assert list(await seller.get_activities([activity_id])) == [activity_id]


async def test_find_todos_returns_open_todos_created_after_the_instant(world: World) -> None:
    earlier = await world.app.create_todo(todo(world.deal))
    world.clock.advance(timedelta(minutes=5))
    lead = world.crm.add_record(world.member_id, OwnerType.LEAD, "Lead")
    on_lead = await world.app.create_todo(todo(lead))
    on_deal = await world.app.create_todo(todo(world.deal))
    done = await world.app.create_todo(todo(world.deal))
    await world.app.complete(done)
    world.crm.add_activity(
        world.member_id, world.deal, deadline=DEADLINE, responsible_id=1, provider_id="CRM_EMAIL"
    )
    found = await world.app.find_todos(owner=None, created_after=NOW)
    assert [a.id for a in found] == [on_lead, on_deal]
    only_deal = await world.app.find_todos(owner=world.deal, created_after=NOW - timedelta(1))
    assert [a.id for a in only_deal] == [earlier, on_deal]


# ------------------------------------------------------------------ records


async def test_read_records_hides_unreadable_and_missing_records(world: World) -> None:
    mine = world.crm.add_record(world.member_id, OwnerType.LEAD, "Mine", assigned_by_id=2)
    missing = OwnerRef(OwnerType.COMPANY, 404)
    lookup = await world.session(2).read_records([mine, world.deal, missing])
    assert lookup[mine] == RecordCard(ref=mine, title="Mine", assigned_by_id=2)
    assert lookup[world.deal] == Hidden(ref=world.deal)
    assert lookup[missing] == Hidden(ref=missing)
    admin_view = await world.app.read_records([world.deal])
    assert admin_view[world.deal] == RecordCard(
        ref=world.deal, title="Big deal", assigned_by_id=1, amount=10.5
    )


async def test_search_and_open_records_list_only_readable_records(world: World) -> None:
    world.crm.add_record(world.member_id, OwnerType.DEAL, "Big closed deal", closed=True)
    world.crm.add_record(world.member_id, OwnerType.DEAL, "Small deal", assigned_by_id=2)
    titles = [c.title for c in await world.app.search_records(OwnerType.DEAL, "big")]
    assert titles == ["Big deal", "Big closed deal"]
    assert [c.title for c in await world.session(2).search_records(OwnerType.DEAL, "deal")] == [
        "Small deal"
    ]
    assert [c.title for c in await world.app.open_records(OwnerType.DEAL, limit=1)] == ["Big deal"]


# ------------------------------------------------------------------ people and bindings


async def test_current_user_tells_who_opened_the_frame_and_whether_they_are_admin(
    world: World,
) -> None:
    admin = await world.session(1).current_user()
    seller = await world.session(2).current_user()
    assert (admin.id, admin.is_admin) == (1, True)
    assert (seller.id, seller.is_admin, seller.time_zone) == (2, False, "Europe/Berlin")


async def test_users_lists_active_employees_or_the_ones_asked_for(world: World) -> None:
    world.crm.add_user(world.member_id, 3, name="Gone", active=False, departments=[7])
    world.crm.add_department(world.member_id, 7, "Sales", parent_id=1)
    assert [u.id for u in await world.app.users()] == [1, 2]
    (gone,) = await world.app.users([3, 404])
    assert (gone.name, gone.active, gone.department_ids) == ("Gone", False, (7,))
    assert [d.name for d in await world.app.departments()] == ["Sales"]


async def test_an_unknown_or_expired_frame_token_asks_for_a_new_session(world: World) -> None:
    connector = MemoryCrmConnector(world.crm)
    with pytest.raises(CrmAuthExpired):
        await connector.as_user(world.portal, Secret("nope")).current_user()
    session = world.session(2)
    world.clock.advance(timedelta(hours=1))
    with pytest.raises(CrmAuthExpired) as expired:
        await session.current_user()
    assert expired.value.code == "expired_token"


async def test_binding_events_is_idempotent_and_placements_are_admin_only(world: World) -> None:
    await world.app.bind_event("onCrmActivityUpdate", "https://app/b24/events")
    await world.app.bind_event("ONCRMACTIVITYUPDATE", "https://app/b24/events")
    assert world.crm.event_bindings(world.member_id) == {
        ("ONCRMACTIVITYUPDATE", "https://app/b24/events")
    }
    await world.app.unbind_event("ONCRMACTIVITYUPDATE", "https://app/b24/events")
    assert world.crm.event_bindings(world.member_id) == set()
    with pytest.raises(CrmPermissionDenied):
        await world.session(2).bind_placement("LEFT_MENU", "https://app/b24/app", "TP", {})
    for title in ("Old", "New"):
        await world.app.bind_placement("LEFT_MENU", "https://app/b24/app", title, {"en": title})
    (binding,) = world.crm.placement_bindings(world.member_id)
    assert (binding.title, binding.lang_all) == ("New", {"en": "New"})
    await world.app.unbind_placement("LEFT_MENU", "https://app/b24/app")
    assert world.crm.placement_bindings(world.member_id) == []


async def test_an_uninstalled_portal_is_gone(world: World) -> None:
    session = world.session(1)
    world.crm.uninstall(world.member_id)
    with pytest.raises(PortalGone):
        await world.app.current_user()
    with pytest.raises(PortalGone):
        await session.current_user()


async def test_an_injected_failure_hits_the_next_call_only(world: World) -> None:
    world.crm.fail("read_records", CrmUnavailable("down"))
    with pytest.raises(CrmUnavailable):
        await world.app.read_records([world.deal])
    assert world.deal in await world.app.read_records([world.deal])
    assert world.crm.calls["read_records"] == 2


# ------------------------------------------------------------------ messenger


async def test_a_notification_with_the_same_tag_replaces_the_earlier_one(world: World) -> None:
    messenger = MemoryMessenger(world.crm)
    first = Notification(user_id=2, message="3 due", tag="digest.2.2026-05-04")
    second = attrs.evolve(first, message="  4 due  ", attach=(("Open board", "https://b/"),))
    assert await messenger.notify(world.portal, [first]) == [Delivery(user_id=2, ok=True)]
    await messenger.notify(world.portal, [second])
    (message,) = world.crm.inbox(world.member_id, 2)
    assert (message.message, message.attach) == ("4 due", (("Open board", "https://b/"),))


async def test_undeliverable_notifications_are_reported_one_by_one(world: World) -> None:
    world.crm.add_user(world.member_id, 3, active=False)
    results = await MemoryMessenger(world.crm).notify(
        world.portal,
        [
            Notification(user_id=0, message="x", tag="a"),
            Notification(user_id=1, message="   ", tag="b"),
            Notification(user_id=3, message="x", tag="c"),
            Notification(user_id=1, message="x", tag="d", attach=(("n", "u" * 60_000),)),
            Notification(user_id=1, message="fine", tag="e"),
        ],
    )
    assert [(d.ok, d.error) for d in results] == [
        (False, "USER_ID_EMPTY"),
        (False, "MESSAGE_EMPTY"),
        (False, "NOT_CREATED"),
        (False, "ATTACH_OVERSIZE"),
        (True, ""),
    ]


async def test_notifying_an_uninstalled_portal_is_portal_gone(world: World) -> None:
    world.crm.uninstall(world.member_id)
    with pytest.raises(PortalGone):
        await MemoryMessenger(world.crm).notify(
            world.portal, [Notification(user_id=1, message="x", tag="t")]
        )


# ------------------------------------------------------------------ OAuth


async def test_a_refresh_rotates_the_pair_and_the_old_refresh_token_dies(world: World) -> None:
    server = MemoryOAuthServer(world.crm)
    grant = await server.refresh(world.portal.tokens.refresh_token)
    assert (grant.member_id, grant.client_endpoint, grant.user_id) == (
        "m1",
        "https://acme.bitrix24.test/rest/",
        1,
    )
    assert grant.tokens.expires_at == NOW + timedelta(hours=1)
    assert grant.tokens.refresh_token != world.portal.tokens.refresh_token
    with pytest.raises(PortalGone) as reused:
        await server.refresh(world.portal.tokens.refresh_token)
    assert reused.value.code == "invalid_grant"
    assert (await server.refresh(grant.tokens.refresh_token)).member_id == "m1"


@pytest.mark.parametrize("cause", ["uninstalled", "payment"])
async def test_refresh_is_refused_for_a_portal_that_is_gone_or_unpaid(
    world: World, cause: str
) -> None:
    if cause == "uninstalled":
        refresh_token = world.crm.issue_refresh_token(world.member_id, 1)
        world.crm.uninstall(world.member_id)
    else:
        refresh_token = world.portal.tokens.refresh_token
        world.crm.set_payment_required(world.member_id)
    with pytest.raises(PortalGone):
        await MemoryOAuthServer(world.crm).refresh(refresh_token)
