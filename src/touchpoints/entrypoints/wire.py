"""The JSON API's requests: bodies and query and path parameters as attrs classes.

The converters (``converters``) parse them strictly; ``openapi`` describes the same
classes, their limits read from the ``Annotated`` constraints both obey. A body that a use
case takes as a request object is that object where the shapes agree (``CreateBody`` is the
use case's ``CreateRequest``), or turns into it with ``to_request()`` where they do not.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import attrs

from touchpoints.domain.constraints import (
    Email,
    Id,
    Length,
    NotBlank,
    OneOf,
    Range,
    json_name,
)
from touchpoints.domain.limits import (
    FEEDBACK_MAX,
    INTERVAL_MAX,
    INTERVAL_MIN,
    NOTE_MAX,
    REMINDER_MAX,
    SEARCH_MAX,
    TIME_ZONE_MAX,
)
from touchpoints.domain.model import EntityType, OwnerType, TouchPointType
from touchpoints.domain.reports import MAX_PERIOD_DAYS
from touchpoints.domain.settings import IntervalUnit, PortalSettings
from touchpoints.entrypoints.converters import (
    parse_aware,
    path_id,
    query_enum,
    query_id,
    structure,
    structure_params,
)
from touchpoints.services.reports import COVERAGE_TYPES
from touchpoints.services.touchpoints import CreateRequest, FollowUpRequest

_TOKEN_MAX = 4_096


# ------------------------------------------------------------------ request bodies


# Creating and following up take the use cases' own requests (their constraints are declared
# there); the schema names them by those classes.
CreateBody = CreateRequest
FollowUpBody = FollowUpRequest


@attrs.frozen(kw_only=True)
class MoveBody:
    """Reschedule to ``deadline``, or to a local ``day`` keeping the local time of day; and/or
    reassign."""

    deadline: datetime | None = None
    day: date | None = None
    responsible_id: Id | None = None


@attrs.frozen(kw_only=True)
class CompleteBody:
    result_note: Annotated[str, Length(NOTE_MAX, minimum=1)]
    follow_up: FollowUpRequest | None = None


# The domain validates the settings and lists all its findings at once (PortalSettings.create).
_INTERVAL = Range(INTERVAL_MIN, INTERVAL_MAX, checked_here=False)
_WEEKDAY = Range(1, 7, checked_here=False)
_HOUR = Range(0, 23, checked_here=False)
_REMINDER = Range(0, REMINDER_MAX, checked_here=False)


@attrs.frozen(kw_only=True)
class SettingsDocument:
    """The portal's settings (DESIGN.md §3.4): the PUT body and the reply alike."""

    time_zone: Annotated[str, Length(TIME_ZONE_MAX)]
    enabled_entities: list[EntityType]
    default_interval: Annotated[int, _INTERVAL]
    default_interval_unit: IntervalUnit
    working_days: list[Annotated[int, _WEEKDAY]]
    holidays: list[date]
    digest_hour: Annotated[int, _HOUR]
    team_viewers: list[Id]
    digest_default: bool
    # Minutes before the deadline for Bitrix24's reminders; a PUT without it keeps them.
    reminder_minutes: list[Annotated[int, _REMINDER]] | None = None

    @classmethod
    def of(cls, settings: PortalSettings) -> SettingsDocument:
        return cls(
            time_zone=settings.time_zone,
            enabled_entities=sorted(settings.enabled_entities, key=lambda t: t.value),
            default_interval=settings.default_interval,
            default_interval_unit=settings.default_interval_unit,
            working_days=sorted(settings.working_days),
            holidays=sorted(settings.holidays),
            digest_hour=settings.digest_hour,
            team_viewers=sorted(settings.team_viewers),
            digest_default=settings.digest_default,
            reminder_minutes=list(settings.reminder_minutes),
        )

    def to_settings(self, current: PortalSettings | None = None) -> PortalSettings:
        """Raises: InvalidValue (the domain's validation) listing every bad field."""
        kept = (current or PortalSettings()).reminder_minutes
        return PortalSettings.create(
            time_zone=self.time_zone,
            enabled_entities=self.enabled_entities,
            default_interval=self.default_interval,
            default_interval_unit=self.default_interval_unit,
            working_days=self.working_days,
            holidays=self.holidays,
            digest_hour=self.digest_hour,
            team_viewers=self.team_viewers,
            digest_default=self.digest_default,
            reminder_minutes=kept if self.reminder_minutes is None else self.reminder_minutes,
        )


