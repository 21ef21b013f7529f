"""The JSON API's wire format: a strict cattrs converter for requests, shapes for replies.

Requests: unknown fields, wrong types, naive datetimes, ids ≤ 0 and bad enum values are
all refused, every offending field listed (DESIGN.md §3.5). Replies: the fixed JSON shapes
of DESIGN.md §3.4, datetimes in the portal's offset.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

from touchpoints.domain.model import NOTE_MAX, TITLE_MAX, OwnerType, TouchPointType
from touchpoints.domain.settings import IntervalUnit, PortalSettings
from touchpoints.entrypoints.inputs import MAX_ID, parse_id, plausible_email
from touchpoints.services.context import Card
from touchpoints.services.errors import InvalidInput
from touchpoints.services.touchpoints import Board

T = TypeVar("T")

FEEDBACK_MAX = 5_000
EMAIL_MAX = 254
# Any integer in a body must fit a Postgres bigint; ids must also be positive and ≤ MAX_ID.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_DATETIME_MAX = 64


class _Invalid(ValueError):
    """A single field's problem, reported with its path."""


# ------------------------------------------------------------------ request bodies


@attrs.frozen(kw_only=True)
class OwnerBody:
    type: OwnerType
    id: int


@attrs.frozen(kw_only=True)
class CreateBody:
    owner: OwnerBody
    type: TouchPointType
    deadline: datetime
    responsible_id: int | None = None
    title: str | None = None
    note: str | None = None


@attrs.frozen(kw_only=True)
class MoveBody:
    deadline: datetime | None = None
    responsible_id: int | None = None


@attrs.frozen(kw_only=True)
class FollowUpBody:
    deadline: datetime | None = None
    type: TouchPointType | None = None
    responsible_id: int | None = None


@attrs.frozen(kw_only=True)
class CompleteBody:
    result_note: str
    follow_up: FollowUpBody | None = None


@attrs.frozen(kw_only=True)
class SettingsBody:
    time_zone: str
    enabled_entities: list[OwnerType]
    default_interval: int
    default_interval_unit: IntervalUnit
    working_days: list[int]
    holidays: list[date]
    digest_hour: int
    team_viewers: list[int]
    digest_default: bool


@attrs.frozen(kw_only=True)
class PreferencesBody:
    digest_enabled: bool


@attrs.frozen(kw_only=True)
class FeedbackBody:
    message: str
    email: str | None = None


@attrs.frozen(kw_only=True)
class RenewBody:
    """Fresh frame auth: ``{auth_id, member_id}``, or ``BX24.getAuth()``'s object as it is
    (``access_token``, ``member_id``, ...; its refresh token is ignored, never stored)."""

    auth_id: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    domain: str | None = None
    member_id: str | None = None

    @property
    def token(self) -> str | None:
        return self.auth_id or self.access_token


_ID_FIELDS = frozenset({"id", "responsible_id"})
_TEXT_LIMITS = {
    "title": TITLE_MAX,
    "note": NOTE_MAX,
    "result_note": NOTE_MAX,
    "message": FEEDBACK_MAX,
    "email": EMAIL_MAX,
    "auth_id": 4_096,
    "access_token": 4_096,
    "refresh_token": 4_096,
    "domain": 255,
    "member_id": 256,
    "time_zone": 64,
}


