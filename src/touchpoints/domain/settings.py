"""A portal's settings: validated once, then trusted by every rule that reads them."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.limits import (
    INTERVAL_MAX,
    INTERVAL_MIN,
    MAX_HOLIDAYS,
    MAX_REMINDERS,
    MAX_SMART_PROCESSES,
    MAX_TEAM_VIEWERS,
    REMINDER_MAX,
)
from touchpoints.domain.model import EntityType, OwnerType


class IntervalUnit(enum.Enum):
    """How the default follow-up interval counts: working days or calendar days."""

    WORKING_DAYS = "working_days"
    DAYS = "days"


# Files in the system's zoneinfo directory that are not portable zone names: ``localtime``
# is whatever the server is set to, ``posix/`` and ``right/`` are alternative trees
# (``right/`` is the leap-second variant), ``Factory`` is tzdata's "zone not set".
_NOT_ZONE_NAMES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_ZONE_PREFIXES = ("/", ".", "posix/", "right/")


def zone_or_none(name: str) -> ZoneInfo | None:
    """The IANA zone called ``name``, or None when there is no such zone."""
    if not name or name in _NOT_ZONE_NAMES or name.startswith(_NOT_ZONE_PREFIXES) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError, UnicodeError):
        return None


@attrs.frozen(kw_only=True)
class PortalSettings:
    """What an admin configures for the whole portal (DESIGN.md §3.4).

    Build it with ``PortalSettings.create`` (which validates every field and reports all
    problems at once) or ``PortalSettings.defaults``.
    """

    time_zone: str = "UTC"
    enabled_entities: frozenset[EntityType] = frozenset(OwnerType)
    default_interval: int = 3
    default_interval_unit: IntervalUnit = IntervalUnit.WORKING_DAYS
    working_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[date] = frozenset()
    digest_hour: int = 9
    team_viewers: frozenset[int] = frozenset()
    digest_default: bool = True
    # Minutes before the deadline at which Bitrix24 reminds (the to-do's pingOffsets).
    reminder_minutes: tuple[int, ...] = (15,)

    def __attrs_post_init__(self) -> None:
        errors = _validate(self)
        if errors:
            raise InvalidValue(errors)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def defaults(cls, time_zone: str | None = None) -> PortalSettings:
        """Install-time defaults; an empty or unknown zone falls back to UTC."""
        zone = time_zone if time_zone and zone_or_none(time_zone) else "UTC"
        return cls(time_zone=zone)

    @classmethod
    def create(
        cls,
        *,
        time_zone: str,
        enabled_entities: Iterable[EntityType],
        default_interval: int,
        default_interval_unit: IntervalUnit,
        working_days: Iterable[int],
        holidays: Iterable[date],
        digest_hour: int,
        team_viewers: Iterable[int],
        digest_default: bool,
        reminder_minutes: Iterable[int] = (15,),
    ) -> PortalSettings:
        """Validate and build settings.

        Raises:
            InvalidValue: with every offending field named.
        """
        return cls(
            time_zone=time_zone,
            enabled_entities=frozenset(enabled_entities),
            default_interval=default_interval,
            default_interval_unit=default_interval_unit,
            working_days=frozenset(working_days),
            holidays=frozenset(holidays),
            digest_hour=digest_hour,
            team_viewers=frozenset(team_viewers),
            digest_default=digest_default,
            reminder_minutes=tuple(sorted(set(reminder_minutes))),
        )


def _validate(settings: PortalSettings) -> dict[str, str]:
    errors: dict[str, str] = {}
    if zone_or_none(settings.time_zone) is None:
        errors["time_zone"] = "must be an IANA time zone name such as Europe/Berlin"
    if not settings.enabled_entities:
        errors["enabled_entities"] = "must name at least one of lead, deal, contact, company"
    elif len(settings.enabled_entities) > len(OwnerType) + MAX_SMART_PROCESSES:
        errors["enabled_entities"] = f"may name at most {MAX_SMART_PROCESSES} smart processes"
    if not INTERVAL_MIN <= settings.default_interval <= INTERVAL_MAX:
        errors["default_interval"] = f"must be between {INTERVAL_MIN} and {INTERVAL_MAX}"
    if not settings.working_days:
        errors["working_days"] = "must name at least one working day"
    elif not all(1 <= day <= 7 for day in settings.working_days):
        errors["working_days"] = "must be ISO weekdays from 1 (Monday) to 7 (Sunday)"
    if len(settings.holidays) > MAX_HOLIDAYS:
        errors["holidays"] = f"must hold at most {MAX_HOLIDAYS} dates"
    if len(settings.reminder_minutes) > MAX_REMINDERS:
        errors["reminder_minutes"] = f"must hold at most {MAX_REMINDERS} reminders"
    elif not all(0 <= minutes <= REMINDER_MAX for minutes in settings.reminder_minutes):
        errors["reminder_minutes"] = f"must be minutes from 0 to {REMINDER_MAX}"
    if not 0 <= settings.digest_hour <= 23:
        errors["digest_hour"] = "must be an hour from 0 to 23"
    if any(user_id <= 0 for user_id in settings.team_viewers):
        errors["team_viewers"] = "must be positive user ids"
    elif len(settings.team_viewers) > MAX_TEAM_VIEWERS:
        errors["team_viewers"] = f"must hold at most {MAX_TEAM_VIEWERS} users"
    return errors


@attrs.frozen(kw_only=True)
class UserPreferences:
    """One user's own choices; ``digest_enabled`` None means the portal's default applies.

    ``language`` is the Bitrix24 UI language the user last opened the app in (``en``,
    ``ru``, ...), remembered so the digest speaks it; None until they open the app.
    """

    user_id: int
    digest_enabled: bool | None = None
    language: str | None = None
    rollup_enabled: bool | None = None  # None: on (admins' and team viewers' roll-up)

    @property
    def wants_rollup(self) -> bool:
        return self.rollup_enabled is not False

    def wants_digest(self, settings: PortalSettings) -> bool:
        if self.digest_enabled is None:
            return settings.digest_default
        return self.digest_enabled
