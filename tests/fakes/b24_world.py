"""The emulated Bitrix24 world: portals, users, CRM records, activities, tokens, inboxes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import attrs

from touchpoints.adapters.memory.permissions import CrmAccess, crm_allows
from touchpoints.domain.model import OwnerRef, OwnerType

ENTITY_NAMES = {1: "LEAD", 2: "DEAL", 3: "CONTACT", 4: "COMPANY"}
ACCESS_TOKEN_TTL = 3600.0  # §2.3
REFRESH_TOKEN_TTL = 180 * 86400.0  # §2.3
AUTH_CODE_TTL = 30.0  # §2.2


class EmulatorClock:
    """The emulator's clock: real time plus an offset, or frozen and moved only by ``advance``.

    ``now()`` makes it usable as the app's ``Clock`` port too, so one test can drive both.
    """

    def __init__(self, start: float | datetime | None = None, *, frozen: bool = False) -> None:
        self._frozen = frozen
        base = start.timestamp() if isinstance(start, datetime) else start
        self._fixed = base if base is not None else time.time()
        self._offset = 0.0 if base is None else base - time.time()

    def time(self) -> float:
        """Unix seconds."""
        if self._frozen:
            return self._fixed
        return time.time() + self._offset

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        """Move time forward (token expiry, bucket drain, operating-time windows)."""
        if self._frozen:
            self._fixed += seconds
        else:
            self._offset += seconds


@attrs.frozen
class RateLimit:
    """Leaky bucket: ``burst`` requests at once (X), draining ``per_second`` (Y), §7.1."""

    burst: int = 50
    per_second: float = 2.0


# ------------------------------------------------------------------ people


@attrs.define(kw_only=True)
class User:
    """A portal user. ``crm_access``: ``all`` records, ``own`` (assigned to them) or ``none``;
    explicit grants add to it; admins may do everything."""

    id: int
    name: str = ""
    last_name: str = ""
    second_name: str = ""
    admin: bool = False
    active: bool = True
    time_zone: str = ""
    departments: tuple[int, ...] = ()
    photo: str | None = None
    email: str = ""
    gender: str = ""
    work_position: str = ""
    user_type: str = "employee"
    language: str = "en"
    crm_access: CrmAccess = "all"


@attrs.define(kw_only=True)
class Department:
    id: int
    name: str
    parent: int | None = None
    sort: int = 500
    head: int | None = None


# ------------------------------------------------------------------ CRM


@attrs.define(kw_only=True)
class CrmRecord:
    """A lead, deal, contact or company with the fields board cards need (§12)."""

    entity_type_id: int
    id: int
    title: str = ""
    name: str = ""
    last_name: str = ""
    second_name: str = ""
    stage_id: str | None = None
    category_id: int = 0
    opportunity: float = 0.0
    currency_id: str = "USD"
    assigned_by_id: int = 1
    closed: bool = False
    company_id: int = 0
    contact_id: int = 0
    company_type: str = "CUSTOMER"
    created_by: int = 1
    created: datetime
    updated: datetime

    @property
    def ref(self) -> OwnerRef:
        return OwnerRef(OwnerType.from_type_id(self.entity_type_id), self.id)

    @property
    def stage_semantic_id(self) -> str:
        if not self.closed:
            return "P"
        return "S" if (self.stage_id or "").endswith(("WON", "CONVERTED")) else "F"


@attrs.define(kw_only=True)
class ActivityRecord:
    """A CRM activity (§11.3); to-dos have ``PROVIDER_ID=CRM_TODO`` and ``TYPE_ID=6``."""

    id: int
    owner_type_id: int
    owner_id: int
    bindings: list[tuple[int, int]]
    type_id: int = 6
    provider_id: str = "CRM_TODO"
    provider_type_id: str = "TODO"
    subject: str = ""
    description: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    deadline: datetime | None = None
    completed: bool = False
    responsible_id: int
    priority: int = 2
    author_id: int
    editor_id: int
    created: datetime
    last_updated: datetime
    parent_activity_id: int | None = None
    ping_offsets: tuple[int, ...] = ()
    color_id: str | None = None

    @property
    def status(self) -> int:
        return 2 if self.completed else 1


# ------------------------------------------------------------------ app-side state


@attrs.define(kw_only=True)
class EventBinding:
    id: int
    event: str
    handler: str
    auth_type: int = 0
    offline: bool = False
    bound_by: int = 0


@attrs.define(kw_only=True)
class PlacementBinding:
    id: int
    placement: str
    handler: str
    title: str = ""
    description: str = ""
    group_name: str = ""
    lang_all: dict[str, Any] = attrs.Factory(dict)
    options: Any = attrs.Factory(list)
    user_id: int = 0


@attrs.define(kw_only=True)
class ImMessage:
    """One notification in a user's inbox, as the IM module keeps it (§15)."""

    id: int
    user_id: int
    message: str
    tag: str | None = None
    sub_tag: str | None = None
    attach: Any = None
    message_out: str | None = None
    author_id: int | None = None  # None: a system notification
    kind: Literal["system", "personal"] = "system"
    created_at: datetime