def _strict_int(value: Any, _type: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("must be an integer")
    if not _INT_MIN <= value <= _INT_MAX:
        raise _Invalid("is out of range")
    return value


def _strict_str(value: Any, _type: type) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value


def _strict_bool(value: Any, _type: type) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def parse_aware(value: Any) -> datetime:
    """An ISO 8601 datetime with an explicit offset; naive ones are refused."""
    if not isinstance(value, str) or len(value) > _DATETIME_MAX or not value.isascii():
        raise _Invalid("must be an ISO 8601 datetime string with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid("must be an ISO 8601 datetime with an offset") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Invalid("must carry a time zone offset, e.g. 2026-09-01T10:00:00+02:00")
    if not 2000 <= parsed.year <= 2200:
        raise _Invalid("must be between the years 2000 and 2200")
    return parsed


def _date(value: Any, _type: type) -> date:
    if not isinstance(value, str) or len(value) != 10 or not value.isascii():
        raise _Invalid("must be a YYYY-MM-DD date")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Invalid("must be a YYYY-MM-DD date") from None


def _enum(value: Any, type_: type[enum.Enum]) -> enum.Enum:
    allowed = [member.value for member in type_]
    if not isinstance(value, str) or value not in allowed:
        raise _Invalid(f"must be one of {', '.join(allowed)}")
    return type_(value)


def make_request_converter() -> cattrs.Converter:
    """The JSON API's strict converter (one per boundary, never the global one)."""
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(datetime, lambda value, _t: parse_aware(value))
    converter.register_structure_hook(date, _date)
    converter.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum
    )

    def _list_hook(value: Any, type_: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _Invalid("must be a list")
        (item_type,) = type_.__args__
        return [converter.structure(item, item_type) for item in value]

    converter.register_structure_hook_func(
        lambda t: getattr(t, "__origin__", None) is list, _list_hook
    )
    for cls in (
        OwnerBody,
        CreateBody,
        MoveBody,
        FollowUpBody,
        CompleteBody,
        SettingsBody,
        PreferencesBody,
        FeedbackBody,
        RenewBody,
    ):
        converter.register_structure_hook(
            cls, make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True)
        )
    return converter


_CONVERTER = make_request_converter()


def _path_messages(exc: BaseException, path: str, out: dict[str, str]) -> None:
    if isinstance(exc, cattrs.ClassValidationError | cattrs.IterableValidationError):
        for sub in exc.exceptions:
            note = next(
                (
                    n
                    for n in getattr(sub, "__notes__", [])
                    if hasattr(n, "name") or hasattr(n, "index")
                ),
                None,
            )
            if note is not None and hasattr(note, "name"):
                sub_path = f"{path}.{note.name}" if path else str(note.name)
            elif note is not None and hasattr(note, "index"):
                sub_path = f"{path}[{note.index}]"
            else:
                sub_path = path
            _path_messages(sub, sub_path, out)
        return
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            out[f"{path}.{key}" if path else key] = "is not a known field"
        return
    if isinstance(exc, KeyError):
        out[path or "body"] = "is required"
        return
    if isinstance(exc, _Invalid | ValueError | TypeError):
        message = str(exc) if isinstance(exc, _Invalid) else "has the wrong type"
        out[path or "body"] = message
        return
    out[path or "body"] = "is invalid"


def structure(data: Any, cls: type[T]) -> T:
    """Parse a JSON document into ``cls``.

    Raises:
        InvalidInput: listing every offending field by its dotted path.
    """
    if not isinstance(data, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    try:
        value = _CONVERTER.structure(data, cls)
    except (cattrs.BaseValidationError, cattrs.ForbiddenExtraKeysError) as exc:
        errors: dict[str, str] = {}
        _path_messages(exc, "", errors)
        raise InvalidInput(errors or {"body": "is invalid"}) from None
    _check_values(value, "", errors := {})
    if errors:
        raise InvalidInput(errors)
    return value


def _check_values(value: Any, path: str, errors: dict[str, str]) -> None:
    """Limits the types cannot say: positive ids, text lengths, e-mail shape."""
    if not attrs.has(type(value)):
        return
    for field in attrs.fields(type(value)):
        item = getattr(value, field.name)
        name = f"{path}.{field.name}" if path else field.name
        if field.name in _ID_FIELDS and isinstance(item, int) and not 0 < item <= MAX_ID:
            errors[name] = "must be a positive id"
        elif (
            field.name in _TEXT_LIMITS
            and isinstance(item, str)
            and len(item) > _TEXT_LIMITS[field.name]
        ):
            errors[name] = f"must be at most {_TEXT_LIMITS[field.name]} characters"
        elif field.name == "team_viewers" and any(not 0 < v <= MAX_ID for v in item):
            errors[name] = "must be positive user ids"
        elif attrs.has(type(item)):
            _check_values(item, name, errors)
    if isinstance(value, FeedbackBody):
        if not value.message.strip():
            errors["message"] = "must not be empty"
        email = value.email
        if email and "email" not in errors and not plausible_email(email):
            errors["email"] = "must be a valid e-mail address"


def query_id(raw: str | None, name: str) -> int | None:
    """A positive id query parameter (``inputs.parse_id``), or None when absent.

    Raises: InvalidInput naming the parameter.
    """
    if raw is None or raw == "":
        return None
    value = parse_id(raw)
    if value is None:
        raise InvalidInput({name: "must be a positive integer"})
    return value


E = TypeVar("E", bound=enum.Enum)


def query_enum(raw: str | None, name: str, type_: type[E]) -> E | None:
    if raw is None or raw == "":
        return None
    try:
        return type_(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in type_)
        raise InvalidInput({name: f"must be one of {allowed}"}) from None


def path_id(raw: str, name: str = "id") -> int:
    value = query_id(raw, name)
    if value is None:
        raise InvalidInput({name: "must be a positive integer"})
    return value


# ------------------------------------------------------------------ replies


def iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat() if value is not None else None


def touch_point_json(card: Card, zone: ZoneInfo) -> dict[str, Any]:
    tp = card.touch_point
    return {
        "id": tp.id,
        "activity_id": tp.activity_id,
        "owner": {"type": tp.owner.type.value, "id": tp.owner.id, "title": card.owner_title},
        "type": tp.type.value,
        "status": tp.status.value,
        "deadline": iso(tp.deadline, zone),
        "responsible_id": tp.responsible_id,
        "created_by": tp.created_by,
        "result_note": tp.result_note,
        "previous_id": tp.previous_id,
        "next_id": tp.next_id,
        "created_at": iso(tp.created_at, zone),
        "updated_at": iso(tp.updated_at, zone),
        "completed_at": iso(tp.completed_at, zone),
        "title": card.title,
        "note": card.note,
    }


def board_json(board: Board) -> dict[str, Any]:
    zone = ZoneInfo(board.time_zone)
    return {
        "today": board.today.isoformat(),
        "time_zone": board.time_zone,
        "columns": [
            {"key": bucket.value, "items": [touch_point_json(card, zone) for card in cards]}
            for bucket, cards in board.columns
        ],
    }


def settings_from_body(body: SettingsBody) -> PortalSettings:
    """Raises: InvalidValue (the domain's validation) listing every bad field."""
    return PortalSettings.create(
        time_zone=body.time_zone,
        enabled_entities=body.enabled_entities,
        default_interval=body.default_interval,
        default_interval_unit=body.default_interval_unit,
        working_days=body.working_days,
        holidays=body.holidays,
        digest_hour=body.digest_hour,
        team_viewers=body.team_viewers,
        digest_default=body.digest_default,
    )
