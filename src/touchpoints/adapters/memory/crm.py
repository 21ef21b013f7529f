"""The ``Crm`` port and its connector over the in-memory Bitrix24 world."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from touchpoints.adapters.memory.state import (
    TODO_PROVIDER,
    MemoryActivity,
    MemoryPortal,
    MemoryUser,
    PlacementBinding,
)
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain import crm as values
from touchpoints.domain.model import EntityType, OwnerRef
from touchpoints.domain.placements import MenuBinding
from touchpoints.domain.portal import Portal
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import (
    CardLookup,
    CrmAuthExpired,
    CrmConnector,
    CrmError,
    CrmInvalidInput,
    CrmNotFound,
    CrmPermissionDenied,
    CrmUnavailable,
    Hidden,
    PortalGone,
    RecordLookup,
    TodoChange,
)


@attrs.define(eq=False)
class MemoryCrmSession:
    """``Crm`` for one portal as one user (a frame token) or as the installing admin."""

    _world: MemoryCrm = attrs.field(repr=False)
    _member_id: str
    _token: Secret | None = attrs.field(default=None, kw_only=True)
    _user_id: int | None = attrs.field(default=None, kw_only=True)

    def _begin(self, operation: str) -> tuple[MemoryPortal, MemoryUser]:
        self._world.enter(operation)
        if self._token is not None:
            token_user = self._world.token_user(self._member_id, self._token)
            return self._world.portal(self._member_id), token_user
        portal = self._world.live_portal(self._member_id)
        user_id = self._user_id or portal.installed_by
        app_user = portal.users.get(user_id or 0)
        if app_user is None:
            raise PortalGone("the installing user is gone", code="NO_AUTH_FOUND")
        return portal, app_user

    # -------------------------------------------------------------- to-dos

    async def create_todo(self, spec: values.TodoSpec) -> int:
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
            author_id=user.info.id,
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

    async def change_todos(self, changes: Sequence[TodoChange]) -> dict[int, CrmError]:
        """Each change as its single calls would make it, in order; the first failing write
        of a change is its failure and later changes still run, like a batch without halt.
        A failure of the whole CRM (unavailable, auth expired, portal gone) fails that
        change and every later one, as a failed ``batch`` request does."""
        try:
            self._world.enter("change_todos")
        except CrmError as exc:
            return {change.activity_id: exc for change in changes}
        failed: dict[int, CrmError] = {}
        for position, change in enumerate(changes):
            try:
                if change.deadline is not None:
                    await self.update_deadline(change.activity_id, change.owner, change.deadline)
                if change.responsible_id is not None:
                    await self.update_responsible(
                        change.activity_id, change.owner, change.responsible_id
                    )
                if change.complete:
                    await self.complete(change.activity_id)
                if change.delete:
                    await self.delete_activity(change.activity_id)
            except (CrmUnavailable, CrmAuthExpired, PortalGone) as exc:
                for rest in changes[position:]:
                    failed.setdefault(rest.activity_id, exc)
                break
            except CrmError as exc:
                failed.setdefault(change.activity_id, exc)
        return failed

    def _editable(self, portal: MemoryPortal, user: MemoryUser, activity_id: int) -> MemoryActivity:
        activity = portal.activities.get(activity_id)
        if activity is None:
            raise CrmNotFound(f"no activity {activity_id}", code="")
        if not portal.can_edit(user, activity.owner):
            raise CrmPermissionDenied("no edit rights on the record", code="")
        return activity

    async def get_activities(self, activity_ids: Sequence[int]) -> dict[int, values.Activity]:
        portal, user = self._begin("get_activities")
        found: dict[int, values.Activity] = {}
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
    ) -> list[values.Activity]:
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

    async def read_cards(
        self, refs: Iterable[OwnerRef], activity_ids: Iterable[int], *, stages: bool = False
    ) -> CardLookup:
        portal, user = self._begin("read_cards")
        todos: dict[int, values.TodoText] = {}
        for activity_id in activity_ids:
            activity = portal.activities.get(activity_id)
            if activity is not None and portal.can_read(user, activity.owner):
                todos[activity_id] = values.TodoText(
                    activity_id=activity_id,
                    subject=activity.subject,
                    description=activity.description,
                )
        return CardLookup(records=self._records(portal, user, refs, stages=stages), todos=todos)

    @staticmethod
    def _records(
        portal: MemoryPortal, user: MemoryUser, refs: Iterable[OwnerRef], *, stages: bool = False
    ) -> dict[OwnerRef, values.RecordCard | Hidden]:
        lookup: dict[OwnerRef, values.RecordCard | Hidden] = {}
        for ref in refs:
            record = portal.records.get(ref)
            if record is None or not portal.can_read(user, ref):
                lookup[ref] = Hidden(ref=ref)
            elif stages and record.stage_id is not None:
                name = portal.stage_names.get((ref.type, record.stage_id))
                lookup[ref] = attrs.evolve(record, stage_name=name)
            else:
                lookup[ref] = record
        return lookup

    async def search_records(
        self, owner_type: EntityType, text: str, *, limit: int = 20
    ) -> list[values.RecordCard]:
        portal, user = self._begin("search_records")
        needle = text.strip().casefold()
        hits = [
            card
            for ref, card in sorted(portal.records.items(), key=lambda item: item[0].id)
            if ref.type == owner_type
            and needle in card.title.casefold()
            and portal.can_read(user, ref)
        ]
        return hits[: max(limit, 0)]

    async def open_records(
        self, owner_type: EntityType, *, limit: int = 500
    ) -> list[values.RecordCard]:
        portal, user = self._begin("open_records")
        hits = [
            card
            for ref, card in sorted(portal.records.items(), key=lambda item: item[0].id)
            if ref.type == owner_type and not card.closed and portal.can_read(user, ref)
        ]
        return hits[: max(limit, 0)]

    async def smart_processes(self) -> list[values.SmartProcessInfo]:
        portal, user = self._begin("smart_processes")
        # Every user reads the names; only CRM admins would see crm.type.list's details,
        # which the app does not use (BITRIX24.md §22.3).
        del user
        return sorted(portal.smart_processes.values(), key=lambda info: info.type.entity_type_id)

    # -------------------------------------------------------------- people

    async def current_user(self) -> values.CurrentUser:
        _portal, user = self._begin("current_user")
        if not user.info.active:
            # `profile` returns an empty object for an inactive user (BITRIX24.md §13).
            raise CrmPermissionDenied("the user is not active", code="")
        return values.CurrentUser(
            id=user.info.id,
            is_admin=user.admin,
            name=user.info.name,
            time_zone=user.info.time_zone,
            photo_url=user.info.photo_url,
        )

    async def app_info(self) -> values.AppInfo:
        self._begin("app_info")
        app = self._world.token_app(self._token)
        return values.AppInfo(id=self._world.app_id(app), code=app, installed=True)

    async def users(self, user_ids: Iterable[int] | None = None) -> list[values.UserInfo]:
        portal, _user = self._begin("users")
        if user_ids is None:
            chosen = [u.info for u in portal.users.values() if u.info.active]
        else:
            wanted = set(user_ids)
            chosen = [u.info for u in portal.users.values() if u.info.id in wanted]
        return sorted(chosen, key=lambda info: info.id)

    async def departments(self) -> list[values.Department]:
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
        for key in [k for k in portal.placement_bindings if k[0] == placement]:
            if handler in ("", key[1]):  # no handler: every one of the placement's
                portal.placement_bindings.pop(key)

    async def bind_placements(self, handler: str, placements: Sequence[MenuBinding]) -> None:
        for menu in placements:
            if menu.bind:
                await self.bind_placement(menu.code, handler, menu.title, menu.titles)
            else:
                await self.unbind_placement(menu.code, handler)


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
        self._world.enter("refresh")
        self._world.live_portal(portal.member_id)

    def as_app(self, portal: Portal) -> MemoryCrmSession:
        """Acts as the installing admin; tokens are not modelled on this side."""
        return MemoryCrmSession(self._world, portal.member_id, user_id=portal.installed_by)


def _check_deadline(deadline: datetime) -> None:
    if deadline.tzinfo is None or deadline.utcoffset() is None:
        raise CrmInvalidInput("a deadline needs an offset", code="WRONG_DATETIME_FORMAT")


def _require_admin(user: MemoryUser) -> None:
    if not user.admin:
        raise CrmPermissionDenied("placements are admin-only", code="ACCESS_DENIED")


if TYPE_CHECKING:  # mypy checks that the fake conforms to the port

    def _conforms(world: MemoryCrm) -> CrmConnector:
        return MemoryCrmConnector(world)