@attrs.define(kw_only=True)
class ChatBot:
    """A bot registered by an app (``imbot.v2.Bot.register``, BITRIX24.md §22.1.1)."""

    id: int
    code: str
    app: str
    name: str
    event_mode: str
    webhook_url: str
    commands: dict[str, int] = attrs.Factory(dict)  # command (no "/") -> its id
    hidden: set[str] = attrs.Factory(set)


@attrs.define(kw_only=True)
class BotChatMessage:
    """A message a bot posted in a user's personal chat, with its keyboard (§22.1.3-5)."""

    id: int
    bot_id: int
    user_id: int
    text: str
    keyboard: list[dict[str, Any]]
    system: bool
    created_at: datetime
    updates: int = 0


# ------------------------------------------------------------------ tokens


OUR_APP = "touchpoints.emulated"


@attrs.define(kw_only=True)
class AccessToken:
    token: str = attrs.field(repr=False)
    member_id: str
    user_id: int
    expires_at: float
    scope: str
    # The app the token was issued to: ours, or another app installed on the portal.
    app: str = OUR_APP


@attrs.define(kw_only=True)
class RefreshToken:
    token: str = attrs.field(repr=False)
    member_id: str
    user_id: int
    expires_at: float
    scope: str


@attrs.define(kw_only=True)
class AuthCode:
    code: str = attrs.field(repr=False)
    member_id: str
    user_id: int
    expires_at: float


@attrs.frozen
class TokenPair:
    """Tokens the emulator issued to a user (frame launch, install, ``issue_tokens``)."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str = attrs.field(repr=False)
    expires_in: int = 3600


# ------------------------------------------------------------------ a portal


@attrs.frozen(kw_only=True)
class StageEntry:
    """One item of a ``crm.status.list`` directory: a stage of deals (``DEAL_STAGE`` or
    ``DEAL_STAGE_<categoryId>``), leads (``STATUS``) or a smart process
    (``DYNAMIC_<entityTypeId>_STAGE_<categoryId>``) [api-reference/crm/status/crm-status-list.md]."""

    id: int
    entity_id: str
    status_id: str
    name: str
    sort: int
    semantics: str | None = None  # "S" success, "F" failure, None in progress
    category_id: int | None = None


def default_stages() -> list[StageEntry]:
    """A new portal's directories for the general deal pipeline and for leads, as the
    docs' example lists them."""
    deal = [
        ("NEW", "New", None),
        ("PREPARATION", "Document preparation", None),
        ("PREPAYMENT_INVOICE", "Prepayment invoice", None),
        ("EXECUTING", "In progress", None),
        ("FINAL_INVOICE", "Final invoice", None),
        ("WON", "Deal successful", "S"),
        ("LOSE", "Deal failed", "F"),
        ("APOLOGY", "Failure reason analysis", "F"),
    ]
    lead = [
        ("NEW", "Unassigned", None),
        ("IN_PROCESS", "In progress", None),
        ("PROCESSED", "Processed", None),
        ("JUNK", "Junk lead", "F"),
        ("CONVERTED", "Good lead", "S"),
    ]
    entries = [
        StageEntry(
            id=101 + 2 * n,
            entity_id="DEAL_STAGE",
            status_id=code,
            name=name,
            sort=10 * (n + 1),
            semantics=sem,
        )
        for n, (code, name, sem) in enumerate(deal)
    ]
    entries += [
        StageEntry(
            id=201 + 2 * n,
            entity_id="STATUS",
            status_id=code,
            name=name,
            sort=10 * (n + 1),
            semantics=sem,
        )
        for n, (code, name, sem) in enumerate(lead)
    ]
    return entries


