"""Value objects for what the CRM tells us: activities, record cards, users."""

from __future__ import annotations

from datetime import datetime

import attrs

from touchpoints.domain.model import OwnerRef, SmartProcess, TouchPointType


@attrs.frozen(kw_only=True)
class TodoSpec:
    """A to-do to create in the CRM for a touch-point (``crm.activity.todo.add``)."""

    owner: OwnerRef
    type: TouchPointType
    deadline: datetime
    responsible_id: int
    title: str
    description: str = ""
    parent_activity_id: int | None = None
    ping_offsets: tuple[int, ...] = ()  # reminders, minutes before the deadline (§22.6)


@attrs.frozen(kw_only=True)
class Activity:
    """A CRM activity as ``crm.activity.get/list`` reports it, in our terms."""

    id: int
    owner: OwnerRef | None
    deadline: datetime | None
    responsible_id: int
    completed: bool
    subject: str = ""
    provider_id: str = ""


@attrs.frozen(kw_only=True, slots=False)  # a dict ``trusted`` fills in one step, 200 a board
class TodoText:
    """What a to-do says: its subject and description, read live, never stored by us."""

    activity_id: int
    subject: str
    description: str = ""


@attrs.frozen(kw_only=True)
class SmartProcessInfo:
    """A portal's smart-process type as the CRM names it (``crm.type.list``)."""

    type: SmartProcess
    title: str


@attrs.frozen(kw_only=True, slots=False)  # a dict ``trusted`` fills in one step, 200 a board
class RecordCard:
    """What a board card shows of its CRM record, read live with the user's token.

    ``stage_name`` is the stage's human name (``stage_id`` is the CRM's code, such as
    ``C1:NEW``); it is read only when asked for (the list view), else None."""

    ref: OwnerRef
    title: str
    stage_id: str | None = None
    stage_name: str | None = None
    amount: float | None = None
    currency: str | None = None
    assigned_by_id: int | None = None
    closed: bool = False


@attrs.frozen(kw_only=True)
class UserInfo:
    """A portal user as ``user.get`` reports them (``user_brief`` scope: no e-mail)."""

    id: int
    name: str
    photo_url: str | None = None
    department_ids: tuple[int, ...] = ()
    time_zone: str = ""
    active: bool = True
    language: str | None = None


@attrs.frozen(kw_only=True)
class CurrentUser:
    """Who opened the frame (``profile``): id, whether they may manage the app, their zone."""

    id: int
    is_admin: bool
    name: str = ""
    time_zone: str = ""
    photo_url: str | None = None


@attrs.frozen(kw_only=True)
class Department:
    """A node of the portal's company structure (``department.get``)."""

    id: int
    name: str
    parent_id: int | None = None


@attrs.frozen(kw_only=True)
class AppInfo:
    """``app.info`` as a token's portal answers it: which app the token was issued to."""

    id: str
    code: str
    installed: bool = True
