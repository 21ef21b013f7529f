"""The JSON API's replies (DESIGN.md §3.4) as attrs classes, and the one converter that
writes them: datetimes in the portal's offset, dates as ``YYYY-MM-DD``, enums as values.

``openapi`` describes the same classes, field by field.
"""

from __future__ import annotations

import enum
import typing
from datetime import date, datetime
from types import UnionType
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import attrs
import cattrs
from attrs import AttrsInstance
from cattrs.gen import make_dict_unstructure_fn, override

from touchpoints.domain.constraints import Describe, Id, json_name
from touchpoints.domain.crm import UserInfo
from touchpoints.domain.model import EntityType, SmartProcess, Status, TouchPoint, TouchPointType
from touchpoints.domain.portal import PortalStatus
from touchpoints.domain.scheduling import Bucket, bucket_days
from touchpoints.domain.settings import UserPreferences
from touchpoints.domain.trusted import dict_backed, trusted
from touchpoints.entrypoints.converters import field_name
from touchpoints.entrypoints.wire import SettingsDocument
from touchpoints.services.account import PortalExport
from touchpoints.services.bot import DigestChannel
from touchpoints.services.context import Card
from touchpoints.services.touchpoints import Board

R = TypeVar("R", bound=AttrsInstance)


def copied(reply: type[R], source: object, zone: ZoneInfo, **given: Any) -> R:
    """A ``reply`` holding ``source``'s fields of the same names (times in the portal's
    ``zone``) and the ``given`` values for the others."""
    same = {
        field.name: _in_zone(getattr(source, field.name), zone)
        for field in attrs.fields(reply)
        if field.name not in given
    }
    return reply(**same, **given)


def _in_zone(value: object, zone: ZoneInfo) -> object:
    return value.astimezone(zone) if isinstance(value, datetime) else value


_LIVE = (
    "read live from the CRM (never stored); null where the user may not see it or it is gone"
    " (always null in the portal export)"
)


# Replies built by the hundred per board (``OwnerReply``, ``TouchPointReply``) keep their
# fields in a dict (``slots=False``): ``trusted`` hands them one, and the orjson converter
# hands a copy of it on (``_handed_on``) instead of reading the fields one by one.
@attrs.frozen(kw_only=True, slots=False)
class OwnerReply:
    type: EntityType
    id: Id
    title: Annotated[str | None, Describe(f"The record's title, {_LIVE}.")]
    stage: Annotated[
        str | None,
        Describe(
            "The stage of a lead, deal or smart-process item by its name (such as"
            f' "Negotiation"), given by the list view only (null in other replies); {_LIVE},'
            " and for contacts and companies, which have no stage."
        ),
    ] = None
    amount: Annotated[
        float | None,
        Describe(
            f"The amount of a lead, deal or smart-process item, in `currency`; {_LIVE}, and"
            " for contacts and companies."
        ),
    ] = None
    currency: Annotated[
        str | None,
        Describe(f'The ISO 4217 code of `amount` (such as "EUR"); {_LIVE}.'),
    ] = None


@attrs.frozen(kw_only=True, slots=False)
class TouchPointReply:
    """A touch-point with what the CRM says of it (DESIGN.md §3.4)."""

    id: Id
    activity_id: Id
    owner: OwnerReply
    type: TouchPointType
    status: Status
    deadline: datetime
    responsible_id: Id
    created_by: Id
    result_note: str | None
    previous_id: Id | None
    next_id: Id | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    title: Annotated[str | None, Describe(f"The to-do's subject, {_LIVE}.")]
    note: Annotated[str | None, Describe(f"The to-do's description, {_LIVE}.")]

    @classmethod
    def of(cls, card: Card, zone: ZoneInfo) -> TouchPointReply:
        return cls.stored(card.touch_point, zone, card=card)

    @classmethod
    def stored(cls, tp: TouchPoint, zone: ZoneInfo, *, card: Card | None = None) -> TouchPointReply:
        """``tp`` as we store it; the CRM's texts from ``card`` when there is one.

        Built with ``trusted``: ``tp`` is our own validated value and the texts come from the
        CRM's parsed reply, so the reply's fields need no second check."""
        completed = tp.completed_at
        record = card.record if card else None
        return trusted(
            cls,
            {
                "id": tp.id,
                "activity_id": tp.activity_id,
                "owner": trusted(
                    OwnerReply,
                    {
                        "type": tp.owner.type,
                        "id": tp.owner.id,
                        "title": card.owner_title if card else None,
                        "stage": record.stage_name if record else None,
                        "amount": record.amount if record else None,
                        "currency": record.currency if record else None,
                    },
                ),
                "type": tp.type,
                "status": tp.status,
                "deadline": tp.deadline.astimezone(zone),
                "responsible_id": tp.responsible_id,
                "created_by": tp.created_by,
                "result_note": tp.result_note,
                "previous_id": tp.previous_id,
                "next_id": tp.next_id,
                "created_at": tp.created_at.astimezone(zone),
                "updated_at": tp.updated_at.astimezone(zone),
                "completed_at": None if completed is None else completed.astimezone(zone),
                "title": card.title if card else None,
                "note": card.note if card else None,
            },
        )


