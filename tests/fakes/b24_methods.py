"""REST methods of the Bitrix24 emulator, each answering as BITRIX24.md documents it."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import attrs

from tests.fakes.b24_wire import (
    RestError,
    as_list,
    format_datetime,
    get_ci,
    iter_conditions,
    match_condition,
    page_rows,
    parse_datetime,
    php_str,
    sort_rows,
    split_filter_key,
    to_flag,
    to_int,
    yn,
)
from tests.fakes.b24_world import (
    ENTITY_NAMES,
    OUR_APP,
    ActivityRecord,
    CrmRecord,
    EventBinding,
    ImMessage,
    PlacementBinding,
    PortalState,
    StageEntry,
    User,
)

ATTACH_MAX = 60_000  # characters of serialised ATTACH (BITRIX24.md §15)

KNOWN_EVENTS = frozenset(
    {
        "ONAPPINSTALL",
        "ONAPPUPDATE",
        "ONAPPUNINSTALL",
        "ONAPPTEST",
        "ONCRMACTIVITYADD",
        "ONCRMACTIVITYUPDATE",
        "ONCRMACTIVITYDELETE",
        *(
            f"ONCRM{name}{action}"
            for name in ENTITY_NAMES.values()
            for action in ("ADD", "UPDATE", "DELETE")
        ),
    }
)

# The timeline's activity menu exists for leads, deals, quotes, smart invoices and smart
# processes only: not for contacts or companies (BITRIX24.md §22.2.3).
_PLACEMENTS = re.compile(
    r"^(CRM_(LEAD|DEAL|CONTACT|COMPANY)_(DETAIL_TAB|LIST_MENU|DETAIL_TOOLBAR)"
    r"|CRM_(LEAD|DEAL|QUOTE|SMART_INVOICE)_ACTIVITY_TIMELINE_MENU"
    r"|CRM_DYNAMIC_\d+_(DETAIL_TAB|LIST_MENU|ACTIVITY_TIMELINE_MENU)|CRM_ANALYTICS_MENU"
    r"|CRM_ACTIVITY_LIST_MENU|LEFT_MENU|REST_APP_URI|PAGE_BACKGROUND_WORKER)$"
)

_SINGLE_HANDLER = frozenset({"REST_APP_URI", "PAGE_BACKGROUND_WORKER"})


class Core(Protocol):
    """What the methods need from the emulator around them."""

    def now(self) -> datetime: ...

    def activity_changed(
        self, portal: PortalState, event: str, activity_id: int, user_id: int
    ) -> None:
        """Queue ONCRMACTIVITY{ADD,UPDATE,DELETE} for the portal's bound handlers (§11.6)."""
        ...

    def app_test(self, portal: PortalState, query: Mapping[str, Any], user_id: int) -> None: ...

    def token_app(self, token: object) -> str:
        """The app an access token was issued to (``app.info`` tells apps apart)."""
        ...

    @property
    def reject_local_handlers(self) -> bool: ...


@attrs.define(kw_only=True)
class Call:
    """One method execution: the portal, the token's user and scopes, and the parameters."""

    core: Core
    portal: PortalState
    user: User
    scopes: frozenset[str]
    params: dict[str, Any]
    method: str

    @property
    def zone(self) -> ZoneInfo:
        return self.portal.zone

    def dt(self, value: datetime | None) -> str | None:
        return format_datetime(value, self.zone)


@attrs.frozen
class Reply:
    """A method's result; list methods add ``total`` and ``next`` (§4.1)."""

    result: Any
    total: int | None = None
    next: int | None = None


Handler = Callable[[Call], Reply]


@attrs.frozen
class MethodSpec:
    name: str
    handler: Handler
    scopes: tuple[str, ...]  # any one of them suffices; empty = basic, always granted


METHODS: dict[str, MethodSpec] = {}


def method(name: str, *scopes: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name] = MethodSpec(name, handler, scopes)
        return handler

    return register


# ------------------------------------------------------------------ errors


def legacy_error(text: str) -> RestError:
    """Legacy CRM methods answer an empty code and a text, HTTP 400 (BITRIX24.md §4.2)."""
    return RestError("", text, 400)


