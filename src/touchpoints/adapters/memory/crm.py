"""In-memory Bitrix24: CRM, messenger and OAuth server fakes over one deterministic world."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import attrs

from touchpoints.adapters.clock import SystemClock
from touchpoints.adapters.memory.permissions import CrmAccess, crm_allows
from touchpoints.domain.crm import (
    Activity,
    AppInfo,
    CurrentUser,
    Department,
    RecordCard,
    TodoSpec,
    TodoText,
    UserInfo,
)
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPointType
from touchpoints.domain.portal import OAuthTokens, Portal, PortalInstall
from touchpoints.domain.secrets import Secret
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import (
    CardLookup,
    CrmAuthExpired,
    CrmConnector,
    CrmError,
    CrmInvalidInput,
    CrmNotFound,
    CrmPermissionDenied,
    Hidden,
    OAuthServer,
    PortalGone,
    RecordLookup,
    TokenGrant,
)
from touchpoints.ports.messaging import Delivery, Messenger, Notification

ACCESS_TOKEN_TTL = timedelta(hours=1)  # BITRIX24.md §2.3
REFRESH_TOKEN_TTL = timedelta(days=180)
ATTACH_MAX = 60_000  # serialised ATTACH characters (BITRIX24.md §15)
TODO_PROVIDER = "CRM_TODO"
DEFAULT_SCOPE = "crm,im,placement,user_brief,department"


# ------------------------------------------------------------------ world state


@attrs.define(kw_only=True)
class MemoryUser:
    """A portal user; ``crm_access`` is ``all`` records, ``own`` (assigned) or ``none``."""

    id: int
    name: str
    admin: bool = False
    active: bool = True
    time_zone: str = ""
    department_ids: tuple[int, ...] = ()
    photo_url: str | None = None
    language: str | None = None
    crm_access: CrmAccess = "all"


@attrs.define(kw_only=True)
class MemoryRecord:
    """A lead, deal, contact or company; ``title`` is a contact's full name."""

    ref: OwnerRef
    title: str
    stage_id: str | None = None
    amount: float | None = None
    currency: str | None = None
    assigned_by_id: int | None = None
    closed: bool = False

    def card(self) -> RecordCard:
        return RecordCard(
            ref=self.ref,
            title=self.title,
            stage_id=self.stage_id,
            amount=self.amount,
            currency=self.currency,
            assigned_by_id=self.assigned_by_id,
            closed=self.closed,
        )


@attrs.define(kw_only=True)
class MemoryActivity:
    """A CRM activity; to-dos have ``provider_id == "CRM_TODO"``."""

    id: int
    owner: OwnerRef
    deadline: datetime
    responsible_id: int
    author_id: int
    created_at: datetime
    subject: str = ""
    description: str = ""
    completed: bool = False
    provider_id: str = TODO_PROVIDER
    type: TouchPointType | None = None
    parent_activity_id: int | None = None

    def to_domain(self) -> Activity:
        return Activity(
            id=self.id,
            owner=self.owner,
            deadline=self.deadline,
            responsible_id=self.responsible_id,
            completed=self.completed,
            subject=self.subject,
            provider_id=self.provider_id,
        )


@attrs.frozen(kw_only=True)
class InboxMessage:
    """One IM system notification as a user sees it."""

    id: int
    user_id: int
    message: str
    tag: str
    attach: tuple[tuple[str, str], ...]
    created_at: datetime


@attrs.frozen(kw_only=True)
class PlacementBinding:
    placement: str
    handler: str
    title: str
    lang_all: Mapping[str, str]


# The app every token is issued to unless a test names another one of the portal's apps.
OUR_APP = "touchpoints"


@attrs.define(kw_only=True)
class _Token:
    member_id: str
    user_id: int
    expires_at: datetime
    app: str = OUR_APP


