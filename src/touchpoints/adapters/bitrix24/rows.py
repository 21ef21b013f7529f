"""Bitrix24 CRM rows into domain values: the select lists and one parser a row shape."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, Protocol, TypeVar

from touchpoints.adapters.bitrix24.wire import (
    WireError,
    as_dict,
    as_list,
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
    TodoText,
    UserInfo,
)
from touchpoints.domain.model import EntityType, OwnerRef, OwnerType, entity_type_of_id
from touchpoints.domain.trusted import trusted
from touchpoints.ports.crm import CrmError

ACTIVITY_SELECT = [
    "ID",
    "OWNER_TYPE_ID",
    "OWNER_ID",
    "DEADLINE",
    "RESPONSIBLE_ID",
    "COMPLETED",
    "SUBJECT",
    "PROVIDER_ID",
]
TEXT_SELECT = ["ID", "SUBJECT", "DESCRIPTION"]
ITEM_SELECT = [
    "id",
    "title",
    "name",
    "lastName",
    "stageId",
    "categoryId",
    "opportunity",
    "currencyId",
    "assignedById",
    "closed",
    "stageSemanticId",
]
USER_SELECT = [
    "ID",
    "ACTIVE",
    "NAME",
    "LAST_NAME",
    "PERSONAL_PHOTO",
    "UF_DEPARTMENT",
    "TIME_ZONE",
]


def list_rows(result: Any) -> list[dict[str, Any]]:
    """The object rows of a list result; anything else in it is dropped."""
    return [row for row in as_list(result) if isinstance(row, dict)]


def item_rows(result: Any) -> list[dict[str, Any]]:
    """``crm.item.list`` wraps its rows in ``result.items`` (§12.1)."""
    return list_rows(as_dict(result).get("items"))


def join(*parts: Any) -> str:
    """The non-blank parts, stripped, with one space between them."""
    return " ".join(text for text in (to_str(part).strip() for part in parts) if text)


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
            owner = OwnerRef(entity_type_of_id(owner_type_id), owner_id)
        except ValueError:
            owner = None  # a quote, an invoice or another kind we do not serve
    return Activity(
        id=to_int(row.get("ID")),
        owner=owner,
        deadline=parse_datetime(row.get("DEADLINE")),
        responsible_id=to_opt_int(row.get("RESPONSIBLE_ID")) or 0,
        completed=to_bool(row.get("COMPLETED")),
        subject=to_str(row.get("SUBJECT")),
        provider_id=to_str(row.get("PROVIDER_ID")),
    )


_CONTACT, _COMPANY = OwnerType.CONTACT, OwnerType.COMPANY  # compared by identity, per row


def parse_item(owner_type: EntityType, row: Mapping[str, Any]) -> RecordCard:
    """A board card from a typed camelCase ``crm.item`` row (§12.1).

    A contact has no title: its card shows the person's name.

    Raises:
        WireError: the row lacks an id.
    """
    get = row.get
    item_id = to_int(get("id"))
    if item_id <= 0:
        raise WireError("not a record id")
    title = "" if owner_type is _CONTACT else to_str(get("title")).strip()
    if not title:
        title = join(get("name"), get("lastName"))
    # Contacts have no stage or amount, and a company's ``revenue`` is not a deal's sum
    # (BITRIX24.md §12.2): only leads, deals and smart-process items say them.
    staged = has_stages(owner_type)
    # Every field is read and checked here, so the card needs no second validation: a
    # board reads 200 of them per render.
    return trusted(
        RecordCard,
        {
            "ref": trusted(OwnerRef, {"type": owner_type, "id": item_id}),
            "title": title or f"#{item_id}",
            "stage_id": (to_str(get("stageId")) or None) if staged else None,
            "stage_name": None,
            "amount": to_opt_float(get("opportunity")) if staged else None,
            "currency": (to_str(get("currencyId")) or None) if staged else None,
            "assigned_by_id": to_opt_int(get("assignedById")),
            # Deals say ``closed``; leads only tell by their stage's semantics: S (converted)
            # or F (junk) means the lead is finished (BITRIX24.md §12.1).
            "closed": to_bool(get("closed"))
            or to_str(get("stageSemanticId")).upper() in ("S", "F"),
        },
    )


def has_stages(owner_type: EntityType) -> bool:
    """Leads, deals and smart-process items move through stages and carry an amount."""
    return owner_type is not _CONTACT and owner_type is not _COMPANY


def stage_directory(owner_type: EntityType, row: Mapping[str, Any]) -> str | None:
    """The ``crm.status.list`` ``ENTITY_ID`` naming a typed item row's stages: ``STATUS``
    for leads, ``DEAL_STAGE`` (general pipeline) or ``DEAL_STAGE_<categoryId>`` for deals,
    ``DYNAMIC_<entityTypeId>_STAGE_<categoryId>`` for smart-process items; None for the
    others or a row without a stage.
    """
    if not has_stages(owner_type) or not to_str(row.get("stageId")):
        return None
    if owner_type is OwnerType.LEAD:
        return "STATUS"
    category = to_opt_int(row.get("categoryId")) or 0
    if owner_type is OwnerType.DEAL:
        return "DEAL_STAGE" if category == 0 else f"DEAL_STAGE_{category}"
    return f"DYNAMIC_{owner_type.type_id}_STAGE_{category}"


def parse_stage_names(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """Stage names by (``ENTITY_ID``, ``STATUS_ID``) from ``crm.status.list`` rows (legacy
    string scalars); rows without an id or a name are left out."""
    names: dict[tuple[str, str], str] = {}
    for row in rows:
        directory = to_str(row.get("ENTITY_ID")).strip()
        status_id = to_str(row.get("STATUS_ID")).strip()
        name = to_str(row.get("NAME")).strip()
        if directory and status_id and name:
            names[directory, status_id] = name
    return names


def parse_profile(row: Mapping[str, Any]) -> CurrentUser:
    """A non-empty ``profile`` reply (§13).

    Raises: CrmError when it names no user.
    """
    try:
        user_id = to_int(row.get("ID"))
    except WireError as exc:
        raise CrmError("profile: no user id in the reply") from exc
    return CurrentUser(
        id=user_id,
        is_admin=to_bool(row.get("ADMIN")),
        name=join(row.get("NAME"), row.get("LAST_NAME")),
        time_zone=to_str(row.get("TIME_ZONE")),
        photo_url=to_str(row.get("PERSONAL_PHOTO")) or None,
    )


def parse_app_info(row: Mapping[str, Any]) -> AppInfo:
    """``app.info``: our app's id and code on the portal, and whether it is installed (§8.2).

    Raises: CrmError when the reply names no application.
    """
    app_id = to_str(row.get("ID"))
    if not app_id:
        raise CrmError("app.info: no application id in the reply", code="BAD_REPLY")
    installed = row.get("INSTALLED")
    return AppInfo(
        id=app_id,
        code=to_str(row.get("CODE")),
        installed=True if installed is None else to_bool(installed),
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
        name=join(row.get("NAME"), row.get("LAST_NAME")) or f"#{user_id}",
        photo_url=to_str(row.get("PERSONAL_PHOTO")) or None,
        department_ids=tuple(departments),
        time_zone=to_str(row.get("TIME_ZONE")),
        active=True if active is None else to_bool(active),
        language=to_str(row.get("LANGUAGE_ID")) or None,
    )


def parse_department(row: Mapping[str, Any]) -> Department:
    """A ``department.get`` row (§13).

    Raises:
        WireError: the row lacks an id.
    """
    return Department(
        id=to_int(row.get("ID")),
        name=to_str(row.get("NAME")),
        parent_id=to_opt_int(row.get("PARENT")),
    )


def parse_todo_text(row: Mapping[str, Any]) -> TodoText:
    """A to-do's subject and description from a legacy activity row (§11.3).

    Raises:
        WireError: the row lacks an id.
    """
    get = row.get
    return trusted(
        TodoText,
        {
            "activity_id": to_int(get("ID")),
            "subject": to_str(get("SUBJECT")),
            "description": to_str(get("DESCRIPTION")),
        },
    )


class _Identified(Protocol):
    @property
    def id(self) -> int: ...


_Parsed = TypeVar("_Parsed", bound=_Identified)
_Read = TypeVar("_Read")
_Args = ParamSpec("_Args")


def by_id(
    rows: Iterable[Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], _Parsed]
) -> list[_Parsed]:
    """The rows ``parse`` can read, the last one of each id, in id order."""
    found: dict[int, _Parsed] = {}
    for row in rows:
        try:
            value = parse(row)
        except WireError:
            continue
        found[value.id] = value
    return [found[key] for key in sorted(found)]


def or_none(
    parse: Callable[_Args, _Read], *args: _Args.args, **kwargs: _Args.kwargs
) -> _Read | None:
    """What ``parse`` reads of a row, or None where the row cannot be read (``WireError``)."""
    try:
        return parse(*args, **kwargs)
    except WireError:
        return None
