"""Follow-up intervals, working days, local wall-clock time and the board's due buckets.

Every function takes ``now`` (an aware instant) and a time zone; none reads the clock.

Local times that do not exist or exist twice are resolved by one rule, PEP 495's
``fold=0``: a wall time inside a spring-forward gap is moved forward by the length of the
gap (02:30 on the day Berlin skips 02:00-03:00 becomes 03:30 CEST), and an ambiguous wall
time in a fall-back overlap means its first occurrence (the daylight-saving one).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.settings import IntervalUnit, PortalSettings

_ONE_DAY = timedelta(days=1)


def resolve_local(local: datetime, zone: ZoneInfo) -> datetime:
    """The aware UTC instant of the naive wall time ``local`` in ``zone`` (rule: ``fold=0``)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The calendar date in ``zone`` at ``instant``."""
    return instant.astimezone(zone).date()


def start_of_local_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone`` (midnight, or the gap's end where midnight is skipped)."""
    return resolve_local(datetime.combine(day, time(0)), zone)


def is_working_day(day: date, settings: PortalSettings) -> bool:
    """A configured weekday that is not a holiday."""
    return day.isoweekday() in settings.working_days and day not in settings.holidays


def next_working_day(day: date, settings: PortalSettings) -> date:
    """``day`` itself when it is a working day, otherwise the first working day after it."""
    # Terminates: at least one weekday works and at most a year of holidays is allowed.
    while not is_working_day(day, settings):
        day += _ONE_DAY
    return day


def add_working_days(day: date, count: int, settings: PortalSettings) -> date:
    """The ``count``-th working day after ``day`` (``day`` itself does not count)."""
    for _ in range(count):
        day += _ONE_DAY
        day = next_working_day(day, settings)
    return day


@attrs.frozen
class Interval:
    """A follow-up interval: ``count`` working days or calendar days."""

    count: int
    unit: IntervalUnit

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.count <= 90:
            raise InvalidValue({"interval": "must be between 1 and 90"})

    @classmethod
    def default_for(cls, settings: PortalSettings) -> Interval:
        return cls(settings.default_interval, settings.default_interval_unit)


def add_interval(start: datetime, interval: Interval, settings: PortalSettings) -> datetime:
    """The instant ``interval`` after ``start``, keeping the local wall-clock time.

    Working days skip non-working weekdays and holidays. Calendar days count every day,
    and a result that falls on a non-working day moves on to the next working day, so a
    follow-up is never scheduled for a day nobody works. Returns an aware UTC instant.
    """
    zone = settings.zone
    local = start.astimezone(zone)
    if interval.unit is IntervalUnit.WORKING_DAYS:
        day = add_working_days(local.date(), interval.count, settings)
    else:
        day = next_working_day(local.date() + interval.count * _ONE_DAY, settings)
    return resolve_local(datetime.combine(day, local.time()), zone)


def follow_up_deadline(
    completed_at: datetime, previous_deadline: datetime, settings: PortalSettings
) -> datetime:
    """Default deadline of the follow-up offered when a touch-point is completed.

    The interval counts from the completion day and keeps the previous deadline's time of
    day, so a 10:00 call is followed up at 10:00.
    """
    zone = settings.zone
    wall = previous_deadline.astimezone(zone).time()
    anchor = resolve_local(datetime.combine(local_date(completed_at, zone), wall), zone)
    return add_interval(anchor, Interval.default_for(settings), settings)


def move_to_day(deadline: datetime, day: date, settings: PortalSettings) -> datetime:
    """Reschedule to another local day, keeping the time of day and landing on a working day."""
    zone = settings.zone
    wall = deadline.astimezone(zone).time()
    return resolve_local(datetime.combine(next_working_day(day, settings), wall), zone)


class Bucket(enum.Enum):
    """The board's due-date columns, in time order."""

    OVERDUE = "overdue"
    TODAY = "today"
    TOMORROW = "tomorrow"
    THIS_WEEK = "this_week"
    NEXT_WEEK = "next_week"
    LATER = "later"


BUCKET_ORDER: tuple[Bucket, ...] = tuple(Bucket)


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.isoweekday() - 1)


def bucket_of(deadline: datetime, now: datetime, zone: ZoneInfo) -> Bucket:
    """Which column a deadline belongs in, seen from ``now`` in ``zone``.

    - overdue: the deadline has passed (strictly before ``now``);
    - today: later today, local date;
    - tomorrow: the next local date (wins over this_week and next_week);
    - this_week: later in the current ISO week (Monday to Sunday);
    - next_week: in the following ISO week;
    - later: anything after that.
    """
    if deadline < now:
        return Bucket.OVERDUE
    today = local_date(now, zone)
    day = local_date(deadline, zone)
    if day == today:
        return Bucket.TODAY
    if day == today + _ONE_DAY:
        return Bucket.TOMORROW
    this_monday = week_start(today)
    if day < this_monday + 7 * _ONE_DAY:
        return Bucket.THIS_WEEK
    if day < this_monday + 14 * _ONE_DAY:
        return Bucket.NEXT_WEEK
    return Bucket.LATER


def bucket_bounds(
    bucket: Bucket, now: datetime, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """The half-open instant range ``[start, end)`` of ``bucket``; None means unbounded."""
    today = local_date(now, zone)
    this_monday = week_start(today)
    tomorrow_start = start_of_local_day(today + _ONE_DAY, zone)
    day_after_start = start_of_local_day(today + 2 * _ONE_DAY, zone)
    next_monday_start = start_of_local_day(this_monday + 7 * _ONE_DAY, zone)
    week_after_start = start_of_local_day(this_monday + 14 * _ONE_DAY, zone)
    match bucket:
        case Bucket.OVERDUE:
            return None, now
        case Bucket.TODAY:
            return now, tomorrow_start
        case Bucket.TOMORROW:
            return tomorrow_start, day_after_start
        case Bucket.THIS_WEEK:
            return day_after_start, max(day_after_start, next_monday_start)
        case Bucket.NEXT_WEEK:
            return max(day_after_start, next_monday_start), week_after_start
        case Bucket.LATER:
            return week_after_start, None


@attrs.frozen
class DigestSlot:
    """A user's digest is due for ``local_day`` (the claim key with portal and user)."""

    local_day: date


def digest_slot(now: datetime, settings: PortalSettings) -> DigestSlot | None:
    """The local day whose digest is due at ``now``, or None.

    Due once the portal's local time has reached its digest hour on a working day; a pass
    that runs late still finds today's slot, and never yesterday's.
    """
    local = now.astimezone(settings.zone)
    if not is_working_day(local.date(), settings):
        return None
    if local.hour < settings.digest_hour:
        return None
    return DigestSlot(local.date())