@attrs.define(kw_only=True)
class MemoryPortal:
    """One portal's users, CRM data, app bindings and IM inboxes."""

    member_id: str
    domain: str
    time_zone: str = "UTC"
    scope: str = DEFAULT_SCOPE
    application_token: Secret = attrs.field(factory=lambda: Secret(secrets.token_hex(16)))
    users: dict[int, MemoryUser] = attrs.Factory(dict)
    departments: dict[int, Department] = attrs.Factory(dict)
    records: dict[OwnerRef, MemoryRecord] = attrs.Factory(dict)
    activities: dict[int, MemoryActivity] = attrs.Factory(dict)
    grants: dict[tuple[int, OwnerRef], Literal["read", "edit"]] = attrs.Factory(dict)
    event_bindings: set[tuple[str, str]] = attrs.Factory(set)
    placement_bindings: dict[tuple[str, str], PlacementBinding] = attrs.Factory(dict)
    inbox: list[InboxMessage] = attrs.Factory(list)
    installed_by: int | None = None
    uninstalled: bool = False
    payment_required: bool = False
    sequences: Counter[str] = attrs.Factory(Counter)

    def seq(self, name: str) -> int:
        self.sequences[name] += 1
        return self.sequences[name]

    def bump(self, name: str, used: int) -> None:
        self.sequences[name] = max(self.sequences[name], used)

    @property
    def client_endpoint(self) -> str:
        return f"https://{self.domain}/rest/"

    def can_read(self, user: MemoryUser, ref: OwnerRef) -> bool:
        return self._allowed(user, ref, edit=False)

    def can_edit(self, user: MemoryUser, ref: OwnerRef) -> bool:
        return self._allowed(user, ref, edit=True)

    def _allowed(self, user: MemoryUser, ref: OwnerRef, *, edit: bool) -> bool:
        record = self.records.get(ref)
        if record is None:
            return False
        return crm_allows(
            admin=user.admin,
            access=user.crm_access,
            user_id=user.id,
            assigned_by_id=record.assigned_by_id,
            grant=self.grants.get((user.id, ref)),
            edit=edit,
        )


