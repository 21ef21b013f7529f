"""The in-memory Bitrix24 world: portals, tokens and scripted failures, seeded by tests
and the demo, shared by the CRM, messenger and OAuth server fakes."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from touchpoints.adapters.clock import SystemClock
from touchpoints.adapters.memory.permissions import CrmAccess
from touchpoints.adapters.memory.state import (
    DEFAULT_SCOPE,
    OUR_APP,
    TODO_PROVIDER,
    InboxMessage,
    MemoryActivity,
    MemoryPortal,
    MemoryUser,
    PlacementBinding,
)
from touchpoints.domain.crm import Department, RecordCard, SmartProcessInfo, UserInfo
from touchpoints.domain.model import EntityType, OwnerRef, SmartProcess
from touchpoints.domain.portal import OAuthTokens, PortalInstall
from touchpoints.domain.secrets import Secret
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmAuthExpired, CrmError, PortalGone

ACCESS_TOKEN_TTL = timedelta(hours=1)  # BITRIX24.md §2.3
REFRESH_TOKEN_TTL = timedelta(days=180)


@attrs.define(kw_only=True)
class IssuedToken:
    """What an access or refresh token was issued for, and until when."""

    member_id: str
    user_id: int
    expires_at: datetime
    app: str = OUR_APP


class MemoryCrm:
    """The in-memory Bitrix24 world shared by the connector, messenger and OAuth server.

    Deterministic: ids are sequential per portal and nothing happens in the background.
    Seed it with ``add_portal``/``add_user``/``add_record``/``grant``; act as Bitrix24's UI
    with ``change_activity``/``remove_activity``; make the next port call fail with ``fail``.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._portals: dict[str, MemoryPortal] = {}
        self._access: dict[str, IssuedToken] = {}
        self._refresh: dict[str, IssuedToken] = {}
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
        info = UserInfo(
            id=user_id,
            name=name or f"User {user_id}",
            photo_url=photo_url,
            department_ids=tuple(departments),
            time_zone=time_zone,
            active=active,
            language=language,
        )
        portal.users[user_id] = MemoryUser(info=info, admin=admin, crm_access=crm_access)
        return user_id

    def add_department(
        self, member_id: str, department_id: int, name: str, *, parent_id: int | None = None
    ) -> int:
        self.portal(member_id).departments[department_id] = Department(
            id=department_id, name=name, parent_id=parent_id
        )
        return department_id

    def add_smart_process(self, member_id: str, entity_type_id: int, title: str) -> SmartProcess:
        """Add a smart-process type to a portal; records of it are added with ``add_record``."""
        kind = SmartProcess(entity_type_id)
        self.portal(member_id).smart_processes[entity_type_id] = SmartProcessInfo(
            type=kind, title=title
        )
        return kind

    def add_record(
        self,
        member_id: str,
        owner_type: EntityType,
        title: str = "",
        *,
        record_id: int | None = None,
        stage_id: str | None = None,
        amount: float | None = None,
        currency: str | None = None,
        assigned_by_id: int | None = None,
        closed: bool = False,
    ) -> OwnerRef:
        """Add a lead/deal/contact/company or a smart-process item; returns its reference."""
        portal = self.portal(member_id)
        key = f"record:{owner_type.value}"
        if record_id is None:
            record_id = portal.seq(key)
        portal.bump(key, record_id)
        ref = OwnerRef(owner_type, record_id)
        portal.records[ref] = RecordCard(
            ref=ref,
            title=title or f"{owner_type.value.title()} #{record_id}",
            stage_id=stage_id,
            amount=amount,
            currency=currency,
            assigned_by_id=assigned_by_id,
            closed=closed,
        )
        return ref

    def name_stage(self, member_id: str, owner_type: EntityType, stage_id: str, name: str) -> None:
        """Give a stage of leads, deals or a smart process its name (the CRM's stage settings)."""
        self.portal(member_id).stage_names[owner_type, stage_id] = name

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
        access, refresh, expires_at = self.issue(member_id, admin_id)
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
        access, _refresh, _expires = self.issue(member_id, user_id, app=app)
        return Secret(access)

    def issue_refresh_token(self, member_id: str, user_id: int) -> Secret:
        """A refresh token (``REFRESH_ID``) for a user."""
        _access, refresh, _expires = self.issue(member_id, user_id)
        return Secret(refresh)

    def set_payment_required(self, member_id: str, required: bool = True) -> None:
        self.portal(member_id).payment_required = required

    def issue(
        self, member_id: str, user_id: int, *, app: str = OUR_APP
    ) -> tuple[str, str, datetime]:
        """A fresh access and refresh token pair for a user; returns both and the access
        token's expiry."""
        if user_id not in self.portal(member_id).users:
            raise KeyError(f"no user {user_id} on portal {member_id}")
        now = self.clock.now()
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        expires_at = now + ACCESS_TOKEN_TTL
        self._access[access] = IssuedToken(
            member_id=member_id, user_id=user_id, expires_at=expires_at, app=app
        )
        self._refresh[refresh] = IssuedToken(
            member_id=member_id, user_id=user_id, expires_at=now + REFRESH_TOKEN_TTL, app=app
        )
        return access, refresh, expires_at

    def refresh_record(self, refresh_token: Secret) -> IssuedToken | None:
        """What a refresh token was issued for, while it is unspent and unexpired."""
        record = self._refresh.get(refresh_token.reveal())
        if record is None or record.expires_at <= self.clock.now():
            return None
        return record

    def spend_refresh_token(self, refresh_token: Secret) -> None:
        """Rotation: a redeemed refresh token dies at once."""
        del self._refresh[refresh_token.reveal()]

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

    # -------------------------------------------------------------- for the port fakes

    def enter(self, operation: str) -> None:
        """Count a port call and raise the failure ``fail`` queued for it, if any."""
        self.calls[operation] += 1
        pending = self._failures.get(operation)
        if pending:
            raise pending.pop(0)

    def live_portal(self, member_id: str) -> MemoryPortal:
        """The portal, if it exists and has the app installed.

        Raises: PortalGone.
        """
        portal = self._portals.get(member_id)
        if portal is None or portal.uninstalled:
            raise PortalGone("the app is not installed on this portal", code="invalid_client")
        return portal

    def app_id(self, app: str) -> str:
        """The portal-local numeric id ``app.info`` reports for an app (ours is 1)."""
        return str(self._apps.setdefault(app, len(self._apps) + 1))

    def token_app(self, token: Secret | None) -> str:
        """The app an access token was issued to (ours when there is no token)."""
        record = None if token is None else self._access.get(token.reveal())
        return OUR_APP if record is None else record.app

    def token_user(self, member_id: str, token: Secret) -> MemoryUser:
        """The user a live access token of this portal acts as.

        Raises: PortalGone (not installed), CrmAuthExpired (unknown, expired or orphaned token).
        """
        portal = self.live_portal(member_id)
        record = self._access.get(token.reveal())
        if record is None or record.member_id != member_id:
            raise CrmAuthExpired("unknown access token", code="NO_AUTH_FOUND")
        if self.clock.now() >= record.expires_at:
            raise CrmAuthExpired("the access token expired", code="expired_token")
        user = portal.users.get(record.user_id)
        if user is None:
            raise CrmAuthExpired("the token's user is gone", code="NO_AUTH_FOUND")
        return user
