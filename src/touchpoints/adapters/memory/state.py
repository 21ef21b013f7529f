"""The state of one simulated Bitrix24 portal: users, records, activities, inboxes, bindings."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import attrs

from touchpoints.adapters.memory.permissions import CrmAccess, crm_allows
from touchpoints.domain.crm import Activity, Department, RecordCard, SmartProcessInfo, UserInfo
from touchpoints.domain.model import EntityType, OwnerRef, TouchPointType
from touchpoints.domain.secrets import Secret

TODO_PROVIDER = "CRM_TODO"
DEFAULT_SCOPE = "crm,im,placement,user_brief,department"
# The app every token is issued to unless a test names another one of the portal's apps.
OUR_APP = "touchpoints"


@attrs.define(kw_only=True)
class MemoryUser:
    """A portal user as ``user.get`` shows them, whether they administer the portal, and
    which records they may see: ``all``, ``own`` (assigned) or ``none``."""

    info: UserInfo
    admin: bool = False
    crm_access: CrmAccess = "all"


_ACTIVITY_FIELDS = tuple(field.name for field in attrs.fields(Activity))


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
        """The activity as the CRM reports it: those of its fields ``Activity`` has."""
        return Activity(**{field: getattr(self, field) for field in _ACTIVITY_FIELDS})


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
    # Leads, deals, contacts and companies as their cards show them (a contact's title is its
    # full name).
    records: dict[OwnerRef, RecordCard] = attrs.Factory(dict)
    smart_processes: dict[int, SmartProcessInfo] = attrs.Factory(dict)
    # Stage names by the record kind and the CRM's stage code (a deal's pipeline is in its
    # code: ``C1:NEW``), as the portal's stage directories name them.
    stage_names: dict[tuple[EntityType, str], str] = attrs.Factory(dict)
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
            user_id=user.info.id,
            assigned_by_id=record.assigned_by_id,
            grant=self.grants.get((user.info.id, ref)),
            edit=edit,
        )