SettingsBody = SettingsDocument


@attrs.frozen(kw_only=True)
class Preferences:
    """A user's own preferences: the PUT body and the reply alike.

    ``rollup_enabled`` (admins and team viewers: the team's roll-up in the digest) is left
    as it was when a PUT omits it; the reply always states it.
    """

    digest_enabled: bool
    rollup_enabled: bool | None = None


PreferencesBody = Preferences


@attrs.frozen(kw_only=True)
class FeedbackBody:
    message: Annotated[str, Length(FEEDBACK_MAX), NotBlank()]
    email: Email | None = None


_Token = Annotated[str, Length(_TOKEN_MAX)]


@attrs.frozen(kw_only=True)
class RenewBody:
    """Fresh frame auth: ``{auth_id, member_id}``, or ``BX24.getAuth()``'s object as it is
    (``access_token``, ``member_id``, ...; its refresh token is ignored, never stored)."""

    auth_id: _Token | None = None
    access_token: _Token | None = None
    refresh_token: _Token | None = None
    expires_in: int | None = None
    domain: Annotated[str, Length(255)] | None = None
    member_id: Annotated[str, Length(256)] | None = None

    @property
    def token(self) -> str | None:
        return self.auth_id or self.access_token


# ------------------------------------------------------------------ query and path parameters

IN_PATH = {"in": "path"}
"""Field metadata: a path parameter (the others of a parameter class are in the query)."""


@attrs.frozen
class Empty:
    """No parameters, or no body."""


@attrs.frozen(kw_only=True)
class TouchPointPath:
    id: Id = attrs.field(metadata=IN_PATH)


@attrs.frozen(kw_only=True)
class RecordPath:
    owner_type: EntityType = attrs.field(metadata=IN_PATH)
    owner_id: Id = attrs.field(metadata=IN_PATH)


@attrs.frozen(kw_only=True)
class SearchQuery:
    owner_type: EntityType
    q: Annotated[str, Length(SEARCH_MAX)] = ""


@attrs.frozen(kw_only=True)
class PreviewQuery:
    from_: datetime | None = attrs.field(default=None, metadata=json_name("from"))


@attrs.frozen(kw_only=True)
class ReportQuery:
    """A report's period (local days, both included) and filters."""

    from_: date = attrs.field(metadata=json_name("from"))
    to: date
    owner_type: EntityType | None = None
    type: TouchPointType | None = None
    responsible_id: Id | None = None

    def problems(self) -> dict[str, str]:
        if self.to < self.from_:
            return {"to": "must not be before 'from'"}
        if (self.to - self.from_).days + 1 > MAX_PERIOD_DAYS:
            return {"to": f"the period must be at most {MAX_PERIOD_DAYS} days long"}
        return {}


@attrs.frozen(kw_only=True)
class CoverageQuery:
    owner_type: Annotated[OwnerType, OneOf.of(COVERAGE_TYPES)] | None = None
    responsible_id: Id | None = None


__all__ = [
    "IN_PATH",
    "CompleteBody",
    "CoverageQuery",
    "CreateBody",
    "Empty",
    "FeedbackBody",
    "FollowUpBody",
    "MoveBody",
    "Preferences",
    "PreferencesBody",
    "PreviewQuery",
    "RecordPath",
    "RenewBody",
    "ReportQuery",
    "SearchQuery",
    "SettingsBody",
    "SettingsDocument",
    "TouchPointPath",
    "parse_aware",
    "path_id",
    "query_enum",
    "query_id",
    "structure",
    "structure_params",
]