@attrs.define(kw_only=True)
class PortalState:
    """One emulated portal: its identity, people, CRM data and the app's installation."""

    member_id: str
    domain: str
    time_zone: str = "UTC"
    application_token: str = attrs.field(repr=False)
    scope: str
    status: str = "F"
    language: str = "en"
    app_version: int = 1
    users: dict[int, User] = attrs.Factory(dict)
    departments: dict[int, Department] = attrs.Factory(dict)
    records: dict[tuple[int, int], CrmRecord] = attrs.Factory(dict)
    # Smart-process types by entityTypeId: their titles (crm.type.list, BITRIX24.md §22.3).
    smart_processes: dict[int, str] = attrs.Factory(dict)
    # The stage directories crm.status.list reads (BITRIX24.md §12.2).
    stages: list[StageEntry] = attrs.Factory(default_stages)
    activities: dict[int, ActivityRecord] = attrs.Factory(dict)
    grants: dict[tuple[int, int, int], str] = attrs.Factory(dict)
    event_bindings: list[EventBinding] = attrs.Factory(list)
    placement_bindings: list[PlacementBinding] = attrs.Factory(list)
    options: dict[str, Any] = attrs.Factory(dict)
    inbox: list[ImMessage] = attrs.Factory(list)
    chat_bots: dict[int, ChatBot] = attrs.Factory(dict)
    bot_messages: dict[int, BotChatMessage] = attrs.Factory(dict)
    installed: bool = False  # app.info INSTALLED: flips on install_finish (§8.2)
    uninstalled: bool = False
    deleted: bool = False
    payment_required: bool = False
    installed_by: int | None = None
    rate_limit: RateLimit | None = None
    bucket_level: float = 0.0
    bucket_at: float = 0.0
    sequences: dict[str, int] = attrs.Factory(dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def seq(self, name: str, *, start: int = 1) -> int:
        """The next number of a per-portal sequence (record ids per type, activities, ...)."""
        value = self.sequences.get(name, start)
        self.sequences[name] = value + 1
        return value

    def bump_seq(self, name: str, used: int) -> None:
        """Keep a sequence past an id chosen by a test."""
        self.sequences[name] = max(self.sequences.get(name, 1), used + 1)

    # -------------------------------------------------------------- permissions (§20.40, §20.48)

    def can_read(self, user: User, entity_type_id: int, record_id: int) -> bool:
        return self._allowed(user, entity_type_id, record_id, edit=False)

    def can_edit(self, user: User, entity_type_id: int, record_id: int) -> bool:
        return self._allowed(user, entity_type_id, record_id, edit=True)

    def _allowed(self, user: User, entity_type_id: int, record_id: int, *, edit: bool) -> bool:
        record = self.records.get((entity_type_id, record_id))
        if record is None:
            return False
        return crm_allows(
            admin=user.admin,
            access=user.crm_access,
            user_id=user.id,
            assigned_by_id=record.assigned_by_id,
            grant=self.grants.get((user.id, entity_type_id, record_id)),
            edit=edit,
        )

    def can_read_activity(self, user: User, activity: ActivityRecord) -> bool:
        return any(self.can_read(user, t, i) for t, i in activity.bindings)

    def can_edit_activity(self, user: User, activity: ActivityRecord) -> bool:
        return self.can_edit(user, activity.owner_type_id, activity.owner_id)