class MemoryCrm:
    """The in-memory Bitrix24 world shared by the connector, messenger and OAuth server.

    Deterministic: ids are sequential per portal and nothing happens in the background.
    Seed it with ``add_portal``/``add_user``/``add_record``/``grant``; act as Bitrix24's UI
    with ``change_activity``/``remove_activity``; make the next port call fail with ``fail``.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._portals: dict[str, MemoryPortal] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._failures: dict[str, list[CrmError]] = {}
        self._apps: dict[str, int] = {OUR_APP: 1}
        self.calls: Counter[str] = Counter()

    # -------------------------------------------------------------- seeding

    def add_portal(
        self,
        member_id: str | None = None,
        *,
        domain: str | None = None,
        time_zone: str = "UTC",
        scope: str = DEFAULT_SCOPE,
    ) -> str:
        """Create a portal; returns its ``member_id``."""
        member_id = member_id or secrets.token_hex(16)
        if member_id in self._portals:
            raise ValueError(f"portal {member_id} exists")
        self._portals[member_id] = MemoryPortal(
            member_id=member_id,
            domain=domain or f"portal-{len(self._portals) + 1}.bitrix24.test",
            time_zone=time_zone,
            scope=scope,
        )
        return member_id

    def portal(self, member_id: str) -> MemoryPortal:
        try:
            return self._portals[member_id]
        except KeyError:
            raise KeyError(f"no portal {member_id!r}") from None

    def add_user(
        self,
        member_id: str,
        user_id: int | None = None,
        *,
        name: str = "",
        admin: bool = False,
        active: bool = True,
        time_zone: str = "",
        departments: Iterable[int] = (),
        photo_url: str | None = None,
        language: str | None = None,
        crm_access: CrmAccess = "all",
    ) -> int:
        """Add (or replace) a user; returns the id."""
        portal = self.portal(member_id)
        if user_id is None:
            user_id = portal.seq("user")
        portal.bump("user", user_id)
        portal.users[user_id] = MemoryUser(
            id=user_id,
            name=name or f"User {user_id}",
            admin=admin,
            active=active,
            time_zone=time_zone,
            department_ids=tuple(departments),
            photo_url=photo_url,
            language=language,
            crm_access=crm_access,
        )
        return user_id

    def add_department(
        self, member_id: str, department_id: int, name: str, *, parent_id: int | None = None
    ) -> int:
        self.portal(member_id).departments[department_id] = Department(
            id=department_id, name=name, parent_id=parent_id
        )
        return department_id

    def add_record(
        self,
        member_id: str,
        owner_type: OwnerType,
        title: str = "",
        *,
        record_id: int | None = None,
        stage_id: str | None = None,
        amount: float | None = None,
        currency: str | None = None,
        assigned_by_id: int | None = None,
        closed: bool = False,
    ) -> OwnerRef:
        """Add a lead/deal/contact/company; returns its reference."""
        portal = self.portal(member_id)
        key = f"record:{owner_type.value}"
        if record_id is None:
            record_id = portal.seq(key)
        portal.bump(key, record_id)
        ref = OwnerRef(owner_type, record_id)
        portal.records[ref] = MemoryRecord(
            ref=ref,
            title=title or f"{owner_type.value.title()} #{record_id}",
            stage_id=stage_id,
            amount=amount,
            currency=currency,
            assigned_by_id=assigned_by_id,
            closed=closed,
        )
        return ref

    def remove_record(self, member_id: str, ref: OwnerRef) -> None:
        """Delete a record and, as the Bitrix24 emulator does by default, its activities."""
        portal = self.portal(member_id)
        portal.records.pop(ref, None)
        portal.activities = {i: a for i, a in portal.activities.items() if a.owner != ref}

    def grant(
        self, member_id: str, user_id: int, ref: OwnerRef, *, read: bool = True, edit: bool = False
    ) -> None:
        """Let a user read (and optionally edit) one record beyond their ``crm_access``."""
        portal = self.portal(member_id)
        if edit:
            portal.grants[(user_id, ref)] = "edit"
        elif read:
            portal.grants[(user_id, ref)] = "read"
        else:
            portal.grants.pop((user_id, ref), None)

    def add_activity(
        self,
        member_id: str,
        owner: OwnerRef,
        *,
        deadline: datetime,
        responsible_id: int,
        subject: str = "",
        description: str = "",
        completed: bool = False,
        provider_id: str = TODO_PROVIDER,
        author_id: int | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Seed an activity as if made in Bitrix24 itself; returns its id."""
        portal = self.portal(member_id)
        activity = MemoryActivity(
            id=portal.seq("activity"),
            owner=owner,
            deadline=deadline,
            responsible_id=responsible_id,
            author_id=author_id or responsible_id,
            created_at=created_at or self.clock.now(),
            subject=subject,
            description=description,
            completed=completed,
            provider_id=provider_id,
        )
        portal.activities[activity.id] = activity
        return activity.id

    # -------------------------------------------------------------- changes "in Bitrix24"

    def change_activity(
        self,
        member_id: str,
        activity_id: int,
        *,
        deadline: datetime | None = None,
        responsible_id: int | None = None,
        completed: bool | None = None,
    ) -> None:
        """Edit an activity as a user would in the Bitrix24 UI (no rights checked)."""
        activity = self.portal(member_id).activities[activity_id]
        if deadline is not None:
            activity.deadline = deadline
        if responsible_id is not None:
            activity.responsible_id = responsible_id
        if completed is not None:
            activity.completed = completed

    def remove_activity(self, member_id: str, activity_id: int) -> None:
        self.portal(member_id).activities.pop(activity_id, None)

    # -------------------------------------------------------------- install, tokens

    def install(self, member_id: str, admin_id: int) -> PortalInstall:
        """Install the app by an admin: what a verified token reply establishes."""
        portal = self.portal(member_id)
        user = portal.users.get(admin_id)
        if user is None or not user.admin:
            raise ValueError(f"user {admin_id} is not an admin of {member_id}")
        portal.uninstalled = False
        portal.installed_by = admin_id
        access, refresh, expires_at = self._issue(member_id, admin_id)
        return PortalInstall(
            member_id=member_id,
            client_endpoint=portal.client_endpoint,
            domain=portal.domain,
            application_token=portal.application_token,
            tokens=OAuthTokens(
                access_token=Secret(access), refresh_token=Secret(refresh), expires_at=expires_at
            ),
            installed_by=admin_id,
            scope=portal.scope,
        )

    def uninstall(self, member_id: str) -> None:
        """Uninstall: every token dies, bindings go (BITRIX24.md §8.4)."""
        portal = self.portal(member_id)
        portal.uninstalled = True
        portal.event_bindings.clear()
        portal.placement_bindings.clear()
        self._access = {k: t for k, t in self._access.items() if t.member_id != member_id}
        self._refresh = {k: t for k, t in self._refresh.items() if t.member_id != member_id}

    def issue_token(self, member_id: str, user_id: int, *, app: str = OUR_APP) -> Secret:
        """A frame access token (``AUTH_ID``) for a user, valid for an hour.

        ``app`` names another app installed on the portal: its tokens work on the portal
        but ``app.info`` tells them apart from ours.
        """
        access, _refresh, _expires = self._issue(member_id, user_id, app=app)
        return Secret(access)

    def issue_refresh_token(self, member_id: str, user_id: int) -> Secret:
        """A refresh token (``REFRESH_ID``) for a user."""
        _access, refresh, _expires = self._issue(member_id, user_id)
        return Secret(refresh)

    def set_payment_required(self, member_id: str, required: bool = True) -> None:
        self.portal(member_id).payment_required = required

    def _issue(
        self, member_id: str, user_id: int, *, app: str = OUR_APP
    ) -> tuple[str, str, datetime]:
        if user_id not in self.portal(member_id).users:
            raise KeyError(f"no user {user_id} on portal {member_id}")
        now = self.clock.now()
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        expires_at = now + ACCESS_TOKEN_TTL
        self._access[access] = _Token(
            member_id=member_id, user_id=user_id, expires_at=expires_at, app=app
        )
        self._refresh[refresh] = _Token(
            member_id=member_id, user_id=user_id, expires_at=now + REFRESH_TOKEN_TTL, app=app
        )
        return access, refresh, expires_at

    # -------------------------------------------------------------- inspection

    def activity(self, member_id: str, activity_id: int) -> MemoryActivity | None:
        return self.portal(member_id).activities.get(activity_id)

    def inbox(self, member_id: str, user_id: int) -> list[InboxMessage]:
        """A user's notifications, oldest first; a resend with the same TAG replaced one."""
        return [m for m in self.portal(member_id).inbox if m.user_id == user_id]

    def event_bindings(self, member_id: str) -> set[tuple[str, str]]:
        return set(self.portal(member_id).event_bindings)

    def placement_bindings(self, member_id: str) -> list[PlacementBinding]:
        return list(self.portal(member_id).placement_bindings.values())

    # -------------------------------------------------------------- failures

    def fail(self, operation: str, error: CrmError, *, times: int = 1) -> None:
        """Make the next ``times`` calls of a port operation (e.g. ``"create_todo"``,
        ``"notify"``, ``"refresh"``) raise ``error``."""
        self._failures.setdefault(operation, []).extend([error] * times)

    def _enter(self, operation: str) -> None:
        self.calls[operation] += 1
        pending = self._failures.get(operation)
        if pending:
            raise pending.pop(0)

    def _live_portal(self, member_id: str) -> MemoryPortal:
        portal = self._portals.get(member_id)
        if portal is None or portal.uninstalled:
            raise PortalGone("the app is not installed on this portal", code="invalid_client")
        return portal

    def app_id(self, app: str) -> str:
        """The portal-local numeric id ``app.info`` reports for an app (ours is 1)."""
        return str(self._apps.setdefault(app, len(self._apps) + 1))

    def _token_app(self, token: Secret | None) -> str:
        record = None if token is None else self._access.get(token.reveal())
        return OUR_APP if record is None else record.app

    def _token_user(self, member_id: str, token: Secret) -> MemoryUser:
        portal = self._live_portal(member_id)
        record = self._access.get(token.reveal())
        if record is None or record.member_id != member_id:
            raise CrmAuthExpired("unknown access token", code="NO_AUTH_FOUND")
        if self.clock.now() >= record.expires_at:
            raise CrmAuthExpired("the access token expired", code="expired_token")
        user = portal.users.get(record.user_id)
        if user is None:
            raise CrmAuthExpired("the token's user is gone", code="NO_AUTH_FOUND")
        return user


