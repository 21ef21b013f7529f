"""The CRM port over Bitrix24 REST: to-dos, batched reads, users, events and placements."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from touchpoints.adapters.bitrix24.batch import BatchReply, Caller, Command, run_commands
from touchpoints.adapters.bitrix24.wire import (
    WireError,
    as_dict,
    as_list,
    format_datetime,
    parse_datetime,
    to_bool,
    to_int,
    to_opt_float,
    to_opt_int,
    to_str,
)
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
from touchpoints.domain.model import OwnerRef, OwnerType
from touchpoints.ports.crm import (
    CardLookup,
    CrmError,
    CrmInvalidInput,
    CrmNotFound,
    CrmPermissionDenied,
    Hidden,
    RecordLookup,
)

PAGE = 50  # fixed page size of every list method (§5)
IDS_PER_CALL = 50
_ACTIVITY_SELECT = [
    "ID",
    "OWNER_TYPE_ID",
    "OWNER_ID",
    "DEADLINE",
    "RESPONSIBLE_ID",
    "COMPLETED",
    "SUBJECT",
    "PROVIDER_ID",
]
_TEXT_SELECT = ["ID", "SUBJECT", "DESCRIPTION"]
_ITEM_SELECT = [
    "id",
    "title",
    "name",
    "lastName",
    "stageId",
    "opportunity",
    "currencyId",
    "assignedById",
    "closed",
    "stageSemanticId",
]
_USER_SELECT = [
    "ID",
    "ACTIVE",
    "NAME",
    "LAST_NAME",
    "PERSONAL_PHOTO",
    "UF_DEPARTMENT",
    "TIME_ZONE",
]


def _chunks(values: Sequence[int], size: int) -> list[list[int]]:
    return [list(values[offset : offset + size]) for offset in range(0, len(values), size)]


def _unique(values: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(values))


def _raise_first(reply: BatchReply, *, tolerate: tuple[type[CrmError], ...] = ()) -> None:
    for error in reply.errors.values():
        if not isinstance(error, tolerate):
            raise error


def _rows(result: Any) -> list[dict[str, Any]]:
    return [row for row in as_list(result) if isinstance(row, dict)]


def _items(result: Any) -> list[dict[str, Any]]:
    """``crm.item.list`` wraps its rows in ``result.items`` (§12.1)."""
    return _rows(as_dict(result).get("items"))


def parse_activity(row: Mapping[str, Any]) -> Activity:
    """An activity from the legacy string-scalar shape (§11.3).

    Raises:
        WireError: the row lacks an id or holds unreadable values.
    """
    owner: OwnerRef | None = None
    owner_id = to_opt_int(row.get("OWNER_ID"))
    owner_type_id = to_opt_int(row.get("OWNER_TYPE_ID"))
    if owner_id is not None and owner_type_id is not None:
        try:
            owner = OwnerRef(OwnerType.from_type_id(owner_type_id), owner_id)
        except ValueError:
            owner = None  # a smart process or another kind we do not serve
    return Activity(
        id=to_int(row.get("ID")),
        owner=owner,
        deadline=parse_datetime(row.get("DEADLINE")),
        responsible_id=to_opt_int(row.get("RESPONSIBLE_ID")) or 0,
        completed=to_bool(row.get("COMPLETED")),
        subject=to_str(row.get("SUBJECT")),
        provider_id=to_str(row.get("PROVIDER_ID")),
    )


def _join(*parts: Any) -> str:
    return " ".join(text for text in (to_str(part).strip() for part in parts) if text)


def parse_item(owner_type: OwnerType, row: Mapping[str, Any]) -> RecordCard:
    """A board card from a typed camelCase ``crm.item`` row (§12.1).

    A contact has no title: its card shows the person's name.

    Raises:
        WireError: the row lacks an id.
    """
    item_id = to_int(row.get("id"))
    person = _join(row.get("name"), row.get("lastName"))
    if owner_type is OwnerType.CONTACT:
        title = person
    else:
        title = to_str(row.get("title")).strip() or person
    return RecordCard(
        ref=OwnerRef(owner_type, item_id),
        title=title or f"#{item_id}",
        stage_id=to_str(row.get("stageId")) or None,
        amount=to_opt_float(row.get("opportunity")),
        currency=to_str(row.get("currencyId")) or None,
        assigned_by_id=to_opt_int(row.get("assignedById")),
        # Deals say ``closed``; leads only tell by their stage's semantics: S (converted)
        # or F (junk) means the lead is finished (BITRIX24.md §12.1).
        closed=to_bool(row.get("closed"))
        or to_str(row.get("stageSemanticId")).upper() in ("S", "F"),
    )


def parse_user(row: Mapping[str, Any]) -> UserInfo:
    """A ``user.get`` row: string ``ID``, boolean ``ACTIVE``, int array ``UF_DEPARTMENT`` (§13)."""
    user_id = to_int(row.get("ID"))
    departments: list[int] = []
    for value in as_list(row.get("UF_DEPARTMENT")):
        try:
            departments.append(to_int(value))
        except WireError:
            continue
    active = row.get("ACTIVE")
    return UserInfo(
        id=user_id,
        name=_join(row.get("NAME"), row.get("LAST_NAME")) or f"#{user_id}",
        photo_url=to_str(row.get("PERSONAL_PHOTO")) or None,
        department_ids=tuple(departments),
        time_zone=to_str(row.get("TIME_ZONE")),
        active=True if active is None else to_bool(active),
        language=to_str(row.get("LANGUAGE_ID")) or None,
    )


class BitrixCrm:
    """Implements the ``Crm`` port for one portal and one way of authenticating.

    Writes are never repeated after a failure that may have let them run (timeouts, 5xx);
    reads are. Reads of many ids go as list calls filtered by up to 50 ids, 50 such calls
    to a ``batch``: M records cost ceil(M/2500) requests (DESIGN.md §5).
    """

    def __init__(self, client: Caller) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"BitrixCrm({self._client!r})"

    # ------------------------------------------------------------ to-dos

    async def create_todo(self, spec: TodoSpec) -> int:
        params: dict[str, Any] = {
            "ownerTypeId": spec.owner.type.type_id,
            "ownerId": spec.owner.id,
            "deadline": _datetime(spec.deadline),
            "title": spec.title,
            "description": spec.description,
            "responsibleId": spec.responsible_id,
        }
        if spec.parent_activity_id is not None:
            # The chain shows in Bitrix24 too (DESIGN.md §5).
            params["parentActivityId"] = spec.parent_activity_id
        reply = await self._client.call("crm.activity.todo.add", params, safe=False)
        try:
            return to_int(as_dict(reply.result).get("id"))
        except WireError as exc:
            raise CrmError("crm.activity.todo.add: no id in the reply") from exc

    async def update_deadline(self, activity_id: int, owner: OwnerRef, deadline: datetime) -> None:
        await self._client.call(
            "crm.activity.todo.updateDeadline",
            {
                "id": activity_id,
                "ownerTypeId": owner.type.type_id,
                "ownerId": owner.id,
                "value": _datetime(deadline),
            },
            safe=False,
        )

    async def update_responsible(self, activity_id: int, owner: OwnerRef, user_id: int) -> None:
        await self._client.call(
            "crm.activity.todo.updateResponsibleUser",
            {
                "id": activity_id,
                "ownerTypeId": owner.type.type_id,
                "ownerId": owner.id,
                "responsibleId": user_id,
            },
            safe=False,
        )

    async def complete(self, activity_id: int) -> None:
        # No todo.* method completes a to-do; the deprecated update is the documented
        # route, with partial fields as in the docs' examples (§11.4, §21.14).
        await self._client.call(
            "crm.activity.update",
            {"id": activity_id, "fields": {"COMPLETED": "Y"}},
            safe=False,
        )

    async def delete_activity(self, activity_id: int) -> None:
        await self._client.call("crm.activity.delete", {"id": activity_id}, safe=False)

    # ------------------------------------------------------------ activity reads

    async def get_activities(self, activity_ids: Sequence[int]) -> dict[int, Activity]:
        ids = _unique(activity_ids)
        commands = {
            f"a{index}": Command(
                "crm.activity.list",
                {
                    "filter": {"@ID": chunk},
                    "select": _ACTIVITY_SELECT,
                    "start": -1,  # no count needed (§5)
                },
            )
            for index, chunk in enumerate(_chunks(ids, IDS_PER_CALL))
        }
        reply = await run_commands(self._client, commands, safe=True)
        # A chunk the user may not read at all comes back as absent activities.
        _raise_first(reply, tolerate=(CrmPermissionDenied, CrmNotFound))
        found: dict[int, Activity] = {}
        wanted = set(ids)
        for result in reply.results.values():
            for row in _rows(result):
                activity = _activity_or_none(row)
                if activity is not None and activity.id in wanted:
                    found[activity.id] = activity
        return found

    async def missing_activities(self, activity_ids: Sequence[int]) -> set[int]:
        ids = _unique(activity_ids)
        if not ids:
            return set()
        commands = {
            f"g{activity_id}": Command("crm.activity.get", {"id": activity_id})
            for activity_id in ids
        }
        reply = await run_commands(self._client, commands, safe=True)
        # "Activity is not found" comes as a legacy empty-code error (BITRIX24.md §11.4);
        # any other failure (access denied, a skipped command) proves nothing.
        return {
            activity_id
            for activity_id in ids
            if isinstance(reply.errors.get(f"g{activity_id}"), CrmNotFound)
        }

    async def find_todos(
        self, *, owner: OwnerRef | None, created_after: datetime
    ) -> list[Activity]:
        base: dict[str, Any] = {
            "PROVIDER_ID": "CRM_TODO",
            "COMPLETED": "N",
            ">CREATED": _datetime(created_after),
        }
        if owner is not None:
            base["OWNER_TYPE_ID"] = owner.type.type_id
            base["OWNER_ID"] = owner.id
        found: list[Activity] = []
        last_id = 0
        while True:
            # start=-1 with an id cursor: no counting, no offset drift (§5).
            reply = await self._client.call(
                "crm.activity.list",
                {
                    "filter": {**base, ">ID": last_id},
                    "order": {"ID": "ASC"},
                    "select": _ACTIVITY_SELECT,
                    "start": -1,
                },
                safe=True,
            )
            rows = _rows(reply.result)
            for row in rows:
                activity = _activity_or_none(row)
                if activity is not None:
                    found.append(activity)
                    last_id = max(last_id, activity.id)
            if len(rows) < PAGE:
                return found

    # ------------------------------------------------------------ records

    async def read_records(self, refs: Iterable[OwnerRef]) -> RecordLookup:
        return (await self.read_cards(refs, ())).records

    async def read_cards(self, refs: Iterable[OwnerRef], activity_ids: Iterable[int]) -> CardLookup:
        wanted = list(dict.fromkeys(refs))
        activities = _unique(activity_ids)
        commands: dict[str, Command] = {}
        command_type: dict[str, OwnerType] = {}
        for owner_type in OwnerType:
            ids = [ref.id for ref in wanted if ref.type is owner_type]
            for index, chunk in enumerate(_chunks(ids, IDS_PER_CALL)):
                key = f"{owner_type.value}{index}"
                commands[key] = Command("crm.item.list", _item_params(owner_type, {"@id": chunk}))
                command_type[key] = owner_type
        for index, chunk in enumerate(_chunks(activities, IDS_PER_CALL)):
            # Up to 50 ids fit one page of the legacy list (§5); no count is needed.
            commands[f"t{index}"] = Command(
                "crm.activity.list",
                {"filter": {"ID": chunk}, "select": _TEXT_SELECT, "start": -1},
            )
        # Records and to-dos share the batches, so the texts cost no round of their own.
        reply = await run_commands(self._client, commands, safe=True)
        # Records (and activities) the user may not read are left out of a list (§11, §12.1);
        # a whole list the user may not read is the same thing.
        _raise_first(reply, tolerate=(CrmPermissionDenied, CrmNotFound))
        cards: dict[OwnerRef, RecordCard | Hidden] = {}
        texts: dict[int, TodoText] = {}
        wanted_activities = set(activities)
        for key, result in reply.results.items():
            owner_type_of = command_type.get(key)
            if owner_type_of is None:
                for row in _rows(result):
                    text = _text_or_none(row)
                    if text is not None and text.activity_id in wanted_activities:
                        texts[text.activity_id] = text
                continue
            for row in _items(result):
                card = _card_or_none(owner_type_of, row)
                if card is not None:
                    cards[card.ref] = card
        return CardLookup(
            records={ref: cards.get(ref) or Hidden(ref=ref) for ref in wanted}, todos=texts
        )

    async def search_records(
        self, owner_type: OwnerType, text: str, *, limit: int = 20
    ) -> list[RecordCard]:
        needle = text.strip()
        if not needle or limit <= 0:
            return []
        if owner_type is OwnerType.CONTACT:
            filters = [{"%name": needle}, {"%lastName": needle}]
        else:
            filters = [{"%title": needle}]
        commands = {
            f"s{index}": Command(
                "crm.item.list",
                {**_item_params(owner_type, item_filter), "order": {"id": "DESC"}, "start": 0},
            )
            for index, item_filter in enumerate(filters)
        }
        reply = await run_commands(self._client, commands, safe=True)
        _raise_first(reply, tolerate=(CrmPermissionDenied,))
        cards: dict[int, RecordCard] = {}
        for result in reply.results.values():
            for row in _items(result):
                card = _card_or_none(owner_type, row)
                if card is not None:
                    cards.setdefault(card.ref.id, card)
        ordered = sorted(cards.values(), key=lambda card: card.ref.id, reverse=True)
        return ordered[:limit]

    async def open_records(self, owner_type: OwnerType, *, limit: int = 500) -> list[RecordCard]:
        """Open deals (``closed=N``) or leads in progress (``stageSemanticId=P``); contacts and
        companies have no open state, so every visible one counts."""
        item_filter: dict[str, Any] = {}
        if owner_type is OwnerType.DEAL:
            item_filter["closed"] = "N"
        elif owner_type is OwnerType.LEAD:
            item_filter["stageSemanticId"] = "P"
        cards: list[RecordCard] = []
        last_id = 0
        for _page in range(math.ceil(limit / PAGE)):
            reply = await self._client.call(
                "crm.item.list",
                {
                    **_item_params(owner_type, {**item_filter, ">id": last_id}),
                    "order": {"id": "ASC"},
                },
                safe=True,
            )
            rows = _items(reply.result)
            for row in rows:
                card = _card_or_none(owner_type, row)
                if card is not None:
                    cards.append(card)
                    last_id = max(last_id, card.ref.id)
            if len(rows) < PAGE:
                break
        return cards[:limit]

    # ------------------------------------------------------------ users

    async def current_user(self) -> CurrentUser:
        reply = await self._client.call("profile", {}, safe=True)
        row = as_dict(reply.result)
        if not row:
            # ``profile`` answers an empty object for an inactive user (§13).
            raise CrmPermissionDenied("profile: the user is not active", code="INACTIVE_USER")
        try:
            user_id = to_int(row.get("ID"))
        except WireError as exc:
            raise CrmError("profile: no user id in the reply") from exc
        return CurrentUser(
            id=user_id,
            is_admin=to_bool(row.get("ADMIN")),
            name=_join(row.get("NAME"), row.get("LAST_NAME")),
            time_zone=to_str(row.get("TIME_ZONE")),
            photo_url=to_str(row.get("PERSONAL_PHOTO")) or None,
        )

    async def app_info(self) -> AppInfo:
        reply = await self._client.call("app.info", {}, safe=True)
        row = as_dict(reply.result)
        app_id = to_str(row.get("ID"))
        if not app_id:
            raise CrmError("app.info: no application id in the reply", code="BAD_REPLY")
        installed = row.get("INSTALLED")
        return AppInfo(
            id=app_id,
            code=to_str(row.get("CODE")),
            installed=True if installed is None else to_bool(installed),
        )

    async def users(self, user_ids: Iterable[int] | None = None) -> list[UserInfo]:
        if user_ids is not None:
            ids = _unique(user_ids)
            commands = {
                f"u{index}": Command(
                    "user.get",
                    {"filter": {"@ID": chunk}, "sort": "ID", "order": "ASC"},
                )
                for index, chunk in enumerate(_chunks(ids, PAGE))
            }
            reply = await run_commands(self._client, commands, safe=True)
            _raise_first(reply)
            rows = [row for result in reply.results.values() for row in _rows(result)]
        else:
            # Dismissed users are dropped here rather than by an ``ACTIVE`` filter: a boolean
            # has no unambiguous form encoding inside a batch command (§6).
            rows = [
                row
                for row in await self._list_all(
                    "user.get",
                    {"filter": {"USER_TYPE": "employee"}, "sort": "ID", "order": "ASC"},
                )
                if row.get("ACTIVE") is None or to_bool(row.get("ACTIVE"))
            ]
        users: dict[int, UserInfo] = {}
        for row in rows:
            try:
                user = parse_user(row)
            except WireError:
                continue
            users[user.id] = user
        return [users[key] for key in sorted(users)]

    async def departments(self) -> list[Department]:
        # No ``sort`` param: department.get also takes a ``SORT`` filter as a top-level key,
        # and legacy parameter names may be case-insensitive (BITRIX24.md §13, §21.23).
        rows = await self._list_all("department.get", {})
        found: dict[int, Department] = {}
        for row in rows:
            try:
                department = Department(
                    id=to_int(row.get("ID")),
                    name=to_str(row.get("NAME")),
                    parent_id=to_opt_int(row.get("PARENT")),
                )
            except WireError:
                continue
            found[department.id] = department
        return [found[key] for key in sorted(found)]

    async def _list_all(self, method: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every page of an offset-paged list: the first page tells ``total``; the remaining
        pages go 50 to a batch (§5, §6)."""
        first = await self._client.call(method, params, safe=True)
        rows = _rows(first.result)
        if first.next is None or first.total is None:
            return rows
        commands = {
            f"p{start}": Command(method, {**params, "start": start})
            for start in range(first.next, first.total, PAGE)
        }
        reply = await run_commands(self._client, commands, safe=True)
        _raise_first(reply)
        for key in sorted(reply.results, key=lambda key: int(key[1:])):
            rows.extend(_rows(reply.results[key]))
        return rows

    # ------------------------------------------------------------ events and placements

    async def bind_event(self, event: str, handler: str) -> None:
        # Safe to repeat: a second bind answers ERROR_HANDLER_ALREADY_EXIST, taken as success.
        try:
            await self._client.call("event.bind", {"event": event, "handler": handler}, safe=True)
        except CrmError as exc:
            # A second bind of the same handler is not a failure (§9.1, §20.26).
            if exc.code.lower() != "error_handler_already_exist":
                raise

    async def unbind_event(self, event: str, handler: str) -> None:
        await self._client.call("event.unbind", {"event": event, "handler": handler}, safe=True)

    async def bind_placement(
        self, placement: str, handler: str, title: str, lang_all: Mapping[str, str]
    ) -> None:
        # Duplicate binds seem to be allowed (§21.19): unbind this handler first so a
        # repeated install does not show the tab twice.
        await self.unbind_placement(placement, handler)
        params: dict[str, Any] = {"PLACEMENT": placement, "HANDLER": handler, "TITLE": title}
        if lang_all:
            params["LANG_ALL"] = {lang: {"TITLE": text} for lang, text in lang_all.items()}
        await self._client.call("placement.bind", params, safe=False)

    async def unbind_placement(self, placement: str, handler: str) -> None:
        await self._client.call(
            "placement.unbind", {"PLACEMENT": placement, "HANDLER": handler}, safe=True
        )


