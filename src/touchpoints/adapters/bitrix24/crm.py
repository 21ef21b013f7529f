"""The CRM port over Bitrix24 REST: to-dos, batched reads, users, events and placements."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from touchpoints.adapters.bitrix24.batch import (
    MAX_COMMANDS,
    BatchReply,
    Caller,
    Command,
    run_commands,
)
from touchpoints.adapters.bitrix24.reads import (
    IDS_PER_CALL,
    PAGE,
    chunks,
    item_params,
    list_all,
    raise_first,
    unique,
)
from touchpoints.adapters.bitrix24.rows import (
    ACTIVITY_SELECT,
    TEXT_SELECT,
    by_id,
    item_rows,
    list_rows,
    or_none,
    parse_activity,
    parse_app_info,
    parse_department,
    parse_item,
    parse_profile,
    parse_todo_text,
    parse_user,
    stage_directory,
)
from touchpoints.adapters.bitrix24.smart_processes import smart_processes
from touchpoints.adapters.bitrix24.stages import known_directories, stage_commands, stage_names
from touchpoints.adapters.bitrix24.todos import (
    deadline_value,
    is_completion,
    not_updated,
    owner_params,
    todo_commands,
)
from touchpoints.adapters.bitrix24.wire import (
    WireError,
    as_dict,
    to_bool,
    to_int,
)
from touchpoints.domain import crm as values
from touchpoints.domain.model import EntityType, OwnerRef, OwnerType
from touchpoints.domain.placements import MenuBinding
from touchpoints.ports.crm import (
    CardLookup,
    CrmError,
    CrmNotFound,
    CrmPermissionDenied,
    Hidden,
    RecordLookup,
    TodoChange,
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

    async def create_todo(self, spec: values.TodoSpec) -> int:
        params: dict[str, Any] = {
            **owner_params(spec.owner),
            "deadline": deadline_value(spec.deadline),
            "title": spec.title,
            "description": spec.description,
            "responsibleId": spec.responsible_id,
        }
        if spec.parent_activity_id is not None:
            # The chain shows in Bitrix24 too (DESIGN.md §5).
            params["parentActivityId"] = spec.parent_activity_id
        if spec.ping_offsets:
            # Bitrix24's own reminders, minutes before the deadline (BITRIX24.md §22.6).
            params["pingOffsets"] = list(spec.ping_offsets)
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
                **owner_params(owner),
                "value": deadline_value(deadline),
            },
            safe=False,
        )

    async def update_responsible(self, activity_id: int, owner: OwnerRef, user_id: int) -> None:
        await self._client.call(
            "crm.activity.todo.updateResponsibleUser",
            {
                "id": activity_id,
                **owner_params(owner),
                "responsibleId": user_id,
            },
            safe=False,
        )

    async def complete(self, activity_id: int) -> None:
        # No todo.* method completes a to-do; the deprecated update is the documented
        # route, with partial fields as in the docs' examples (§11.4, §21.14).
        reply = await self._client.call(
            "crm.activity.update",
            {"id": activity_id, "fields": {"COMPLETED": "Y"}},
            safe=False,
        )
        if reply.result is False:
            raise not_updated(activity_id)

    async def delete_activity(self, activity_id: int) -> None:
        await self._client.call("crm.activity.delete", {"id": activity_id}, safe=False)

    async def change_todos(self, changes: Sequence[TodoChange]) -> dict[int, CrmError]:
        commands: dict[str, Command] = {}
        activity_of: dict[str, int] = {}
        for index, change in enumerate(changes):
            for key, command in todo_commands(index, change):
                commands[key] = command
                activity_of[key] = change.activity_id
        failed: dict[int, CrmError] = {}
        items = list(commands.items())
        for offset in range(0, len(items), MAX_COMMANDS):
            chunk = dict(items[offset : offset + MAX_COMMANDS])
            try:
                reply = await run_commands(self._client, chunk, safe=False)
            except CrmError as exc:
                # The request as a whole failed: this chunk and the rest are not known to run.
                for key, _command in items[offset:]:
                    failed.setdefault(activity_of[key], exc)
                break
            for key, error in reply.errors.items():
                failed.setdefault(activity_of[key], error)
            for key in chunk:
                if is_completion(key) and reply.results.get(key) is False:
                    failed.setdefault(activity_of[key], not_updated(activity_of[key]))
        return failed

    # ------------------------------------------------------------ activity reads

    async def get_activities(self, activity_ids: Sequence[int]) -> dict[int, values.Activity]:
        ids = unique(activity_ids)
        commands = {
            f"a{index}": Command(
                "crm.activity.list",
                {
                    "filter": {"@ID": chunk},
                    "select": ACTIVITY_SELECT,
                    "start": -1,  # no count needed (§5)
                },
            )
            for index, chunk in enumerate(chunks(ids, IDS_PER_CALL))
        }
        reply = await run_commands(self._client, commands, safe=True)
        # A chunk the user may not read at all comes back as absent activities.
        raise_first(reply, tolerate=(CrmPermissionDenied, CrmNotFound))
        found: dict[int, values.Activity] = {}
        wanted = set(ids)
        for result in reply.results.values():
            for row in list_rows(result):
                activity = or_none(parse_activity, row)
                if activity is not None and activity.id in wanted:
                    found[activity.id] = activity
        return found

    async def missing_activities(self, activity_ids: Sequence[int]) -> set[int]:
        ids = unique(activity_ids)
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
    ) -> list[values.Activity]:
        base: dict[str, Any] = {
            "PROVIDER_ID": "CRM_TODO",
            "COMPLETED": "N",
            ">CREATED": deadline_value(created_after),
        }
        if owner is not None:
            base["OWNER_TYPE_ID"] = owner.type.type_id
            base["OWNER_ID"] = owner.id
        found: list[values.Activity] = []
        last_id = 0
        while True:
            # start=-1 with an id cursor: no counting, no offset drift (§5).
            reply = await self._client.call(
                "crm.activity.list",
                {
                    "filter": {**base, ">ID": last_id},
                    "order": {"ID": "ASC"},
                    "select": ACTIVITY_SELECT,
                    "start": -1,
                },
                safe=True,
            )
            rows = list_rows(reply.result)
            for row in rows:
                activity = or_none(parse_activity, row)
                if activity is not None:
                    found.append(activity)
                    last_id = max(last_id, activity.id)
            if len(rows) < PAGE:
                return found

    # ------------------------------------------------------------ records

    async def read_records(self, refs: Iterable[OwnerRef]) -> RecordLookup:
        return (await self.read_cards(refs, ())).records

    async def read_cards(
        self, refs: Iterable[OwnerRef], activity_ids: Iterable[int], *, stages: bool = False
    ) -> CardLookup:
        wanted = list(dict.fromkeys(refs))
        activities = unique(activity_ids)
        commands: dict[str, Command] = {}
        command_type: dict[str, EntityType] = {}
        for owner_type in dict.fromkeys(ref.type for ref in wanted):
            ids = [ref.id for ref in wanted if ref.type == owner_type]
            for chunk in chunks(ids, IDS_PER_CALL):
                key = f"r{len(command_type)}"
                commands[key] = Command("crm.item.list", item_params(owner_type, {"@id": chunk}))
                command_type[key] = owner_type
        for index, chunk in enumerate(chunks(activities, IDS_PER_CALL)):
            # Up to 50 ids fit one page of the legacy list (§5); no count is needed.
            commands[f"t{index}"] = Command(
                "crm.activity.list",
                # "@": IN an array; a bare key means "=" (crm.activity.list, §5).
                {"filter": {"@ID": chunk}, "select": TEXT_SELECT, "start": -1},
            )
        # The stage directories of leads and of the general deal pipeline can be named before
        # the rows are read, so they share the batch; the others wait for the rows.
        guessed = known_directories(wanted) if stages else []
        commands |= stage_commands(guessed)
        # Records and to-dos share the batches, so the texts cost no round of their own.
        reply = await run_commands(self._client, commands, safe=True)
        # Records (and activities) the user may not read are left out of a list (§11, §12.1);
        # a whole list the user may not read is the same thing.
        raise_first(reply, tolerate=(CrmPermissionDenied, CrmNotFound))
        cards: dict[OwnerRef, values.RecordCard | Hidden] = {}
        directories: dict[OwnerRef, str] = {}
        texts: dict[int, values.TodoText] = {}
        wanted_activities = set(activities)
        for key, result in reply.results.items():
            if key.startswith("t"):
                for row in list_rows(result):
                    text = or_none(parse_todo_text, row)
                    if text is not None and text.activity_id in wanted_activities:
                        texts[text.activity_id] = text
                continue
            owner_type_of = command_type.get(key)
            if owner_type_of is None:
                continue
            for row in item_rows(result):
                card = or_none(parse_item, owner_type_of, row)
                if card is not None:
                    cards[card.ref] = card
                    directory = stage_directory(owner_type_of, row) if stages else None
                    if directory is not None:
                        directories[card.ref] = directory
        if directories:
            cards |= await self._named_stages(cards, directories, reply, guessed)
        return CardLookup(
            records={ref: cards.get(ref) or Hidden(ref=ref) for ref in wanted}, todos=texts
        )

    async def _named_stages(
        self,
        cards: Mapping[OwnerRef, values.RecordCard | Hidden],
        directories: Mapping[OwnerRef, str],
        first: BatchReply,
        guessed: Sequence[str],
    ) -> dict[OwnerRef, values.RecordCard]:
        """The cards with their stage names: from the directories read with the rows, and
        the rest (other pipelines, smart processes) in one more round."""
        names = stage_names(first)
        missing = sorted(set(directories.values()) - set(guessed))
        if missing:
            second = await run_commands(self._client, stage_commands(missing), safe=True)
            raise_first(second, tolerate=(CrmPermissionDenied, CrmNotFound))
            names |= stage_names(second)
        named: dict[OwnerRef, values.RecordCard] = {}
        for ref, directory in directories.items():
            card = cards[ref]
            if isinstance(card, values.RecordCard) and card.stage_id is not None:
                name = names.get((directory, card.stage_id))
                if name is not None:
                    named[ref] = attrs.evolve(card, stage_name=name)
        return named

    async def search_records(
        self, owner_type: EntityType, text: str, *, limit: int = 20
    ) -> list[values.RecordCard]:
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
                {**item_params(owner_type, item_filter), "order": {"id": "DESC"}, "start": 0},
            )
            for index, item_filter in enumerate(filters)
        }
        reply = await run_commands(self._client, commands, safe=True)
        raise_first(reply, tolerate=(CrmPermissionDenied,))
        cards: dict[int, values.RecordCard] = {}
        for result in reply.results.values():
            for row in item_rows(result):
                card = or_none(parse_item, owner_type, row)
                if card is not None:
                    cards.setdefault(card.ref.id, card)
        ordered = sorted(cards.values(), key=lambda card: card.ref.id, reverse=True)
        return ordered[:limit]

    async def open_records(
        self, owner_type: EntityType, *, limit: int = 500
    ) -> list[values.RecordCard]:
        """Open deals (``closed=N``) or leads in progress (``stageSemanticId=P``); contacts and
        companies have no open state, so every visible one counts."""
        item_filter: dict[str, Any] = {}
        if owner_type is OwnerType.DEAL:
            item_filter["closed"] = "N"
        elif owner_type is OwnerType.LEAD:
            item_filter["stageSemanticId"] = "P"
        cards: list[values.RecordCard] = []
        last_id = 0
        for _page in range(math.ceil(limit / PAGE)):
            reply = await self._client.call(
                "crm.item.list",
                {
                    **item_params(owner_type, {**item_filter, ">id": last_id}),
                    "order": {"id": "ASC"},
                },
                safe=True,
            )
            rows = item_rows(reply.result)
            for row in rows:
                card = or_none(parse_item, owner_type, row)
                if card is not None:
                    cards.append(card)
                    last_id = max(last_id, card.ref.id)
            if len(rows) < PAGE:
                break
        return cards[:limit]

    async def smart_processes(self) -> list[values.SmartProcessInfo]:
        return await smart_processes(self._client)

    # ------------------------------------------------------------ users

    async def current_user(self) -> values.CurrentUser:
        reply = await self._client.call("profile", {}, safe=True)
        row = as_dict(reply.result)
        if not row:
            # ``profile`` answers an empty object for an inactive user (§13).
            raise CrmPermissionDenied("profile: the user is not active", code="INACTIVE_USER")
        return parse_profile(row)

    async def app_info(self) -> values.AppInfo:
        reply = await self._client.call("app.info", {}, safe=True)
        return parse_app_info(as_dict(reply.result))

    async def users(self, user_ids: Iterable[int] | None = None) -> list[values.UserInfo]:
        if user_ids is not None:
            ids = unique(user_ids)
            commands = {
                f"u{index}": Command(
                    "user.get",
                    {"filter": {"@ID": chunk}, "sort": "ID", "order": "ASC"},
                )
                for index, chunk in enumerate(chunks(ids, PAGE))
            }
            reply = await run_commands(self._client, commands, safe=True)
            raise_first(reply)
            rows = [row for result in reply.results.values() for row in list_rows(result)]
        else:
            # Dismissed users are dropped here rather than by an ``ACTIVE`` filter: a boolean
            # has no unambiguous form encoding inside a batch command (§6).
            rows = [
                row
                for row in await list_all(
                    self._client,
                    "user.get",
                    {"filter": {"USER_TYPE": "employee"}, "sort": "ID", "order": "ASC"},
                )
                if row.get("ACTIVE") is None or to_bool(row.get("ACTIVE"))
            ]
        return by_id(rows, parse_user)

    async def departments(self) -> list[values.Department]:
        # No ``sort`` param: department.get also takes a ``SORT`` filter as a top-level key,
        # and legacy parameter names may be case-insensitive (BITRIX24.md §13, §21.23).
        rows = await list_all(self._client, "department.get", {})
        return by_id(rows, parse_department)

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

    async def bind_placements(self, handler: str, placements: Sequence[MenuBinding]) -> None:
        # Unbind-then-bind as above, but in one batch rather than two calls a placement, so
        # an install or an update stays within the leaky bucket's burst (BITRIX24.md §6).
        commands: dict[str, Command] = {}
        for index, menu in enumerate(placements):
            target = {"PLACEMENT": menu.code, "HANDLER": handler}
            commands[f"u{index}"] = Command("placement.unbind", target)
            if menu.bind:
                langs = {lang: {"TITLE": text} for lang, text in menu.titles.items()}
                commands[f"b{index}"] = Command(
                    "placement.bind", {**target, "TITLE": menu.title, "LANG_ALL": langs}
                )
        reply = await run_commands(self._client, commands, safe=False)
        for key, error in reply.errors.items():
            if key.startswith("b"):
                raise error