def _required(params: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise RestError("100", f"Could not find value for parameter {{{name}}}", 400)


def _argument(params: Mapping[str, Any], name: str) -> Any:
    value = get_ci(params, name)
    if value in (None, ""):
        raise RestError("ERROR_ARGUMENT", f"Argument '{name}' is null or empty", 400, argument=name)
    return value


def _require_admin(call: Call) -> None:
    if not call.user.admin:
        raise RestError("ACCESS_DENIED", "Access denied! Administrator access required", 403)


# ------------------------------------------------------------------ system, users


@method("server.time")
def server_time(call: Call) -> Reply:
    return Reply(call.dt(call.core.now()))


@method("scope")
def scope(call: Call) -> Reply:
    return Reply(sorted(call.scopes))


@method("method.get")
def method_get(call: Call) -> Reply:
    name = str(get_ci(call.params, "name", "")).lower()
    spec = METHODS.get(name)
    available = spec is not None and (not spec.scopes or bool(call.scopes & set(spec.scopes)))
    return Reply({"isExisting": spec is not None, "isAvailable": available})


@method("app.info")
def app_info(call: Call) -> Reply:
    # Each app installed on the portal has its own local id; ours is 1 (§8.2, app.info).
    app = call.core.token_app(get_ci(call.params, "auth"))
    return Reply(
        {
            "ID": 1 if app == OUR_APP else 2 + sum(map(ord, app)) % 1000,
            "CODE": app,
            "VERSION": call.portal.app_version,
            "STATUS": call.portal.status,
            "INSTALLED": call.portal.installed,
            "PAYMENT_EXPIRED": yn(call.portal.payment_required),
            "DAYS": None,
            "LANGUAGE_ID": call.portal.language,
            "LICENSE": f"{call.portal.language}_project",
            "LICENSE_TYPE": "project",
            "LICENSE_FAMILY": "project",
        }
    )


@method("app.option.set")
def app_option_set(call: Call) -> Reply:
    if not call.user.admin:
        raise RestError("ACCESS_DENIED", "Administrator authorization required", 403)
    options = get_ci(call.params, "options")
    if not isinstance(options, Mapping) or not options:
        raise RestError(
            "ERROR_ARGUMENT", "Argument 'options' is null or empty", 400, argument="options"
        )
    call.portal.options.update(options)
    return Reply(True)


@method("app.option.get")
def app_option_get(call: Call) -> Reply:
    name = get_ci(call.params, "option")
    if name in (None, ""):
        return Reply(dict(call.portal.options) or [])
    return Reply(call.portal.options.get(str(name)))


@method("profile")
def profile(call: Call) -> Reply:
    user = call.user
    if not user.active:
        return Reply([])  # "an empty object" for an inactive user; PHP encodes it as []
    result: dict[str, Any] = {
        "ID": str(user.id),
        "ADMIN": user.admin,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "PERSONAL_GENDER": user.gender,
        "TIME_ZONE": user.time_zone,
    }
    if user.photo:
        result["PERSONAL_PHOTO"] = user.photo
    return Reply(result)


@method("user.admin")
def user_admin(call: Call) -> Reply:
    return Reply(call.user.admin)


def _user_row(call: Call, user: User) -> dict[str, Any]:
    """A user as ``user.get`` returns them; the field set depends on the scope (§13)."""
    row: dict[str, Any] = {
        "ID": str(user.id),
        "ACTIVE": user.active,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "SECOND_NAME": user.second_name,
        "TITLE": "",
        "IS_ONLINE": "N",
        "TIME_ZONE": user.time_zone,
        "TIME_ZONE_OFFSET": "0",
        "PERSONAL_GENDER": user.gender,
        "WORK_POSITION": user.work_position,
        "UF_DEPARTMENT": list(user.departments),
        "USER_TYPE": user.user_type,
    }
    if user.photo:
        row["PERSONAL_PHOTO"] = user.photo
    if call.scopes & {"user", "user_basic"}:
        row["EMAIL"] = user.email
    return row


def _user_filter_view(user: User) -> dict[str, Any]:
    return {
        "ID": user.id,
        "ACTIVE": user.active,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "USER_TYPE": user.user_type,
        "IS_ONLINE": "N",
        "UF_DEPARTMENT": user.departments,
    }


_USER_GET_PARAMS = {
    "sort",
    "order",
    "select",
    "start",
    "admin_mode",
    "image_resize",
    "filter",
    "auth",
}


@method("user.current", "user", "user_basic", "user_brief")
def user_current(call: Call) -> Reply:
    return Reply(_user_row(call, call.user))


@method("user.get", "user", "user_basic", "user_brief")
def user_get(call: Call) -> Reply:
    flt = dict(get_ci(call.params, "filter") or {})
    for key, value in call.params.items():
        if key.lower() not in _USER_GET_PARAMS:
            flt[key] = value
    users = [u for u in call.portal.users.values() if u.user_type == "employee"]
    rows = [u for u in users if _match_user(call, u, flt)]
    sort_field = str(get_ci(call.params, "sort") or "ID").upper()
    descending = str(get_ci(call.params, "order") or "ASC").upper() == "DESC"
    views = sort_rows(
        [_user_filter_view(u) | {"_user": u} for u in rows], [(sort_field, descending)]
    )
    page, total, following = page_rows(views, get_ci(call.params, "start"))
    return Reply([_user_row(call, v["_user"]) for v in page], total, following)


def _match_user(call: Call, user: User, flt: Mapping[str, Any]) -> bool:
    view = _user_filter_view(user)
    for key, wanted in iter_conditions(flt):
        op, field = split_filter_key(key)
        field = field.upper()
        if field == "UF_DEPARTMENT":
            wanted_ids = {to_int(v) for v in as_list(wanted)}
            hit = bool(wanted_ids & set(user.departments))
            if hit == (op in {"!", "!=", "!@"}):
                return False
            continue
        if field not in view:
            continue  # unknown or unsupported fields are ignored, as user.get drops them
        if not match_condition(view[field], op, wanted, call.zone):
            return False
    return True


@method("department.get", "department")
def department_get(call: Call) -> Reply:
    views = [
        {"ID": d.id, "NAME": d.name, "SORT": d.sort, "PARENT": d.parent, "UF_HEAD": d.head, "_d": d}
        for d in call.portal.departments.values()
    ]
    flt = {
        k: v
        for k, v in call.params.items()
        if k.upper() in {"ID", "NAME", "SORT", "PARENT", "UF_HEAD"}
    }
    rows = [v for v in views if _match_view(call, v, flt, upper=True)]
    sort_field = str(get_ci(call.params, "sort") or "SORT").upper()
    descending = str(get_ci(call.params, "order") or "ASC").upper() == "DESC"
    rows = sort_rows(rows, [(sort_field, descending), ("ID", False)])
    page, total, following = page_rows(rows, get_ci(call.params, "start"))
    result = []
    for view in page:
        row: dict[str, Any] = {"ID": str(view["ID"]), "NAME": view["NAME"], "SORT": view["SORT"]}
        if view["PARENT"] is not None:
            row["PARENT"] = str(view["PARENT"])
        if view["UF_HEAD"] is not None:
            row["UF_HEAD"] = str(view["UF_HEAD"])
        result.append(row)
    return Reply(result, total, following)


def _match_view(
    call: Call, view: Mapping[str, Any], flt: Mapping[str, Any], *, upper: bool
) -> bool:
    for key, wanted in iter_conditions(flt):
        op, field = split_filter_key(key)
        name = field.upper() if upper else field
        if name not in view:
            continue
        if not match_condition(view[name], op, wanted, call.zone):
            return False
    return True


# ------------------------------------------------------------------ CRM: activities (§11)

_ACTIVITY_DEFAULT_FIELDS = (
    "ID", "OWNER_ID", "OWNER_TYPE_ID", "TYPE_ID", "PROVIDER_ID", "PROVIDER_TYPE_ID",
    "PROVIDER_GROUP_ID", "ASSOCIATED_ENTITY_ID", "SUBJECT", "CREATED", "LAST_UPDATED",
    "START_TIME", "END_TIME", "DEADLINE", "COMPLETED", "STATUS", "RESPONSIBLE_ID", "PRIORITY",
    "NOTIFY_TYPE", "NOTIFY_VALUE", "DESCRIPTION", "DESCRIPTION_TYPE", "DIRECTION", "LOCATION",
    "SETTINGS", "ORIGINATOR_ID", "ORIGIN_ID", "AUTHOR_ID", "EDITOR_ID", "PROVIDER_PARAMS",
    "PROVIDER_DATA", "RESULT_MARK", "RESULT_VALUE", "RESULT_SUM", "RESULT_CURRENCY_ID",
    "RESULT_STATUS", "RESULT_STREAM", "RESULT_SOURCE_ID", "AUTOCOMPLETE_RULE",
)  # fmt: skip


def _activity_typed(activity: ActivityRecord) -> dict[str, Any]:
    """Typed values for filtering and sorting."""
    return {
        "ID": activity.id,
        "OWNER_ID": activity.owner_id,
        "OWNER_TYPE_ID": activity.owner_type_id,
        "TYPE_ID": activity.type_id,
        "PROVIDER_ID": activity.provider_id,
        "PROVIDER_TYPE_ID": activity.provider_type_id,
        "SUBJECT": activity.subject,
        "DESCRIPTION": activity.description,
        "CREATED": activity.created,
        "LAST_UPDATED": activity.last_updated,
        "START_TIME": activity.start_time,
        "END_TIME": activity.end_time,
        "DEADLINE": activity.deadline,
        "COMPLETED": yn(activity.completed),
        "STATUS": activity.status,
        "RESPONSIBLE_ID": activity.responsible_id,
        "PRIORITY": activity.priority,
        "AUTHOR_ID": activity.author_id,
        "EDITOR_ID": activity.editor_id,
        "DIRECTION": 0,
    }


def activity_wire(
    call: Call, activity: ActivityRecord, select: list[str] | None = None
) -> dict[str, Any]:
    """An activity as the legacy methods return it: every scalar a string, empty objects ``[]``."""
    full: dict[str, Any] = {
        "ID": str(activity.id),
        "OWNER_ID": str(activity.owner_id),
        "OWNER_TYPE_ID": str(activity.owner_type_id),
        "TYPE_ID": str(activity.type_id),
        "PROVIDER_ID": activity.provider_id,
        "PROVIDER_TYPE_ID": activity.provider_type_id,
        "PROVIDER_GROUP_ID": None,
        "ASSOCIATED_ENTITY_ID": "0",
        "SUBJECT": activity.subject,
        "CREATED": call.dt(activity.created),
        "LAST_UPDATED": call.dt(activity.last_updated),
        "START_TIME": call.dt(activity.start_time),
        "END_TIME": call.dt(activity.end_time),
        "DEADLINE": call.dt(activity.deadline),
        "COMPLETED": yn(activity.completed),
        "STATUS": str(activity.status),
        "RESPONSIBLE_ID": str(activity.responsible_id),
        "PRIORITY": str(activity.priority),
        "NOTIFY_TYPE": "0",
        "NOTIFY_VALUE": "0",
        "DESCRIPTION": activity.description,
        "DESCRIPTION_TYPE": "1",
        "DIRECTION": "0",
        "LOCATION": "",
        "SETTINGS": [],
        "ORIGINATOR_ID": None,
        "ORIGIN_ID": None,
        "AUTHOR_ID": str(activity.author_id),
        "EDITOR_ID": str(activity.editor_id),
        "PROVIDER_PARAMS": [],
        "PROVIDER_DATA": None,
        "RESULT_MARK": "0",
        "RESULT_VALUE": None,
        "RESULT_SUM": None,
        "RESULT_CURRENCY_ID": None,
        "RESULT_STATUS": "0",
        "RESULT_STREAM": "0",
        "RESULT_SOURCE_ID": None,
        "AUTOCOMPLETE_RULE": "0",
    }
    if not select:
        return full
    wanted = {str(s).upper() for s in select}
    row = {"ID": full["ID"]}
    for key, value in full.items():
        if "*" in wanted or key in wanted:
            row[key] = value
    if "BINDINGS" in wanted:
        row["BINDINGS"] = [
            {"OWNER_TYPE_ID": str(t), "OWNER_ID": str(i)} for t, i in activity.bindings
        ]
    if "COMMUNICATIONS" in wanted:
        row["COMMUNICATIONS"] = []
    return row


def _activity_matches(call: Call, activity: ActivityRecord, flt: Mapping[str, Any]) -> bool:
    typed = _activity_typed(activity)
    for key, wanted in iter_conditions(flt):
        op, field = split_filter_key(key)
        name = field.upper()
        if name == "BINDINGS":
            if not _bindings_match(activity, wanted):
                return False
            continue
        if name not in typed:
            continue  # legacy lists ignore fields they do not know
        if not match_condition(typed[name], op, wanted, call.zone):
            return False
    return True


def _bindings_match(activity: ActivityRecord, wanted: Any) -> bool:
    """``filter[BINDINGS]``: any listed {OWNER_TYPE_ID?, OWNER_ID?} bound to the activity (§11.4)."""
    for entry in as_list(wanted):
        if not isinstance(entry, Mapping):
            continue
        type_id = to_int(get_ci(entry, "OWNER_TYPE_ID"))
        owner_id = to_int(get_ci(entry, "OWNER_ID"))
        for bound_type, bound_id in activity.bindings:
            if (type_id is None or type_id == bound_type) and (
                owner_id is None or owner_id == bound_id
            ):
                return True
    return False


def _id_filter(flt: Mapping[str, Any], normalize: Callable[[str], str]) -> set[int] | None:
    """Ids an AND filter pins down (``ID``/``@ID``/``id``), so lookups skip a full scan."""
    if str(get_ci(flt, "logic") or "AND").upper() == "OR":
        return None
    ids: set[int] | None = None
    for key, wanted in iter_conditions(flt):
        op, field = split_filter_key(key)
        if normalize(field) != "id" or op not in {"=", "@"}:
            continue
        values = {n for n in (to_int(v) for v in as_list(wanted)) if n is not None}
        ids = values if ids is None else ids & values
    return ids


def _records_of(call: Call, etype: int, flt: Mapping[str, Any]) -> list[CrmRecord]:
    ids = _id_filter(flt, _norm)
    if ids is None:
        return [r for (t, _), r in call.portal.records.items() if t == etype]
    found = (call.portal.records.get((etype, i)) for i in sorted(ids))
    return [r for r in found if r is not None]


def _order(call: Call, default: list[tuple[str, bool]], *, upper: bool) -> list[tuple[str, bool]]:
    order = get_ci(call.params, "order")
    if not isinstance(order, Mapping) or not order:
        return default
    result = []
    for field, direction in order.items():
        name = str(field).upper() if upper else str(field)
        result.append((name, str(direction).upper() == "DESC"))
    return result


@method("crm.activity.list", "crm")
def activity_list(call: Call) -> Reply:
    flt = get_ci(call.params, "filter") or {}
    if not isinstance(flt, Mapping):
        flt = {}
    ids = _id_filter(flt, _norm)
    candidates = (
        call.portal.activities.values()
        if ids is None
        else [a for a in (call.portal.activities.get(i) for i in ids) if a is not None]
    )
    visible = [
        a
        for a in candidates
        if call.portal.can_read_activity(call.user, a) and _activity_matches(call, a, flt)
    ]
    order = [*_order(call, [("START_TIME", False)], upper=True), ("ID", False)]
    rows = sort_rows([_activity_typed(a) | {"_a": a} for a in visible], order)
    page, total, following = page_rows(rows, get_ci(call.params, "start"))
    select = as_list(get_ci(call.params, "select")) or None
    return Reply([activity_wire(call, row["_a"], select) for row in page], total, following)


def _activity_for(call: Call, *, not_found: str) -> ActivityRecord:
    activity_id = to_int(get_ci(call.params, "id"))
    activity = call.portal.activities.get(activity_id or 0)
    if activity is None:
        raise legacy_error(not_found)
    return activity


@method("crm.activity.get", "crm")
def activity_get(call: Call) -> Reply:
    activity = _activity_for(call, not_found="Activity is not found")
    if not call.portal.can_read_activity(call.user, activity):
        raise legacy_error("Access denied.")
    return Reply(activity_wire(call, activity))


@method("crm.activity.update", "crm")
def activity_update(call: Call) -> Reply:
    activity = _activity_for(call, not_found="Not found")
    if not call.portal.can_edit_activity(call.user, activity):
        raise legacy_error("Access denied.")
    fields = get_ci(call.params, "fields")
    if not isinstance(fields, Mapping) or not fields:
        raise legacy_error("The parameter 'fields' must be array.")
    for key, value in fields.items():
        name = str(key).upper()
        if name == "COMPLETED":
            activity.completed = to_flag(value)
        elif name == "SUBJECT":
            activity.subject = php_str(value)
        elif name == "DESCRIPTION":
            activity.description = php_str(value)
        elif name == "RESPONSIBLE_ID":
            responsible = to_int(value)
            if responsible is None or responsible <= 0:
                raise legacy_error("Responsible user is not specified.")
            activity.responsible_id = responsible
        elif name == "PRIORITY":
            activity.priority = to_int(value) or activity.priority
        elif name in {"START_TIME", "END_TIME"}:
            moment = parse_datetime(value, call.zone)
            if moment is None:
                raise legacy_error(f"The field '{name}' has invalid date format.")
            setattr(activity, name.lower(), moment)
            # DEADLINE is derived, not set directly (§11.3): END_TIME for to-dos and tasks.
            if name == "END_TIME":
                activity.deadline = moment
    activity.editor_id = call.user.id
    activity.last_updated = call.core.now()
    call.core.activity_changed(call.portal, "ONCRMACTIVITYUPDATE", activity.id, call.user.id)
    return Reply(True)


@method("crm.activity.delete", "crm")
def activity_delete(call: Call) -> Reply:
    activity = _activity_for(call, not_found="Not found")
    if not call.portal.can_edit_activity(call.user, activity):
        raise legacy_error("Access denied.")
    del call.portal.activities[activity.id]
    call.core.activity_changed(call.portal, "ONCRMACTIVITYDELETE", activity.id, call.user.id)
    return Reply(True)


# ------------------------------------------------------------------ CRM: to-dos (§11.5)


def _owner_for_todo(call: Call, *, adding: bool) -> tuple[int, int, CrmRecord | None]:
    owner_type_id = to_int(call.params.get("ownerTypeId"))
    owner_id = to_int(call.params.get("ownerId"))
    if owner_type_id is None or owner_id is None:
        raise RestError("100", "Could not find value for parameter {ownerTypeId}", 400)
    record = call.portal.records.get((owner_type_id, owner_id))
    if record is None and adding:
        raise RestError("NOT_FOUND", "Not found.", 400)
    return owner_type_id, owner_id, record


def _deadline(call: Call, name: str) -> datetime:
    moment = parse_datetime(call.params.get(name), call.zone)
    if moment is None:
        raise RestError("WRONG_DATETIME_FORMAT", f"Wrong datetime format in {name}", 400)
    return moment


def _responsible(call: Call, *, default: int | None) -> int | None:
    raw = call.params.get("responsibleId")
    if raw in (None, ""):
        return default
    value = to_int(raw)
    if value is None or value <= 0:
        raise RestError("INVALID_ARG_VALUE", "Invalid value of responsibleId", 400)
    return value


@method("crm.activity.todo.add", "crm")
def todo_add(call: Call) -> Reply:
    _required(call.params, "ownerTypeId", "ownerId", "deadline")
    owner_type_id, owner_id, _record = _owner_for_todo(call, adding=True)
    if not call.portal.can_edit(call.user, owner_type_id, owner_id):
        raise RestError("ACCESS_DENIED", "Access denied.", 400)
    deadline = _deadline(call, "deadline")
    responsible = _responsible(call, default=call.user.id)
    assert responsible is not None
    color = call.params.get("colorId")
    now = call.core.now()
    activity = ActivityRecord(
        id=call.portal.seq("activity"),
        owner_type_id=owner_type_id,
        owner_id=owner_id,
        bindings=[(owner_type_id, owner_id)],
        subject=php_str(call.params.get("title", "")),
        description=php_str(call.params.get("description", "")),
        start_time=deadline,
        end_time=deadline,
        deadline=deadline,
        responsible_id=responsible,
        author_id=call.user.id,
        editor_id=call.user.id,
        created=now,
        last_updated=now,
        parent_activity_id=to_int(call.params.get("parentActivityId")),
        ping_offsets=tuple(to_int(v) or 0 for v in as_list(call.params.get("pingOffsets"))),
        color_id=None if color in (None, "") else php_str(color),
    )
    call.portal.activities[activity.id] = activity
    call.core.activity_changed(call.portal, "ONCRMACTIVITYADD", activity.id, call.user.id)
    return Reply({"id": activity.id})


def _todo_for_update(call: Call, *, completed_error: str) -> ActivityRecord:
    _required(call.params, "id", "ownerTypeId", "ownerId")
    owner_type_id, owner_id, record = _owner_for_todo(call, adding=False)
    activity = call.portal.activities.get(to_int(call.params.get("id")) or 0)
    if (
        activity is None
        or activity.provider_id != "CRM_TODO"
        or (owner_type_id, owner_id) not in activity.bindings
    ):
        raise RestError("NOT_FOUND", "Not found.", 400)
    if record is None:
        raise RestError("OWNER_NOT_FOUND", "Owner not found.", 400)
    if not call.portal.can_edit(call.user, owner_type_id, owner_id):
        raise RestError("ACCESS_DENIED", "Access denied.", 400)
    if activity.completed:
        raise RestError(completed_error, "Completed to-do can not be updated.", 400)
    return activity


def _touched(call: Call, activity: ActivityRecord) -> Reply:
    activity.editor_id = call.user.id
    activity.last_updated = call.core.now()
    call.core.activity_changed(call.portal, "ONCRMACTIVITYUPDATE", activity.id, call.user.id)
    return Reply({"id": activity.id})


def _set_deadline(activity: ActivityRecord, deadline: datetime) -> None:
    activity.deadline = deadline
    activity.start_time = deadline
    activity.end_time = deadline


@method("crm.activity.todo.update", "crm")
def todo_update(call: Call) -> Reply:
    _required(call.params, "id", "ownerTypeId", "ownerId", "deadline")
    activity = _todo_for_update(call, completed_error="CAN_NOT_UPDATE_COMPLETED_TODO")
    deadline = _deadline(call, "deadline")
    responsible = _responsible(call, default=None)
    parent = to_int(call.params.get("parentActivityId"))
    if parent is not None and parent == activity.id:
        raise RestError(
            "ERROR_PARENT_ACTIVITY_RESTRICT", "Activity can not be its own parent.", 400
        )
    _set_deadline(activity, deadline)
    if "title" in call.params:
        activity.subject = php_str(call.params["title"])
    if "description" in call.params:
        activity.description = php_str(call.params["description"])
    if responsible is not None:
        activity.responsible_id = responsible
    if parent is not None:
        activity.parent_activity_id = parent
    if "colorId" in call.params:
        activity.color_id = php_str(call.params["colorId"]) or None
    if "pingOffsets" in call.params:
        activity.ping_offsets = tuple(to_int(v) or 0 for v in as_list(call.params["pingOffsets"]))
    return _touched(call, activity)


@method("crm.activity.todo.updateDeadline", "crm")
def todo_update_deadline(call: Call) -> Reply:
    _required(call.params, "id", "ownerTypeId", "ownerId", "value")
    activity = _todo_for_update(call, completed_error="CAN_NOT_UPDATE_COMPLETED_TODO")
    _set_deadline(activity, _deadline(call, "value"))
    return _touched(call, activity)


@method("crm.activity.todo.updateDescription", "crm")
def todo_update_description(call: Call) -> Reply:
    _required(call.params, "id", "ownerTypeId", "ownerId")
    activity = _todo_for_update(call, completed_error="CAN_NOT_UPDATE_COMPLETED_TODO")
    activity.description = php_str(call.params.get("value", ""))
    return _touched(call, activity)


@method("crm.activity.todo.updateResponsibleUser", "crm")
def todo_update_responsible(call: Call) -> Reply:
    _required(call.params, "id", "ownerTypeId", "ownerId", "responsibleId")
    responsible = _responsible(call, default=None)
    activity = _todo_for_update(
        call, completed_error="CAN_NOT_UPDATE_RESPONSIBLE_USER_COMPLETED_TODO"
    )
    assert responsible is not None
    activity.responsible_id = responsible
    return _touched(call, activity)


@method("crm.activity.todo.updateColor", "crm")
def todo_update_color(call: Call) -> Reply:
    _required(call.params, "id", "ownerTypeId", "ownerId", "colorId")
    activity = _todo_for_update(call, completed_error="CAN_NOT_UPDATE_COLOR_COMPLETED_TODO")
    color = php_str(call.params["colorId"])
    if color not in {str(n) for n in range(1, 8)}:
        raise RestError("CAN_NOT_UPDATE_WRONG_COLOR_TODO", "Wrong color.", 400)
    activity.color_id = color
    return _touched(call, activity)


# ------------------------------------------------------------------ CRM: items (§12)


def item_typed(call: Call, record: CrmRecord) -> dict[str, Any]:
    """A record as ``crm.item.*`` returns it: camelCase, ints as numbers, flags as Y/N."""
    row: dict[str, Any] = {
        "id": record.id,
        "createdTime": call.dt(record.created),
        "updatedTime": call.dt(record.updated),
        "createdBy": record.created_by,
        "updatedBy": record.created_by,
        "assignedById": record.assigned_by_id,
        "opened": "Y",
    }
    etype = record.entity_type_id
    if etype in (1, 2, 4) or etype >= 128:
        row["title"] = record.title
    if etype >= 128:  # a smart process's item (BITRIX24.md §22.3)
        row |= {
            "stageId": record.stage_id,
            "opportunity": record.opportunity,
            "currencyId": record.currency_id,
            "categoryId": record.category_id,
        }
    if etype in (1, 3):
        row |= {"name": record.name, "lastName": record.last_name, "secondName": record.second_name}
    if etype in (1, 2):
        row |= {
            "stageId": record.stage_id,
            "stageSemanticId": record.stage_semantic_id,
            "opportunity": record.opportunity,
            "currencyId": record.currency_id,
            "companyId": record.company_id,
            "contactId": record.contact_id,
        }
    if etype == 2:
        row |= {"categoryId": record.category_id, "closed": yn(record.closed)}
    if etype == 3:
        row["companyId"] = record.company_id
    if etype == 4:
        row |= {
            "companyType": record.company_type,
            "revenue": record.opportunity,
            "currencyId": record.currency_id,
        }
    row["entityTypeId"] = etype
    return row


@functools.cache
def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _item_field(row: Mapping[str, Any], name: str, *, where: str) -> str:
    wanted = _norm(name)
    for key in row:
        if _norm(key) == wanted:
            return key
    raise RestError(
        "INVALID_ARG_VALUE", f"Invalid {where}: field '{name}' is not allowed in {where}", 400
    )


def _item_matches(call: Call, row: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    """crm.item filters: prefixes, nested groups and ``logic: OR`` (BITRIX24.md §5)."""
    logic_or = str(get_ci(flt, "logic") or "AND").upper() == "OR"
    outcomes = []
    for key, wanted in iter_conditions(flt):
        if key.isdigit() and isinstance(wanted, Mapping):
            outcomes.append(_item_matches(call, row, wanted))
            continue
        op, field = split_filter_key(key)
        name = _item_field(row, field, where="filter")
        outcomes.append(match_condition(row[name], op, wanted, call.zone))
    if not outcomes:
        return True
    return any(outcomes) if logic_or else all(outcomes)


def _entity_type(call: Call) -> int:
    raw = call.params.get("entityTypeId")
    if raw in (None, ""):
        raise RestError("100", "Could not find value for parameter {entityTypeId}", 400)
    etype = to_int(raw)
    if etype not in ENTITY_NAMES and etype not in call.portal.smart_processes:
        raise RestError("NOT_FOUND", "Smart process not found", 400)
    assert etype is not None
    return etype


def _select_item(row: dict[str, Any], select: Any) -> dict[str, Any]:
    fields = as_list(select)
    if not fields or "*" in fields:
        return row
    wanted = {_norm(str(f)) for f in fields} | {"id"}
    return {k: v for k, v in row.items() if _norm(k) in wanted}


@method("crm.item.list", "crm")
def item_list(call: Call) -> Reply:
    etype = _entity_type(call)
    flt = call.params.get("filter") or {}
    if not isinstance(flt, Mapping):
        raise RestError("INVALID_ARG_VALUE", "Invalid filter", 400)
    rows = [
        item_typed(call, r)
        for r in _records_of(call, etype, flt)
        if call.portal.can_read(call.user, etype, r.id)
    ]
    if rows:
        rows = [r for r in rows if _item_matches(call, r, flt)]
    elif flt:  # still validate the fields against an empty type
        probe = item_typed(call, _probe_record(call, etype))
        _item_matches(call, probe, flt)
    order_raw = call.params.get("order")
    order: list[tuple[str, bool]] = []
    if isinstance(order_raw, Mapping) and rows:
        for field, direction in order_raw.items():
            text = str(direction).upper()
            if text not in {"ASC", "DESC"}:
                raise RestError(
                    "INVALID_ARG_VALUE",
                    f"Invalid order: allowed sort directions are ASC, DESC. But got '{direction}' for field '{field}'",
                    400,
                )
            order.append((_item_field(rows[0], str(field), where="order"), text == "DESC"))
    rows = sort_rows(rows, [*order, ("id", False)])
    page, total, following = page_rows(rows, call.params.get("start"))
    select = call.params.get("select")
    return Reply({"items": [_select_item(r, select) for r in page]}, total, following)


def _probe_record(call: Call, etype: int) -> CrmRecord:
    now = call.core.now()
    return CrmRecord(entity_type_id=etype, id=1, created=now, updated=now)


@method("crm.item.get", "crm")
def item_get(call: Call) -> Reply:
    etype = _entity_type(call)
    record = call.portal.records.get((etype, to_int(call.params.get("id")) or 0))
    if record is None:
        raise RestError("NOT_FOUND", "Element not found", 400)
    if not call.portal.can_read(call.user, etype, record.id):
        raise RestError("ACCESS_DENIED", "Access denied", 400)
    return Reply({"item": item_typed(call, record)})


# ------------------------------------------------------------------ CRM: legacy lists (§12.2)


def legacy_typed(call: Call, record: CrmRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ID": record.id,
        "ASSIGNED_BY_ID": record.assigned_by_id,
        "CREATED_BY_ID": record.created_by,
        "DATE_CREATE": record.created,
        "DATE_MODIFY": record.updated,
        "OPENED": "Y",
    }
    etype = record.entity_type_id
    if etype == 1:
        row |= {
            "TITLE": record.title,
            "NAME": record.name,
            "LAST_NAME": record.last_name,
            "SECOND_NAME": record.second_name,
            "STATUS_ID": record.stage_id,
            "STATUS_SEMANTIC_ID": record.stage_semantic_id,
            "OPPORTUNITY": record.opportunity,
            "CURRENCY_ID": record.currency_id,
        }
    elif etype == 2:
        row |= {
            "TITLE": record.title,
            "STAGE_ID": record.stage_id,
            "CATEGORY_ID": record.category_id,
            "STAGE_SEMANTIC_ID": record.stage_semantic_id,
            "OPPORTUNITY": record.opportunity,
            "CURRENCY_ID": record.currency_id,
            "CLOSED": yn(record.closed),
            "CONTACT_ID": record.contact_id or None,
            "COMPANY_ID": record.company_id or None,
        }
    elif etype == 3:
        row |= {
            "NAME": record.name,
            "SECOND_NAME": record.second_name,
            "LAST_NAME": record.last_name,
            "COMPANY_ID": record.company_id or None,
        }
    else:
        row |= {
            "TITLE": record.title,
            "COMPANY_TYPE": record.company_type,
            "REVENUE": record.opportunity,
            "CURRENCY_ID": record.currency_id,
        }
    return row


def legacy_wire(call: Call, typed: Mapping[str, Any], select: list[Any] | None) -> dict[str, Any]:
    """Every scalar a string (``"OPPORTUNITY": "19999.99"``), datetimes with the portal offset."""
    wanted = {str(s).upper() for s in select} if select else {"*"}
    row: dict[str, Any] = {}
    for key, value in typed.items():
        if key.startswith("_") or not ("*" in wanted or key in wanted or key == "ID"):
            continue
        if value is None:
            row[key] = None
        elif isinstance(value, float):
            row[key] = f"{value:.2f}"
        elif isinstance(value, datetime):
            row[key] = call.dt(value)
        else:
            row[key] = php_str(value)
    return row


def _legacy_list(etype: int) -> Handler:
    def handler(call: Call) -> Reply:
        flt = get_ci(call.params, "filter") or {}
        if not isinstance(flt, Mapping):
            flt = {}
        rows = [
            legacy_typed(call, r)
            for r in _records_of(call, etype, flt)
            if call.portal.can_read(call.user, etype, r.id)
        ]
        rows = [r for r in rows if _match_view(call, r, flt, upper=True)]
        rows = sort_rows(rows, [*_order(call, [], upper=True), ("ID", False)])
        page, total, following = page_rows(rows, get_ci(call.params, "start"))
        select = as_list(get_ci(call.params, "select")) or None
        return Reply([legacy_wire(call, r, select) for r in page], total, following)

    return handler


def _legacy_get(etype: int) -> Handler:
    def handler(call: Call) -> Reply:
        record = call.portal.records.get((etype, to_int(get_ci(call.params, "id")) or 0))
        if record is None:
            raise legacy_error("Not found")
        if not call.portal.can_read(call.user, etype, record.id):
            raise legacy_error("Access denied.")
        return Reply(legacy_wire(call, legacy_typed(call, record), None))

    return handler


for _etype, _name in ENTITY_NAMES.items():
    method(f"crm.{_name.lower()}.list", "crm")(_legacy_list(_etype))
    method(f"crm.{_name.lower()}.get", "crm")(_legacy_get(_etype))


def _stage_row(entry: StageEntry) -> dict[str, Any]:
    semantics = {"S": "success", "F": "failure"}.get(entry.semantics or "", "process")
    return {
        "ID": entry.id,
        "ENTITY_ID": entry.entity_id,
        "STATUS_ID": entry.status_id,
        "NAME": entry.name,
        "NAME_INIT": entry.name,
        "SORT": entry.sort,
        "SYSTEM": "N",
        "CATEGORY_ID": entry.category_id,
        "COLOR": "#39A8EF",
        "SEMANTICS": entry.semantics,
        "EXTRA": {"SEMANTICS": semantics, "COLOR": "#39A8EF"},
    }


@method("crm.status.list", "crm")
def status_list(call: Call) -> Reply:
    """Any user: directory items by ``filter`` and ``order`` (no ``select``, no paging in the
    docs' example: every match, with ``total``), legacy string scalars except ``CATEGORY_ID``
    and ``SEMANTICS``, which may be null [api-reference/crm/status/crm-status-list.md]."""
    flt = get_ci(call.params, "filter") or {}
    if not isinstance(flt, Mapping):
        raise legacy_error("Invalid parameters.")
    rows = [_stage_row(entry) for entry in call.portal.stages]
    rows = [row for row in rows if _match_view(call, row, flt, upper=True)]
    rows = sort_rows(rows, [*_order(call, [("SORT", False)], upper=True), ("ID", False)])
    wire = [
        {
            key: value if value is None or isinstance(value, dict) else php_str(value)
            for key, value in row.items()
        }
        for row in rows
    ]
    return Reply(wire, len(wire))


@method("crm.enum.ownertype", "crm")
def enum_ownertype(call: Call) -> Reply:
    """Any user: the CRM's types and its smart processes as ``DYNAMIC_<entityTypeId>`` with a
    short code ``T<hex>`` (BITRIX24.md §22.3)."""
    names = {1: ("Lead", "L"), 2: ("Deal", "D"), 3: ("Contact", "C"), 4: ("Company", "CO")}
    rows: list[dict[str, Any]] = [
        {"ID": i, "NAME": n, "SYMBOL_CODE": ENTITY_NAMES[i], "SYMBOL_CODE_SHORT": s}
        for i, (n, s) in names.items()
    ]
    rows += [
        {"ID": 31, "NAME": "Invoice", "SYMBOL_CODE": "SMART_INVOICE", "SYMBOL_CODE_SHORT": "SI"},
        {"ID": 7, "NAME": "Estimate", "SYMBOL_CODE": "QUOTE", "SYMBOL_CODE_SHORT": "Q"},
    ]
    rows += [
        {"ID": i, "NAME": title, "SYMBOL_CODE": f"DYNAMIC_{i}", "SYMBOL_CODE_SHORT": f"T{i:x}"}
        for i, title in sorted(call.portal.smart_processes.items())
    ]
    return Reply(rows)


@method("crm.type.list", "crm")
def type_list(call: Call) -> Reply:
    """CRM administrators only (``ACCESS_DENIED`` otherwise); pages of 50 with ``total`` and
    ``next``; ``result.types`` (BITRIX24.md §22.3)."""
    if not call.user.admin:
        raise RestError("ACCESS_DENIED", "Access denied", 400)
    now = call.dt(call.core.now())
    rows = [
        {
            "id": index + 1,
            "title": title,
            "code": "",
            "createdBy": 1,
            "entityTypeId": etype,
            "customSectionId": None,
            "isCategoriesEnabled": "N",
            "isStagesEnabled": "Y",
            "isClientEnabled": "Y",
            "isAutomationEnabled": "N",
            "createdTime": now,
            "updatedTime": now,
            "updatedBy": 1,
        }
        for index, (etype, title) in enumerate(sorted(call.portal.smart_processes.items()))
    ]
    page, total, following = page_rows(rows, call.params.get("start"))
    return Reply({"types": page}, total, following)


# ------------------------------------------------------------------ events (§9.1)


@method("event.bind")
def event_bind(call: Call) -> Reply:
    event = str(_argument(call.params, "event")).upper()
    handler = str(_argument(call.params, "handler"))
    if event not in KNOWN_EVENTS:
        raise RestError("ERROR_EVENT_NOT_FOUND", "Event not found", 400)
    auth_type = to_int(get_ci(call.params, "auth_type")) or 0
    offline = str(get_ci(call.params, "event_type") or "online").lower() == "offline"
    if not call.user.admin and (offline or auth_type not in (0, call.user.id)):
        raise RestError("ACCESS_DENIED", "Access denied! Administrator access required", 403)
    for binding in call.portal.event_bindings:
        if (binding.event, binding.handler, binding.auth_type, binding.offline) == (
            event,
            handler,
            auth_type,
            offline,
        ):
            # Shown only as the generic error example; its status is not documented (§4.3).
            raise RestError("ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!", 400)
    call.portal.event_bindings.append(
        EventBinding(
            id=call.portal.seq("event_binding"),
            event=event,
            handler=handler,
            auth_type=auth_type,
            offline=offline,
            bound_by=call.user.id,
        )
    )
    return Reply(True)


def _own_bindings(call: Call) -> list[EventBinding]:
    if call.user.admin:
        return list(call.portal.event_bindings)
    return [b for b in call.portal.event_bindings if b.bound_by == call.user.id]


@method("event.get")
def event_get(call: Call) -> Reply:
    return Reply(
        [
            {
                "event": b.event,
                "handler": b.handler,
                "auth_type": str(b.auth_type),
                "offline": int(b.offline),
            }
            for b in _own_bindings(call)
        ]
    )


@method("event.unbind")
def event_unbind(call: Call) -> Reply:
    event = get_ci(call.params, "event")
    handler = get_ci(call.params, "handler")
    mine = _own_bindings(call)
    if event in (None, "") and handler in (None, ""):
        doomed = mine  # no parameters: every handler the caller may see (§9.1)
    else:
        auth_type = to_int(get_ci(call.params, "auth_type")) or 0
        offline = str(get_ci(call.params, "event_type") or "online").lower() == "offline"
        doomed = [
            b
            for b in mine
            if (event in (None, "") or b.event == str(event).upper())
            and (handler in (None, "") or b.handler == str(handler))
            and b.auth_type == auth_type
            and b.offline == offline
        ]
    ids = {b.id for b in doomed}
    call.portal.event_bindings = [b for b in call.portal.event_bindings if b.id not in ids]
    return Reply({"count": len(ids)})


@method("event.test")
def event_test(call: Call) -> Reply:
    query = {k: v for k, v in call.params.items() if k != "auth"}
    call.core.app_test(call.portal, query, call.user.id)
    return Reply(1)


# ------------------------------------------------------------------ placements (§10.3)


def _check_placement(call: Call, code: str) -> None:
    if not _PLACEMENTS.match(code):
        raise RestError("ERROR_PLACEMENT_NOT_FOUND", "Placement not found", 400)
    if code.startswith("CRM_") and "crm" not in call.scopes:
        raise RestError("ERROR_PLACEMENT_NOT_FOUND", "Placement not found", 400)


@method("placement.bind", "placement")
def placement_bind(call: Call) -> Reply:
    code = str(_argument(call.params, "PLACEMENT")).upper()
    handler = str(_argument(call.params, "HANDLER"))
    _require_admin(call)
    _check_placement(call, code)
    parts = urlsplit(handler)
    if parts.scheme not in {"http", "https"}:
        raise RestError("ERROR_UNSUPPORTED_PROTOCOL", "Unsupported event handler protocol", 400)
    host = parts.hostname or ""
    if not host or (call.core.reject_local_handlers and host in {"localhost", "127.0.0.1", "::1"}):
        raise RestError("ERROR_WRONG_HANDLER_URL", "Wrong handler URL", 400)
    user_id = to_int(get_ci(call.params, "USER_ID")) or 0
    if user_id and code != "PAGE_BACKGROUND_WORKER":
        raise RestError(
            "ERROR_PLACEMENT_USER_MODE", "User mode is not available for this placement", 400
        )
    if code in _SINGLE_HANDLER and any(b.placement == code for b in call.portal.placement_bindings):
        # One handler per app for these (BITRIX24.md §22.1.11, §22.2).
        raise RestError("ERROR_PLACEMENT_MAX_COUNT", "Placement max count reached", 400)
    lang_all = get_ci(call.params, "LANG_ALL") or {}
    options = get_ci(call.params, "OPTIONS")
    # Detail tabs and LEFT_MENU ignore OPTIONS; placement.get shows [] for them (§10.2).
    if code.endswith("_DETAIL_TAB") or code == "LEFT_MENU" or not options:
        options = []
    call.portal.placement_bindings.append(
        PlacementBinding(
            id=call.portal.seq("placement_binding"),
            placement=code,
            handler=handler,
            title=php_str(get_ci(call.params, "TITLE")),
            description=php_str(get_ci(call.params, "DESCRIPTION")),
            group_name=php_str(get_ci(call.params, "GROUP_NAME")),
            lang_all=dict(lang_all) if isinstance(lang_all, Mapping) else {},
            options=options,
            user_id=user_id,
        )
    )
    return Reply(True)


@method("placement.unbind", "placement")
def placement_unbind(call: Call) -> Reply:
    code = str(_argument(call.params, "PLACEMENT")).upper()
    _require_admin(call)
    handler = get_ci(call.params, "HANDLER")
    kept, removed = [], 0
    for binding in call.portal.placement_bindings:
        if binding.placement == code and (handler in (None, "") or binding.handler == handler):
            removed += 1
        else:
            kept.append(binding)
    call.portal.placement_bindings = kept
    return Reply({"count": removed})


@method("placement.get", "placement")
def placement_get(call: Call) -> Reply:
    _require_admin(call)
    return Reply(
        [
            {
                "placement": b.placement,
                "userId": b.user_id,
                "handler": b.handler,
                "options": b.options,
                "title": b.title,
                "description": b.description,
                "langAll": b.lang_all or [],
            }
            for b in call.portal.placement_bindings
        ]
    )


# ------------------------------------------------------------------ IM (§15)


def _notify(call: Call, *, kind: str) -> Reply:
    params = call.params
    user_id = to_int(get_ci(params, "USER_ID"))
    if user_id is None or user_id <= 0:
        raise RestError("USER_ID_EMPTY", "User ID can't be empty", 400)
    message = php_str(get_ci(params, "MESSAGE")).strip()
    if not message:
        raise RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
    attach = get_ci(params, "ATTACH")
    if isinstance(attach, str) and attach.strip():
        try:
            attach = json.loads(attach)
        except ValueError as exc:
            raise RestError("ATTACH_ERROR", "Incorrect attach params", 400) from exc
    if attach not in (None, ""):
        if not isinstance(attach, list | Mapping):
            raise RestError("ATTACH_ERROR", "Incorrect attach params", 400)
        if len(json.dumps(attach, ensure_ascii=False)) > ATTACH_MAX:
            raise RestError(
                "ATTACH_OVERSIZE", "You have exceeded the maximum allowable size of attach", 400
            )
    else:
        attach = None
    recipient = call.portal.users.get(user_id)
    if recipient is None or not recipient.active:
        return Reply(False)  # "false if nothing was created"
    tag = get_ci(params, "TAG")
    tag = None if tag in (None, "") else php_str(tag)
    if tag is not None:
        # TAG is unique within the app: a new one replaces (deletes) the earlier (§15).
        call.portal.inbox = [m for m in call.portal.inbox if m.tag != tag]
    sub_tag = get_ci(params, "SUB_TAG")
    out = get_ci(params, "MESSAGE_OUT")
    notification = ImMessage(
        id=call.portal.seq("im"),
        user_id=user_id,
        message=message,
        tag=tag,
        sub_tag=None if sub_tag in (None, "") else php_str(sub_tag),
        attach=attach,
        message_out=None if out in (None, "") else php_str(out),
        author_id=None if kind == "system" else call.user.id,
        kind="system" if kind == "system" else "personal",
        created_at=call.core.now(),
    )
    call.portal.inbox.append(notification)
    return Reply(notification.id)


@method("im.notify.system.add", "im")
def im_notify_system_add(call: Call) -> Reply:
    return _notify(call, kind="system")


@method("im.notify.personal.add", "im")
def im_notify_personal_add(call: Call) -> Reply:
    return _notify(call, kind="personal")


@method("im.notify", "im")
def im_notify(call: Call) -> Reply:
    kind = (
        "system" if str(get_ci(call.params, "TYPE") or "USER").upper() == "SYSTEM" else "personal"
    )
    return _notify(call, kind=kind)