# ------------------------------------------------------------------ the CRM port


class MemoryCrmSession:
    """``Crm`` for one portal as one user (a frame token) or as the installing admin."""

    def __init__(
        self,
        world: MemoryCrm,
        member_id: str,
        *,
        token: Secret | None = None,
        user_id: int | None = None,
    ) -> None:
        self._world = world
        self._member_id = member_id
        self._token = token
        self._user_id = user_id

    def _begin(self, operation: str) -> tuple[MemoryPortal, MemoryUser]:
        self._world._enter(operation)
        if self._token is not None:
            token_user = self._world._token_user(self._member_id, self._token)
            return self._world.portal(self._member_id), token_user
        portal = self._world._live_portal(self._member_id)
        user_id = self._user_id or portal.installed_by
        app_user = portal.users.get(user_id or 0)
        if app_user is None:
            raise PortalGone("the installing user is gone", code="NO_AUTH_FOUND")
        return portal, app_user

    # -------------------------------------------------------------- to-dos

    async def create_todo(self, spec: TodoSpec) -> int:
        portal, user = self._begin("create_todo")
        _check_deadline(spec.deadline)
        if spec.owner not in portal.records:
            raise CrmNotFound(f"no {spec.owner.type.value} {spec.owner.id}", code="NOT_FOUND")
        if not portal.can_edit(user, spec.owner):
            raise CrmPermissionDenied("no edit rights on the record", code="ACCESS_DENIED")
        if spec.responsible_id <= 0:
            raise CrmInvalidInput("responsible must be a user id", code="INVALID_ARG_VALUE")
        activity = MemoryActivity(
            id=portal.seq("activity"),
            owner=spec.owner,
            deadline=spec.deadline,
            responsible_id=spec.responsible_id,
            author_id=user.id,
            created_at=self._world.clock.now(),
            subject=spec.title,
            description=spec.description,
            type=spec.type,
            parent_activity_id=spec.parent_activity_id,
        )
        portal.activities[activity.id] = activity
        return activity.id

    def _todo(
        self, portal: MemoryPortal, user: MemoryUser, activity_id: int, owner: OwnerRef
    ) -> MemoryActivity:
        activity = portal.activities.get(activity_id)
        if activity is None or activity.owner != owner or activity.provider_id != TODO_PROVIDER:
            raise CrmNotFound(f"no to-do {activity_id} on that record", code="NOT_FOUND")
        if owner not in portal.records:
            raise CrmNotFound(f"no {owner.type.value} {owner.id}", code="OWNER_NOT_FOUND")
        if not portal.can_edit(user, owner):
            raise CrmPermissionDenied("no edit rights on the record", code="ACCESS_DENIED")
        return activity

    async def update_deadline(self, activity_id: int, owner: OwnerRef, deadline: datetime) -> None:
        portal, user = self._begin("update_deadline")
        _check_deadline(deadline)
        activity = self._todo(portal, user, activity_id, owner)
        if activity.completed:
            raise CrmInvalidInput(
                "a completed to-do cannot be moved", code="CAN_NOT_UPDATE_COMPLETED_TODO"
            )
        activity.deadline = deadline

    async def update_responsible(self, activity_id: int, owner: OwnerRef, user_id: int) -> None:
        portal, user = self._begin("update_responsible")
        if user_id <= 0:
            raise CrmInvalidInput("responsible must be a user id", code="INVALID_ARG_VALUE")
        activity = self._todo(portal, user, activity_id, owner)
        if activity.completed:
            raise CrmInvalidInput(
                "a completed to-do cannot be reassigned",
                code="CAN_NOT_UPDATE_RESPONSIBLE_USER_COMPLETED_TODO",
            )
        activity.responsible_id = user_id

    async def complete(self, activity_id: int) -> None:
        portal, user = self._begin("complete")
        activity = self._editable(portal, user, activity_id)
        activity.completed = True

    async def delete_activity(self, activity_id: int) -> None:
        portal, user = self._begin("delete_activity")
        self._editable(portal, user, activity_id)
        del portal.activities[activity_id]

    def _editable(self, portal: MemoryPortal, user: MemoryUser, activity_id: int) -> MemoryActivity:
        activity = portal.activities.get(activity_id)
        if activity is None:
            raise CrmNotFound(f"no activity {activity_id}", code="")
        if not portal.can_edit(user, activity.owner):
            raise CrmPermissionDenied("no edit rights on the record", code="")
        return activity

    async def get_activities(self, activity_ids: Sequence[int]) -> dict[int, Activity]:
        portal, user = self._begin("get_activities")
        found: dict[int, Activity] = {}
        for activity_id in activity_ids:
            activity = portal.activities.get(activity_id)
            if activity is not None and portal.can_read(user, activity.owner):
                found[activity_id] = activity.to_domain()
        return found

    async def missing_activities(self, activity_ids: Sequence[int]) -> set[int]:
        portal, _user = self._begin("missing_activities")
        return {activity_id for activity_id in activity_ids if activity_id not in portal.activities}

    async def find_todos(
        self, *, owner: OwnerRef | None, created_after: datetime
    ) -> list[Activity]:
        portal, user = self._begin("find_todos")
        return [
            a.to_domain()
            for a in sorted(portal.activities.values(), key=lambda a: a.id)
            if a.provider_id == TODO_PROVIDER
            and not a.completed
            and a.created_at > created_after
            and (owner is None or a.owner == owner)
            and portal.can_read(user, a.owner)
        ]

    # -------------------------------------------------------------- records

    async def read_records(self, refs: Iterable[OwnerRef]) -> RecordLookup:
        portal, user = self._begin("read_records")
        return self._records(portal, user, refs)

    async def read_cards(self, refs: Iterable[OwnerRef], activity_ids: Iterable[int]) -> CardLookup:
        portal, user = self._begin("read_cards")
        todos: dict[int, TodoText] = {}
        for activity_id in activity_ids:
            activity = portal.activities.get(activity_id)
            if activity is not None and portal.can_read(user, activity.owner):
                todos[activity_id] = TodoText(
                    activity_id=activity_id,
                    subject=activity.subject,
                    description=activity.description,
                )
        return CardLookup(records=self._records(portal, user, refs), todos=todos)

    @staticmethod
    def _records(
        portal: MemoryPortal, user: MemoryUser, refs: Iterable[OwnerRef]
    ) -> dict[OwnerRef, RecordCard | Hidden]:
        lookup: dict[OwnerRef, RecordCard | Hidden] = {}
        for ref in refs:
            record = portal.records.get(ref)
            if record is None or not portal.can_read(user, ref):
                lookup[ref] = Hidden(ref=ref)
            else:
                lookup[ref] = record.card()
        return lookup

    async def search_records(
        self, owner_type: OwnerType, text: str, *, limit: int = 20
    ) -> list[RecordCard]:
        portal, user = self._begin("search_records")
        needle = text.strip().casefold()
        hits = [
            r.card()
            for ref, r in sorted(portal.records.items(), key=lambda item: item[0].id)
            if ref.type is owner_type
            and needle in r.title.casefold()
            and portal.can_read(user, ref)
        ]
        return hits[: max(limit, 0)]

    async def open_records(self, owner_type: OwnerType, *, limit: int = 500) -> list[RecordCard]:
        portal, user = self._begin("open_records")
        hits = [
            r.card()
            for ref, r in sorted(portal.records.items(), key=lambda item: item[0].id)
            if ref.type is owner_type and not r.closed and portal.can_read(user, ref)
        ]
        return hits[: max(limit, 0)]

    # -------------------------------------------------------------- people

    async def current_user(self) -> CurrentUser:
        _portal, user = self._begin("current_user")
        if not user.active:
            # `profile` returns an empty object for an inactive user (BITRIX24.md §13).
            raise CrmPermissionDenied("the user is not active", code="")
        return CurrentUser(
            id=user.id,
            is_admin=user.admin,
            name=user.name,
            time_zone=user.time_zone,
            photo_url=user.photo_url,
        )

    async def app_info(self) -> AppInfo:
        self._begin("app_info")
        app = self._world._token_app(self._token)
        return AppInfo(id=self._world.app_id(app), code=app, installed=True)

    async def users(self, user_ids: Iterable[int] | None = None) -> list[UserInfo]:
        portal, _user = self._begin("users")
        if user_ids is None:
            chosen = [u for u in portal.users.values() if u.active]
        else:
            wanted = set(user_ids)
            chosen = [u for u in portal.users.values() if u.id in wanted]
        return [_user_info(u) for u in sorted(chosen, key=lambda u: u.id)]

    async def departments(self) -> list[Department]:
        portal, _user = self._begin("departments")
        return sorted(portal.departments.values(), key=lambda d: d.id)

    # -------------------------------------------------------------- bindings

    async def bind_event(self, event: str, handler: str) -> None:
        portal, _user = self._begin("bind_event")
        portal.event_bindings.add((event.upper(), handler))

    async def unbind_event(self, event: str, handler: str) -> None:
        portal, _user = self._begin("unbind_event")
        portal.event_bindings.discard((event.upper(), handler))

    async def bind_placement(
        self, placement: str, handler: str, title: str, lang_all: Mapping[str, str]
    ) -> None:
        portal, user = self._begin("bind_placement")
        _require_admin(user)
        portal.placement_bindings[(placement, handler)] = PlacementBinding(
            placement=placement, handler=handler, title=title, lang_all=dict(lang_all)
        )

    async def unbind_placement(self, placement: str, handler: str) -> None:
        portal, user = self._begin("unbind_placement")
        _require_admin(user)
        portal.placement_bindings.pop((placement, handler), None)