@attrs.frozen(kw_only=True)
class BoardColumn:
    """One due-date column and the local days it covers (null: unbounded, or none at all)."""

    key: Bucket
    from_: Annotated[date | None, Describe("The column's first local day.")] = attrs.field(
        metadata=json_name("from")
    )
    to: Annotated[date | None, Describe("The column's last local day; null: no end.")]
    days_off: Annotated[
        list[date], Describe("The column's days that are not working days (bounded columns).")
    ]
    items: list[TouchPointReply]


@attrs.frozen(kw_only=True)
class BoardReply:
    today: date
    time_zone: str
    columns: list[BoardColumn]

    @classmethod
    def of(cls, board: Board) -> BoardReply:
        zone = ZoneInfo(board.time_zone)
        columns = []
        for bucket, cards in board.columns:
            first, last = bucket_days(bucket, board.today)
            items = [TouchPointReply.of(card, zone) for card in cards]
            off = sorted(
                day
                for day in board.days_off
                if first is not None and last is not None and first <= day <= last
            )
            columns.append(BoardColumn(key=bucket, from_=first, to=last, days_off=off, items=items))
        return cls(today=board.today, time_zone=board.time_zone, columns=columns)


@attrs.frozen(kw_only=True)
class Completion:
    completed: TouchPointReply
    follow_up: TouchPointReply | None


@attrs.frozen(kw_only=True)
class Items:
    items: list[TouchPointReply]


@attrs.frozen(kw_only=True)
class RecordTouchPoints:
    owner: OwnerReply
    items: list[TouchPointReply]


@attrs.frozen(kw_only=True)
class FoundRecord:
    type: EntityType
    id: Id
    title: str


@attrs.frozen(kw_only=True)
class RecordSearch:
    items: list[FoundRecord]


@attrs.frozen(kw_only=True)
class SessionReply:
    session: str
    expires_at: datetime


@attrs.frozen(kw_only=True)
class MeUser:
    id: Id
    name: str
    photo: str | None
    is_admin: bool


@attrs.frozen(kw_only=True)
class MePortal:
    domain: str
    time_zone: str
    # How the daily digest reaches users: the bot's message, or a system notification
    # where the bot could not be registered (no ``imbot`` scope, DESIGN.md §3.7).
    digest_channel: DigestChannel = DigestChannel.NOTIFICATION


@attrs.frozen(kw_only=True)
class Me:
    user: MeUser
    sees_team: bool
    portal: MePortal
    lang: str
    # True only from the demo plugin's own handler (the JS reads the page's data-demo).
    demo: bool = False


@attrs.frozen(kw_only=True)
class UserReply:
    id: Id
    name: str
    photo: str | None
    active: bool
    department_ids: list[int]

    @classmethod
    def of(cls, user: UserInfo) -> UserReply:
        return cls(
            id=user.id,
            name=user.name,
            photo=user.photo_url,
            active=user.active,
            department_ids=list(user.department_ids),
        )


@attrs.frozen(kw_only=True)
class Users:
    users: list[UserReply]


@attrs.frozen(kw_only=True)
class Ok:
    ok: bool


@attrs.frozen(kw_only=True)
class DeadlineReply:
    deadline: datetime


@attrs.frozen(kw_only=True)
class ExportPortal:
    member_id: str
    domain: str
    status: PortalStatus
    installed_by: Id | None
    created_at: datetime


@attrs.frozen(kw_only=True)
class ExportPreferences:
    user_id: Id
    digest_enabled: bool | None

    @classmethod
    def of(cls, preferences: UserPreferences) -> ExportPreferences:
        return cls(user_id=preferences.user_id, digest_enabled=preferences.digest_enabled)


