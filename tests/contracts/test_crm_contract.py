"""The CRM and messaging ports' contract: the real adapter on the HTTP emulator and the in-memory
fake must agree on every behaviour the services rely on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

import aiohttp
import pytest

from tests.fakes.bitrix24 import Bitrix24Emulator, EmulatorClock
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.messaging import MemoryMessenger
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.crm import Activity, RecordCard, TodoSpec, TodoText
from touchpoints.domain.model import EntityType, OwnerRef, OwnerType, SmartProcess, TouchPointType
from touchpoints.domain.placements import menu_bindings
from touchpoints.domain.portal import Portal, PortalInstall
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import (
    Crm,
    CrmAuthExpired,
    CrmConnector,
    CrmInvalidInput,
    CrmNotFound,
    CrmPermissionDenied,
    Hidden,
    PortalGone,
    TodoChange,
)
from touchpoints.ports.messaging import Delivery, Messenger, Notification

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PLUS3 = timezone(timedelta(hours=3))
ADMIN = 1
HANDLER = "https://tp.example.com/b24/events"
APP_URL = "https://tp.example.com/b24/app"


class World(Protocol):
    """One Bitrix24 portal with the app installed by user 1 (an admin), seeded through
    whichever double backs it; the tests act only through the ports."""

    portal: Portal
    connector: CrmConnector
    messenger: Messenger

    def now(self) -> datetime: ...

    def add_user(
        self,
        user_id: int,
        name: str,
        last_name: str = "",
        *,
        admin: bool = False,
        active: bool = True,
        crm_access: str = "all",
        time_zone: str = "",
        departments: Iterable[int] = (),
    ) -> None: ...

    def add_department(self, department_id: int, name: str, parent: int | None = None) -> None: ...

    def add_deal(
        self, title: str, *, amount: float = 0.0, assigned_by_id: int = ADMIN, closed: bool = False
    ) -> OwnerRef: ...

    def add_contact(
        self, name: str, last_name: str, *, assigned_by_id: int = ADMIN
    ) -> OwnerRef: ...

    def add_staged(
        self,
        owner_type: EntityType,
        title: str,
        *,
        stage_id: str,
        category_id: int = 0,
        amount: float = 0.0,
        assigned_by_id: int = ADMIN,
    ) -> OwnerRef:
        """A lead, deal or smart-process item (of a type added on the fly) in a stage."""
        ...

    def name_stage(
        self, owner_type: EntityType, category_id: int, stage_id: str, name: str
    ) -> None: ...

    def add_activity(
        self,
        owner: OwnerRef,
        *,
        deadline: datetime,
        responsible_id: int,
        completed: bool = False,
        provider_id: str = "CRM_TODO",
        subject: str = "",
        description: str = "",
    ) -> int: ...

    def user_token(self, user_id: int) -> Secret: ...

    def expire_user_tokens(self) -> None: ...

    def uninstall(self) -> None: ...

    def inbox(self, user_id: int) -> list[tuple[str, str]]: ...

    def event_bindings(self) -> set[tuple[str, str]]: ...

    def placement_bindings(self) -> set[tuple[str, str]]: ...


class _Clock:
    def __init__(self) -> None:
        self.value = START

    def now(self) -> datetime:
        return self.value


class MemoryWorld:
    """The in-memory fake (src/touchpoints/adapters/memory/world.py and crm.py)."""

    def __init__(self, storage: MemoryStorage) -> None:
        self.clock = _Clock()
        self.world = MemoryCrm(self.clock)
        self.member_id = self.world.add_portal()
        self.world.add_user(self.member_id, ADMIN, name="Admin", admin=True)
        self.connector: CrmConnector = MemoryCrmConnector(self.world)
        self.messenger: Messenger = MemoryMessenger(self.world)
        self._storage = storage

    async def install(self) -> None:
        install = self.world.install(self.member_id, ADMIN)
        async with self._storage.unit_of_work() as uow:
            self.portal = await uow.portals.create(install, now=self.now())

    def now(self) -> datetime:
        return self.clock.now()

    def add_user(
        self,
        user_id: int,
        name: str,
        last_name: str = "",
        *,
        admin: bool = False,
        active: bool = True,
        crm_access: Any = "all",
        time_zone: str = "",
        departments: Iterable[int] = (),
    ) -> None:
        self.world.add_user(
            self.member_id,
            user_id,
            name=f"{name} {last_name}".strip(),
            admin=admin,
            active=active,
            crm_access=crm_access,
            time_zone=time_zone,
            departments=departments,
        )

    def add_department(self, department_id: int, name: str, parent: int | None = None) -> None:
        self.world.add_department(self.member_id, department_id, name, parent_id=parent)

    def add_deal(
        self, title: str, *, amount: float = 0.0, assigned_by_id: int = ADMIN, closed: bool = False
    ) -> OwnerRef:
        return self.world.add_record(
            self.member_id,
            OwnerType.DEAL,
            title,
            stage_id="NEW",
            amount=amount,
            currency="USD",
            assigned_by_id=assigned_by_id,
            closed=closed,
        )

    def add_contact(self, name: str, last_name: str, *, assigned_by_id: int = ADMIN) -> OwnerRef:
        return self.world.add_record(
            self.member_id, OwnerType.CONTACT, f"{name} {last_name}", assigned_by_id=assigned_by_id
        )

    def add_staged(
        self,
        owner_type: EntityType,
        title: str,
        *,
        stage_id: str,
        category_id: int = 0,
        amount: float = 0.0,
        assigned_by_id: int = ADMIN,
    ) -> OwnerRef:
        if isinstance(owner_type, SmartProcess):
            self.world.add_smart_process(self.member_id, owner_type.type_id, "Projects")
        return self.world.add_record(
            self.member_id,
            owner_type,
            title,
            stage_id=stage_id,
            amount=amount,
            currency="EUR",
            assigned_by_id=assigned_by_id,
        )

    def name_stage(
        self, owner_type: EntityType, category_id: int, stage_id: str, name: str
    ) -> None:
        # The in-memory CRM keys names by kind and code: a pipeline is in a deal's code.
        self.world.name_stage(self.member_id, owner_type, stage_id, name)

    def add_activity(
        self,
        owner: OwnerRef,
        *,
        deadline: datetime,
        responsible_id: int,
        completed: bool = False,
        provider_id: str = "CRM_TODO",
        subject: str = "",
        description: str = "",
    ) -> int:
        return self.world.add_activity(
            self.member_id,
            owner,
            deadline=deadline,
            responsible_id=responsible_id,
            completed=completed,
            provider_id=provider_id,
            subject=subject,
            description=description,
        )

    def user_token(self, user_id: int) -> Secret:
        return self.world.issue_token(self.member_id, user_id)

    def expire_user_tokens(self) -> None:
        self.clock.value += timedelta(hours=2)

    def uninstall(self) -> None:
        self.world.uninstall(self.member_id)

    def inbox(self, user_id: int) -> list[tuple[str, str]]:
        return [(m.message, m.tag) for m in self.world.inbox(self.member_id, user_id)]

    def event_bindings(self) -> set[tuple[str, str]]:
        return self.world.event_bindings(self.member_id)

    def placement_bindings(self) -> set[tuple[str, str]]:
        return {(b.placement, b.handler) for b in self.world.placement_bindings(self.member_id)}


class EmulatorWorld:
    """The real adapter talking HTTP to the Bitrix24 emulator (tests/fakes/bitrix24.py)."""

    def __init__(
        self, b24: Bitrix24Emulator, session: aiohttp.ClientSession, storage: MemoryStorage
    ) -> None:
        self.b24 = b24
        self._session = session
        self._storage = storage
        launch = b24.install(admin_id=ADMIN, admin_name="Admin")
        self.member_id = launch.form["member_id"]
        self._launch = launch
        self.oauth = BitrixOAuthServer(
            session,
            b24.client_id,
            Secret(b24.client_secret),
            b24.oauth_url,
            clock=b24.clock,
            allow_http=True,
        )
        self.connector: CrmConnector = BitrixConnector(
            session, self.oauth, storage, b24.clock, allow_http=True
        )
        self.messenger: Messenger = BitrixMessenger(self.connector)  # type: ignore[arg-type]

    async def install(self) -> None:
        # Trust comes from the token endpoint's reply (DESIGN.md §4).
        grant = await self.oauth.refresh(Secret(self._launch.form["REFRESH_ID"]))
        install = PortalInstall(
            member_id=grant.member_id,
            client_endpoint=grant.client_endpoint,
            domain=grant.domain,
            application_token=Secret(self._launch.form["APPLICATION_TOKEN"]),
            tokens=grant.tokens,
            installed_by=grant.user_id,
            scope=grant.scope,
        )
        async with self._storage.unit_of_work() as uow:
            self.portal = await uow.portals.create(install, now=self.now())

    def now(self) -> datetime:
        return self.b24.clock.now()

    def add_user(
        self,
        user_id: int,
        name: str,
        last_name: str = "",
        *,
        admin: bool = False,
        active: bool = True,
        crm_access: Any = "all",
        time_zone: str = "",
        departments: Iterable[int] = (),
    ) -> None:
        self.b24.add_user(
            self.member_id,
            user_id,
            name=name,
            last_name=last_name,
            admin=admin,
            active=active,
            crm_access=crm_access,
            time_zone=time_zone,
            departments=departments,
        )

    def add_department(self, department_id: int, name: str, parent: int | None = None) -> None:
        self.b24.add_department(self.member_id, department_id, name, parent=parent)

    def add_deal(
        self, title: str, *, amount: float = 0.0, assigned_by_id: int = ADMIN, closed: bool = False
    ) -> OwnerRef:
        return self.b24.add_record(
            self.member_id,
            OwnerType.DEAL,
            title=title,
            stage_id="NEW",
            opportunity=amount,
            currency_id="USD",
            assigned_by_id=assigned_by_id,
            closed=closed,
        )

    def add_contact(self, name: str, last_name: str, *, assigned_by_id: int = ADMIN) -> OwnerRef:
        return self.b24.add_record(
            self.member_id,
            OwnerType.CONTACT,
            name=name,
            last_name=last_name,
            assigned_by_id=assigned_by_id,
        )

    def add_staged(
        self,
        owner_type: EntityType,
        title: str,
        *,
        stage_id: str,
        category_id: int = 0,
        amount: float = 0.0,
        assigned_by_id: int = ADMIN,
    ) -> OwnerRef:
        if isinstance(owner_type, SmartProcess):
            self.b24.add_smart_process(self.member_id, owner_type.type_id, "Projects")
        return self.b24.add_record(
            self.member_id,
            owner_type,
            title=title,
            stage_id=stage_id,
            category_id=category_id,
            opportunity=amount,
            currency_id="EUR",
            assigned_by_id=assigned_by_id,
        )

    def name_stage(
        self, owner_type: EntityType, category_id: int, stage_id: str, name: str
    ) -> None:
        if owner_type is OwnerType.LEAD:
            directory = "STATUS"
        elif owner_type is OwnerType.DEAL:
            directory = f"DEAL_STAGE_{category_id}" if category_id else "DEAL_STAGE"
        else:
            directory = f"DYNAMIC_{owner_type.type_id}_STAGE_{category_id}"
        self.b24.add_stage(self.member_id, directory, stage_id, name)

    def add_activity(
        self,
        owner: OwnerRef,
        *,
        deadline: datetime,
        responsible_id: int,
        completed: bool = False,
        provider_id: str = "CRM_TODO",
        subject: str = "",
        description: str = "",
    ) -> int:
        return self.b24.add_activity(
            self.member_id,
            owner,
            deadline=deadline,
            responsible_id=responsible_id,
            completed=completed,
            provider_id=provider_id,
            subject=subject,
            description=description,
        )

    def user_token(self, user_id: int) -> Secret:
        return Secret(self.b24.issue_tokens(self.member_id, user_id).access_token)

    def expire_user_tokens(self) -> None:
        self.b24.expire_access_tokens(self.member_id)

    def uninstall(self) -> None:
        self.b24.revoke_tokens(self.member_id)
        self.b24.portal(self.member_id).installed = False
        self.b24.portal(self.member_id).uninstalled = True

    def inbox(self, user_id: int) -> list[tuple[str, str]]:
        return [(m.message, m.tag or "") for m in self.b24.inbox(self.member_id, user_id)]

    def event_bindings(self) -> set[tuple[str, str]]:
        return {(b.event, b.handler) for b in self.b24.event_bindings(self.member_id)}

    def placement_bindings(self) -> set[tuple[str, str]]:
        return {(b.placement, b.handler) for b in self.b24.placement_bindings(self.member_id)}


@pytest.fixture(params=["memory", "emulator"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """The portal, once per implementation: every test must pass against both."""
    storage = MemoryStorage()
    try:
        if request.param == "memory":
            memory = MemoryWorld(storage)
            await memory.install()
            yield memory
            return
        clock = EmulatorClock(START, frozen=True)
        async with Bitrix24Emulator(clock=clock) as b24, aiohttp.ClientSession() as session:
            emulated = EmulatorWorld(b24, session, storage)
            await emulated.install()
            yield emulated
            assert b24.internal_errors == []
    finally:
        await storage.close()


def app(world: World) -> Crm:
    return world.connector.as_app(world.portal)


def user(world: World, user_id: int) -> Crm:
    return world.connector.as_user(world.portal, world.user_token(user_id))


def todo(
    owner: OwnerRef, deadline: datetime, *, responsible_id: int = ADMIN, **extra: Any
) -> TodoSpec:
    return TodoSpec(
        owner=owner,
        type=TouchPointType.CALL,
        deadline=deadline,
        responsible_id=responsible_id,
        title=extra.pop("title", "Call back"),
        description=extra.pop("description", "About the offer"),
        **extra,
    )


# ---------------------------------------------------------------- to-dos


async def test_a_created_todo_reads_back_as_an_open_crm_todo(world: World) -> None:
    deal = world.add_deal("Big deal")
    deadline = datetime(2026, 3, 5, 14, 30, tzinfo=PLUS3)
    activity_id = await app(world).create_todo(todo(deal, deadline, title="Call Anna"))
    found = await app(world).get_activities([activity_id])
    assert found == {
        activity_id: Activity(
            id=activity_id,
            owner=deal,
            deadline=deadline,
            responsible_id=ADMIN,
            completed=False,
            subject="Call Anna",
            provider_id="CRM_TODO",
        )
    }


async def test_a_follow_up_names_its_parent_activity(world: World) -> None:
    deal = world.add_deal("Deal")
    first = await app(world).create_todo(todo(deal, START + timedelta(days=1)))
    second = await app(world).create_todo(
        todo(deal, START + timedelta(days=4), parent_activity_id=first)
    )
    assert second != first
    assert set(await app(world).get_activities([first, second])) == {first, second}


async def test_moving_and_reassigning_a_todo_shows_in_the_crm(world: World) -> None:
    world.add_user(2, "Bob")
    deal = world.add_deal("Deal")
    crm = app(world)
    activity_id = await crm.create_todo(todo(deal, START + timedelta(days=1)))
    moved = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    await crm.update_deadline(activity_id, deal, moved)
    await crm.update_responsible(activity_id, deal, 2)
    activity = (await crm.get_activities([activity_id]))[activity_id]
    assert (activity.deadline, activity.responsible_id) == (moved, 2)


async def test_a_completed_todo_is_completed_and_can_no_longer_be_moved(world: World) -> None:
    deal = world.add_deal("Deal")
    crm = app(world)
    activity_id = await crm.create_todo(todo(deal, START + timedelta(days=1)))
    await crm.complete(activity_id)
    assert (await crm.get_activities([activity_id]))[activity_id].completed
    with pytest.raises(CrmInvalidInput):
        await crm.update_deadline(activity_id, deal, START + timedelta(days=2))
    with pytest.raises(CrmInvalidInput):
        await crm.update_responsible(activity_id, deal, ADMIN)


async def test_a_deleted_todo_is_gone_and_cannot_be_deleted_twice(world: World) -> None:
    deal = world.add_deal("Deal")
    crm = app(world)
    activity_id = await crm.create_todo(todo(deal, START + timedelta(days=1)))
    await crm.delete_activity(activity_id)
    assert await crm.get_activities([activity_id]) == {}
    with pytest.raises(CrmNotFound):
        await crm.delete_activity(activity_id)
    with pytest.raises(CrmNotFound):
        await crm.complete(activity_id)


async def test_a_todo_on_a_missing_record_is_not_found(world: World) -> None:
    with pytest.raises(CrmNotFound):
        await app(world).create_todo(todo(OwnerRef(OwnerType.DEAL, 999), START + timedelta(days=1)))


async def test_a_naive_deadline_is_invalid_input(world: World) -> None:
    deal = world.add_deal("Deal")
    naive = datetime(2026, 3, 5, 10, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(CrmInvalidInput):
        await app(world).create_todo(todo(deal, naive))


async def test_a_user_without_edit_rights_may_not_create_a_todo(world: World) -> None:
    world.add_user(3, "Reader", crm_access="none")
    deal = world.add_deal("Deal")
    with pytest.raises(CrmPermissionDenied):
        await user(world, 3).create_todo(todo(deal, START + timedelta(days=1), responsible_id=3))


# ---------------------------------------------------------------- activities


async def test_activities_by_id_leave_out_unknown_ids(world: World) -> None:
    deal = world.add_deal("Deal")
    known = world.add_activity(deal, deadline=START + timedelta(days=1), responsible_id=ADMIN)
    found = await app(world).get_activities([known, 9999])
    assert list(found) == [known]
    assert await app(world).get_activities([]) == {}


async def test_many_activities_by_id_are_all_found(world: World) -> None:
    deal = world.add_deal("Deal")
    ids = [
        world.add_activity(deal, deadline=START + timedelta(days=1), responsible_id=ADMIN)
        for _ in range(120)
    ]
    assert sorted(await app(world).get_activities(ids)) == ids


async def test_find_todos_lists_open_todos_created_after_an_instant(world: World) -> None:
    deal = world.add_deal("Deal")
    other = world.add_deal("Other")
    since = world.now() - timedelta(minutes=1)
    open_ids = [
        world.add_activity(deal, deadline=START + timedelta(days=i), responsible_id=ADMIN)
        for i in range(1, 56)
    ]
    world.add_activity(deal, deadline=START, responsible_id=ADMIN, completed=True)
    world.add_activity(deal, deadline=START, responsible_id=ADMIN, provider_id="CRM_MEETING")
    on_other = world.add_activity(other, deadline=START, responsible_id=ADMIN)
    found = await app(world).find_todos(owner=None, created_after=since)
    assert [a.id for a in found] == [*open_ids, on_other]
    assert [a.id for a in await app(world).find_todos(owner=other, created_after=since)] == [
        on_other
    ]
    assert (
        await app(world).find_todos(owner=None, created_after=world.now() + timedelta(hours=1))
        == []
    )


# ---------------------------------------------------------------- records


async def test_records_read_as_cards_and_missing_ones_as_hidden(world: World) -> None:
    deal = world.add_deal("Big deal", amount=1500.5)
    contact = world.add_contact("Anna", "Berg")
    missing = OwnerRef(OwnerType.LEAD, 404)
    cards = await app(world).read_records([deal, contact, missing])
    assert cards[deal] == RecordCard(
        ref=deal,
        title="Big deal",
        stage_id="NEW",
        amount=1500.5,
        currency="USD",
        assigned_by_id=ADMIN,
        closed=False,
    )
    contact_card = cards[contact]
    assert isinstance(contact_card, RecordCard)
    assert contact_card.title == "Anna Berg"
    assert cards[missing] == Hidden(ref=missing)


async def test_records_the_user_may_not_read_are_hidden_not_errors(world: World) -> None:
    world.add_user(4, "Own", crm_access="own")
    mine = world.add_deal("Mine", assigned_by_id=4)
    theirs = world.add_deal("Theirs", assigned_by_id=ADMIN)
    cards = await user(world, 4).read_records([mine, theirs])
    assert isinstance(cards[mine], RecordCard)
    assert cards[theirs] == Hidden(ref=theirs)


async def test_many_records_are_read_in_one_go(world: World) -> None:
    deals = [world.add_deal(f"Deal {i}") for i in range(120)]
    cards = await app(world).read_records(deals)
    assert all(isinstance(cards[ref], RecordCard) for ref in deals)


async def test_cards_read_records_and_todo_texts_together(world: World) -> None:
    deal = world.add_deal("Big deal")
    contact = world.add_contact("Anna", "Berg")
    created = await app(world).create_todo(
        todo(deal, START + timedelta(days=1), title="Call Anna", description="Ask about\nvolume")
    )
    seeded = world.add_activity(
        contact, deadline=START, responsible_id=ADMIN, subject="Visit", description=""
    )
    lookup = await app(world).read_cards([deal, contact], [created, seeded, 9999])
    assert isinstance(lookup.records[deal], RecordCard)
    assert isinstance(lookup.records[contact], RecordCard)
    assert lookup.todos == {
        created: TodoText(
            activity_id=created, subject="Call Anna", description="Ask about\nvolume"
        ),
        seeded: TodoText(activity_id=seeded, subject="Visit", description=""),
    }
    empty = await app(world).read_cards([], [])
    assert (dict(empty.records), dict(empty.todos)) == ({}, {})


async def test_todos_the_user_may_not_read_have_no_text(world: World) -> None:
    world.add_user(4, "Own", crm_access="own")
    mine = world.add_deal("Mine", assigned_by_id=4)
    theirs = world.add_deal("Theirs", assigned_by_id=ADMIN)
    own = world.add_activity(mine, deadline=START, responsible_id=4, subject="Mine")
    other = world.add_activity(theirs, deadline=START, responsible_id=ADMIN, subject="Secret")
    lookup = await user(world, 4).read_cards([mine, theirs], [own, other])
    assert list(lookup.todos) == [own]
    assert lookup.records[theirs] == Hidden(ref=theirs)


async def test_many_cards_are_read_in_one_go(world: World) -> None:
    deals = [world.add_deal(f"Deal {i}") for i in range(120)]
    ids = [
        world.add_activity(deal, deadline=START, responsible_id=ADMIN, subject=f"To-do {n}")
        for n, deal in enumerate(deals)
    ]
    lookup = await app(world).read_cards(deals, ids)
    assert all(isinstance(lookup.records[ref], RecordCard) for ref in deals)
    assert [lookup.todos[i].subject for i in ids] == [f"To-do {n}" for n in range(120)]


async def test_cards_read_with_stages_name_each_visible_records_stage(world: World) -> None:
    world.add_user(4, "Own", crm_access="own")
    projects = SmartProcess(1046)
    general = world.add_staged(
        OwnerType.DEAL, "General", stage_id="NEW", amount=125_000.5, assigned_by_id=4
    )
    world.name_stage(OwnerType.DEAL, 0, "NEW", "Negotiation")
    other = world.add_staged(
        OwnerType.DEAL, "Export", stage_id="C3:OFFER", category_id=3, assigned_by_id=4
    )
    world.name_stage(OwnerType.DEAL, 3, "C3:OFFER", "Offer sent")
    lead = world.add_staged(
        OwnerType.LEAD, "Lead", stage_id="IN_PROCESS", amount=900.0, assigned_by_id=4
    )
    world.name_stage(OwnerType.LEAD, 0, "IN_PROCESS", "Working")
    item = world.add_staged(
        projects, "Roll-out", stage_id="DT1046_7:NEW", category_id=7, assigned_by_id=4
    )
    world.name_stage(projects, 7, "DT1046_7:NEW", "Planning")
    contact = world.add_contact("Anna", "Berg", assigned_by_id=4)
    theirs = world.add_staged(
        OwnerType.DEAL, "Theirs", stage_id="C3:OFFER", category_id=3, amount=9e6
    )

    lookup = await user(world, 4).read_cards(
        [general, other, lead, item, contact, theirs], [], stages=True
    )

    def stage(ref: OwnerRef) -> tuple[str | None, float | None, str | None]:
        card = lookup.records[ref]
        assert isinstance(card, RecordCard), ref
        return card.stage_name, card.amount, card.currency

    assert stage(general) == ("Negotiation", 125_000.5, "EUR")
    assert stage(other)[0] == "Offer sent"
    assert stage(lead) == ("Working", 900.0, "EUR")
    assert stage(item)[0] == "Planning"
    assert stage(contact) == (None, None, None)
    assert lookup.records[theirs] == Hidden(ref=theirs)
    plain = await user(world, 4).read_cards([general], [])
    card = plain.records[general]
    assert isinstance(card, RecordCard)
    assert (card.stage_id, card.stage_name) == ("NEW", None)


async def test_search_finds_records_by_title_or_name(world: World) -> None:
    wanted = world.add_deal("Windows for Acme")
    world.add_deal("Doors for Beta")
    person = world.add_contact("Anna", "Berg")
    world.add_contact("Carl", "Ober")
    deals = await app(world).search_records(OwnerType.DEAL, "acme")
    assert [card.ref for card in deals] == [wanted]
    contacts = await app(world).search_records(OwnerType.CONTACT, "Berg")
    assert [card.ref for card in contacts] == [person]


async def test_open_records_leave_out_closed_deals(world: World) -> None:
    first = world.add_deal("Open 1")
    world.add_deal("Won", closed=True)
    second = world.add_deal("Open 2")
    cards = await app(world).open_records(OwnerType.DEAL)
    assert [card.ref for card in cards] == [first, second]


# ---------------------------------------------------------------- people


async def test_the_current_user_says_who_they_are_and_whether_they_are_admin(world: World) -> None:
    world.add_user(5, "Eve", "Stone", time_zone="Europe/Berlin")
    me = await user(world, 5).current_user()
    assert (me.id, me.is_admin, me.name, me.time_zone) == (5, False, "Eve Stone", "Europe/Berlin")
    admin = await app(world).current_user()
    assert (admin.id, admin.is_admin, admin.time_zone) == (ADMIN, True, "")


async def test_an_inactive_user_is_refused(world: World) -> None:
    world.add_user(6, "Gone", active=False)
    with pytest.raises(CrmPermissionDenied):
        await user(world, 6).current_user()


async def test_users_by_id_and_all_active_employees(world: World) -> None:
    world.add_department(3, "Sales")
    world.add_user(2, "Bob", "Kurz", departments=[3], time_zone="Europe/Moscow")
    world.add_user(7, "Old", active=False)
    chosen = await app(world).users([2, 7])
    assert [(u.id, u.name, u.department_ids, u.time_zone, u.active) for u in chosen] == [
        (2, "Bob Kurz", (3,), "Europe/Moscow", True),
        (7, "Old", (), "", False),
    ]
    everyone = await app(world).users()
    assert [u.id for u in everyone] == [ADMIN, 2]


async def test_departments_come_with_their_parents(world: World) -> None:
    world.add_department(1, "Company")
    world.add_department(3, "Sales", parent=1)
    departments = await app(world).departments()
    assert [(d.id, d.name, d.parent_id) for d in departments] == [
        (1, "Company", None),
        (3, "Sales", 1),
    ]


async def test_an_expired_frame_token_asks_for_a_new_session(world: World) -> None:
    world.add_user(2, "Bob")
    crm = user(world, 2)
    world.expire_user_tokens()
    with pytest.raises(CrmAuthExpired):
        await crm.current_user()


async def test_an_unknown_frame_token_asks_for_a_new_session(world: World) -> None:
    crm = world.connector.as_user(world.portal, Secret("not-a-token-of-this-portal"))
    with pytest.raises(CrmAuthExpired):
        await crm.current_user()


async def test_an_uninstalled_portal_is_gone(world: World) -> None:
    world.uninstall()
    with pytest.raises(PortalGone):
        await app(world).current_user()


# ---------------------------------------------------------------- bindings


async def test_event_bindings_are_idempotent(world: World) -> None:
    crm = app(world)
    await crm.bind_event("ONCRMACTIVITYUPDATE", HANDLER)
    await crm.bind_event("ONCRMACTIVITYUPDATE", HANDLER)
    assert world.event_bindings() == {("ONCRMACTIVITYUPDATE", HANDLER)}
    await crm.unbind_event("ONCRMACTIVITYUPDATE", HANDLER)
    assert world.event_bindings() == set()


async def test_placement_bindings_are_replaced_not_duplicated(world: World) -> None:
    crm = app(world)
    for _ in range(2):
        await crm.bind_placement("CRM_DEAL_DETAIL_TAB", APP_URL, "Touch-points", {"ru": "Касания"})
    assert world.placement_bindings() == {("CRM_DEAL_DETAIL_TAB", APP_URL)}
    await crm.unbind_placement("CRM_DEAL_DETAIL_TAB", APP_URL)
    assert world.placement_bindings() == set()


async def test_only_admins_bind_placements(world: World) -> None:
    world.add_user(2, "Bob")
    with pytest.raises(CrmPermissionDenied):
        await user(world, 2).bind_placement("CRM_DEAL_DETAIL_TAB", APP_URL, "TP", {})


async def test_menus_are_bound_and_unbound_together_without_duplicates(world: World) -> None:
    crm = app(world)
    menus = menu_bindings({OwnerType.DEAL})
    for _ in range(2):
        await crm.bind_placements(APP_URL, menus)
    assert world.placement_bindings() == {(m.code, APP_URL) for m in menus if m.bind}

    await crm.bind_placements(APP_URL, menu_bindings({OwnerType.LEAD}))

    codes = {code for code, _ in world.placement_bindings()}
    assert "CRM_LEAD_ACTIVITY_TIMELINE_MENU" in codes
    assert "CRM_DEAL_LIST_MENU" not in codes


async def test_only_admins_bind_menus(world: World) -> None:
    world.add_user(2, "Bob")
    with pytest.raises(CrmPermissionDenied):
        await user(world, 2).bind_placements(APP_URL, menu_bindings({OwnerType.DEAL}))


# ---------------------------------------------------------------- messaging


async def test_notifications_reach_inboxes_and_a_tag_replaces_the_earlier_one(
    world: World,
) -> None:
    world.add_user(2, "Bob")
    first = Notification(user_id=2, message="3 due today", tag="digest.2.2026-03-02")
    again = Notification(user_id=2, message="2 due today", tag="digest.2.2026-03-02")
    link = Notification(
        user_id=ADMIN, message="1 overdue", tag="digest.1.2026-03-02", attach=(("Board", APP_URL),)
    )
    assert await world.messenger.notify(world.portal, [first, link]) == [
        Delivery(user_id=2, ok=True),
        Delivery(user_id=ADMIN, ok=True),
    ]
    await world.messenger.notify(world.portal, [again])
    assert world.inbox(2) == [("2 due today", "digest.2.2026-03-02")]


async def test_a_notification_nobody_can_receive_fails_alone(world: World) -> None:
    deliveries = await world.messenger.notify(
        world.portal,
        [
            Notification(user_id=0, message="x", tag="t0"),
            Notification(user_id=ADMIN, message="   ", tag="t1"),
            Notification(user_id=ADMIN, message="ok", tag="t2"),
        ],
    )
    assert [(d.ok, d.error) for d in deliveries] == [
        (False, "USER_ID_EMPTY"),
        (False, "MESSAGE_EMPTY"),
        (True, ""),
    ]


async def test_many_notifications_each_get_a_delivery(world: World) -> None:
    for user_id in range(2, 62):
        world.add_user(user_id, f"U{user_id}")
    notes = [
        Notification(user_id=user_id, message=f"hi {user_id}", tag=f"t{user_id}")
        for user_id in range(2, 62)
    ]
    deliveries = await world.messenger.notify(world.portal, notes)
    assert [d.user_id for d in deliveries] == list(range(2, 62))
    assert all(d.ok for d in deliveries)


# ---------------------------------------------------------------- batched to-do writes


async def test_batched_todo_writes_move_reassign_complete_and_delete(world: World) -> None:
    world.add_user(2, "Bob")
    deal = world.add_deal("Deal")
    crm = app(world)
    ids = [await crm.create_todo(todo(deal, START + timedelta(days=n))) for n in range(1, 5)]
    moved = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    failed = await crm.change_todos(
        [
            TodoChange(activity_id=ids[0], owner=deal, deadline=moved),
            TodoChange(activity_id=ids[1], owner=deal, deadline=moved, responsible_id=2),
            TodoChange(activity_id=ids[2], owner=deal, complete=True),
            TodoChange(activity_id=ids[3], owner=deal, delete=True),
        ]
    )
    assert failed == {}
    found = await crm.get_activities(ids)
    assert (found[ids[0]].deadline, found[ids[0]].responsible_id) == (moved, ADMIN)
    assert (found[ids[1]].deadline, found[ids[1]].responsible_id) == (moved, 2)
    assert found[ids[2]].completed
    assert ids[3] not in found


async def test_a_failing_todo_write_fails_alone(world: World) -> None:
    deal = world.add_deal("Deal")
    crm = app(world)
    first, done, last = [
        await crm.create_todo(todo(deal, START + timedelta(days=n))) for n in range(1, 4)
    ]
    await crm.complete(done)
    await crm.delete_activity(last)
    moved = START + timedelta(days=7)
    failed = await crm.change_todos(
        [
            TodoChange(activity_id=first, owner=deal, deadline=moved),
            TodoChange(activity_id=done, owner=deal, deadline=moved),
            TodoChange(activity_id=last, owner=deal, delete=True),
        ]
    )
    assert set(failed) == {done, last}
    assert isinstance(failed[done], CrmInvalidInput)
    assert isinstance(failed[last], CrmNotFound)
    assert (await crm.get_activities([first]))[first].deadline == moved


async def test_todo_writes_without_edit_rights_are_refused_per_todo(world: World) -> None:
    world.add_user(5, "Reader", crm_access="none")
    deal = world.add_deal("Deal")
    activity_id = await app(world).create_todo(todo(deal, START + timedelta(days=1)))
    failed = await user(world, 5).change_todos(
        [TodoChange(activity_id=activity_id, owner=deal, deadline=START + timedelta(days=3))]
    )
    assert set(failed) == {activity_id}
    assert isinstance(failed[activity_id], CrmPermissionDenied | CrmNotFound)


async def test_many_todo_writes_all_land(world: World) -> None:
    deals = [world.add_deal(f"Deal {n}") for n in range(60)]
    ids = [
        world.add_activity(deal, deadline=START + timedelta(days=1), responsible_id=ADMIN)
        for deal in deals
    ]
    moved = START + timedelta(days=2)
    failed = await app(world).change_todos(
        [
            TodoChange(activity_id=activity_id, owner=deal, deadline=moved, responsible_id=ADMIN)
            for activity_id, deal in zip(ids, deals, strict=True)
        ]
    )
    assert failed == {}
    found = await app(world).get_activities(ids)
    assert {activity.deadline for activity in found.values()} == {moved}
    assert set(found) == set(ids)