class MemoryCrmConnector:
    """``CrmConnector`` over a ``MemoryCrm`` world."""

    def __init__(self, world: MemoryCrm) -> None:
        self._world = world

    def as_user(
        self, portal: Portal, access_token: Secret, *, verifying: bool = False
    ) -> MemoryCrmSession:
        return MemoryCrmSession(self._world, portal.member_id, token=access_token)

    async def revalidate(self, portal: Portal) -> None:
        """Tokens are not modelled here: an installed portal's refresh always works."""
        self._world._enter("refresh")
        self._world._live_portal(portal.member_id)

    def as_app(self, portal: Portal) -> MemoryCrmSession:
        """Acts as the installing admin; tokens are not modelled on this side."""
        return MemoryCrmSession(self._world, portal.member_id, user_id=portal.installed_by)


# ------------------------------------------------------------------ messaging and OAuth


class MemoryMessenger:
    """``Messenger``: system notifications into the world's inboxes, TAG replacing."""

    def __init__(self, world: MemoryCrm) -> None:
        self._world = world

    async def notify(self, portal: Portal, notifications: Sequence[Notification]) -> list[Delivery]:
        self._world._enter("notify")
        state = self._world._live_portal(portal.member_id)
        return [self._send(state, n) for n in notifications]

    def _send(self, portal: MemoryPortal, notification: Notification) -> Delivery:
        user_id = notification.user_id
        if user_id <= 0:
            return Delivery(user_id=user_id, ok=False, error="USER_ID_EMPTY")
        message = notification.message.strip()
        if not message:
            return Delivery(user_id=user_id, ok=False, error="MESSAGE_EMPTY")
        attach = [{"LINK": {"NAME": name, "LINK": url}} for name, url in notification.attach]
        if len(json.dumps(attach, ensure_ascii=False)) > ATTACH_MAX:
            return Delivery(user_id=user_id, ok=False, error="ATTACH_OVERSIZE")
        recipient = portal.users.get(user_id)
        if recipient is None or not recipient.active:
            # im.notify.system.add answers `false`: nothing was created (BITRIX24.md §15).
            return Delivery(user_id=user_id, ok=False, error="NOT_CREATED")
        if notification.tag:
            portal.inbox = [m for m in portal.inbox if m.tag != notification.tag]
        portal.inbox.append(
            InboxMessage(
                id=portal.seq("im"),
                user_id=user_id,
                message=message,
                tag=notification.tag,
                attach=notification.attach,
                created_at=self._world.clock.now(),
            )
        )
        return Delivery(user_id=user_id, ok=True)