@attrs.frozen(kw_only=True)
class ExportFeedback:
    user_id: Id
    message: str
    email: str | None
    created_at: datetime


@attrs.frozen(kw_only=True)
class Export:
    """All of the portal's app data; tokens are never part of it."""

    portal: ExportPortal
    settings: SettingsDocument
    preferences: list[ExportPreferences]
    touchpoints: list[TouchPointReply]
    feedback: list[ExportFeedback]

    @classmethod
    def of(cls, export: PortalExport) -> Export:
        zone = export.settings.zone
        return cls(
            portal=copied(ExportPortal, export.portal, zone),
            settings=SettingsDocument.of(export.settings),
            preferences=[ExportPreferences.of(p) for p in export.preferences],
            touchpoints=[TouchPointReply.stored(tp, zone) for tp in export.touch_points],
            feedback=[copied(ExportFeedback, f, zone) for f in export.feedback],
        )


# ------------------------------------------------------------------ the converter


def _unstructure_attrs(converter: cattrs.Converter, *, for_orjson: bool) -> Any:
    def factory(cls: Any) -> Any:
        renames: dict[str, Any] = {
            field.name: override(rename=field_name(field))
            for field in attrs.fields(cls)
            if "json" in field.metadata
        }
        if for_orjson and not renames and dict_backed(cls):
            return _handed_on(cls, converter)
        return make_dict_unstructure_fn(cls, converter, **renames)

    return factory


# What orjson writes itself, as the converter for it would leave it.
_ORJSON_NATIVE: tuple[type, ...] = (int, float, str, bool, type(None), datetime, date, enum.Enum)


def _orjson_native(hint: Any) -> bool:
    """Whether every value of type ``hint`` is one orjson writes as it is: a native type, or a
    union of them (``str | None``). Containers are not, whatever they hold: the converter
    walks them."""
    parts = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, UnionType) else ()
    return all(
        isinstance(part, type) and issubclass(part, _ORJSON_NATIVE) for part in parts or (hint,)
    )


def _handed_on(cls: type, converter: cattrs.Converter) -> Any:
    """The unstructure function of a dict-backed reply for orjson: a copy of the instance's
    dict, with only the fields orjson cannot write as they are (nested replies, smart
    process types) converted. The same values as ``make_dict_unstructure_fn``'s."""
    hints = typing.get_type_hints(cls)
    converted = tuple(
        (field.name, hints[field.name])
        for field in attrs.fields(cls)
        if not _orjson_native(hints[field.name])
    )
    unstructure = converter.unstructure

    def handed_on(instance: Any) -> dict[str, Any]:
        values: dict[str, Any] = instance.__dict__.copy()
        for name, hint in converted:
            value = values[name]
            if not isinstance(value, _ORJSON_NATIVE):  # e.g. an owner type, not a smart process
                values[name] = unstructure(value, hint)
        return values

    return handed_on


def make_reply_converter(*, for_orjson: bool = False) -> cattrs.Converter:
    """The JSON API's reply converter (one per boundary, never the global one).

    ``for_orjson`` leaves datetimes, dates and enums as they are: orjson writes them exactly
    as this converter spells them (``isoformat()``, the enum's value), in C, so the reply of
    a 200-card board is not walked field by field in Python for them.
    """
    converter = cattrs.Converter()
    if not for_orjson:
        converter.register_unstructure_hook(datetime, datetime.isoformat)
        converter.register_unstructure_hook(date, date.isoformat)
    converter.register_unstructure_hook(SmartProcess, lambda value: value.value)
    converter.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum),
        (lambda value: value) if for_orjson else (lambda value: value.value),
    )
    converter.register_unstructure_hook_factory(
        attrs.has, _unstructure_attrs(converter, for_orjson=for_orjson)
    )
    return converter


_REPLIES = make_reply_converter()
_FOR_ORJSON = make_reply_converter(for_orjson=True)


def unstructure(reply: Any) -> Any:
    """A reply as JSON-ready values."""
    return _REPLIES.unstructure(reply, type(reply))


def for_orjson(reply: Any) -> Any:
    """A reply as values that ``orjson.dumps`` (with ``OPT_NON_STR_KEYS``, for dates and
    enums as keys) writes as the same JSON as ``unstructure``'s."""
    return _FOR_ORJSON.unstructure(reply, type(reply))