def _datetime(value: datetime) -> str:
    try:
        return format_datetime(value)
    except WireError as exc:
        raise CrmInvalidInput(str(exc), code="NAIVE_DATETIME") from exc


def _item_params(owner_type: OwnerType, item_filter: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "entityTypeId": owner_type.type_id,
        "select": _ITEM_SELECT,
        "filter": dict(item_filter),
    }
    if "@id" in item_filter or ">id" in item_filter:
        params["start"] = -1  # one page by construction: skip the count (§5)
    return params


def _activity_or_none(row: Mapping[str, Any]) -> Activity | None:
    try:
        return parse_activity(row)
    except WireError:
        return None


def _card_or_none(owner_type: OwnerType, row: Mapping[str, Any]) -> RecordCard | None:
    try:
        return parse_item(owner_type, row)
    except WireError:
        return None


def parse_todo_text(row: Mapping[str, Any]) -> TodoText:
    """A to-do's subject and description from a legacy activity row (§11.3).

    Raises:
        WireError: the row lacks an id.
    """
    return TodoText(
        activity_id=to_int(row.get("ID")),
        subject=to_str(row.get("SUBJECT")),
        description=to_str(row.get("DESCRIPTION")),
    )


def _text_or_none(row: Mapping[str, Any]) -> TodoText | None:
    try:
        return parse_todo_text(row)
    except WireError:
        return None