class MemoryOAuthServer:
    """``OAuthServer``: redeems refresh tokens with rotation (the old one dies at once)."""

    def __init__(self, world: MemoryCrm) -> None:
        self._world = world

    async def refresh(self, refresh_token: Secret) -> TokenGrant:
        world = self._world
        world._enter("refresh")
        record = world._refresh.get(refresh_token.reveal())
        if record is None or record.expires_at <= world.clock.now():
            raise PortalGone("the refresh token is not valid", code="invalid_grant")
        portal = world._live_portal(record.member_id)
        if portal.payment_required:
            raise PortalGone("the portal must pay for the app", code="PAYMENT_REQUIRED")
        del world._refresh[refresh_token.reveal()]
        access, refresh, expires_at = world._issue(record.member_id, record.user_id)
        return TokenGrant(
            member_id=portal.member_id,
            client_endpoint=portal.client_endpoint,
            domain=portal.domain,
            tokens=OAuthTokens(
                access_token=Secret(access), refresh_token=Secret(refresh), expires_at=expires_at
            ),
            scope=portal.scope,
            user_id=record.user_id,
        )


# ------------------------------------------------------------------ helpers


def _check_deadline(deadline: datetime) -> None:
    if deadline.tzinfo is None or deadline.utcoffset() is None:
        raise CrmInvalidInput("a deadline needs an offset", code="WRONG_DATETIME_FORMAT")


def _require_admin(user: MemoryUser) -> None:
    if not user.admin:
        raise CrmPermissionDenied("placements are admin-only", code="ACCESS_DENIED")


def _user_info(user: MemoryUser) -> UserInfo:
    return UserInfo(
        id=user.id,
        name=user.name,
        photo_url=user.photo_url,
        department_ids=user.department_ids,
        time_zone=user.time_zone,
        active=user.active,
        language=user.language,
    )


if TYPE_CHECKING:  # mypy checks that the fakes conform to the ports

    def _conforms(world: MemoryCrm) -> tuple[CrmConnector, Messenger, OAuthServer]:
        return MemoryCrmConnector(world), MemoryMessenger(world), MemoryOAuthServer(world)
