"""Follow-up intervals, working days, local wall-clock time and the board's due buckets.

Every function takes ``now`` (an aware instant) and a time zone; none reads the clock.

Local times that do not exist or exist twice are resolved by one rule, PEP 495's
``fold=0``: a wall time inside a spring-forward gap is moved forward by the length of the
gap (02:30 on the day Berlin skips 02:00-03:00 becomes 03:30 CEST), and an ambiguous wall
time in a fall-back overlap means its first occurrence (the daylight-saving one).
One exception keeps a time on its day: where a gap runs to midnight (America/Nuuk skips
23:00-24:00 on the last Saturday of March since 2024), moving forward would leave the day,
so such a wall time moves back by the gap instead (``fold=1``: 23:30 becomes 22:30).
"""

from __future__ import annotations

import enum
import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.settings import IntervalUnit, PortalSettings

_ONE_DAY = timedelta(days=1)
_LAST_MINUTE = time(23, 59)


def resolve_local(local: datetime, zone: ZoneInfo) -> datetime:
    """The aware UTC instant of the naive wall time ``local`` in ``zone``.

    Rule: ``fold=0``, unless that leaves ``local``'s date and ``fold=1`` does not (a gap
    that runs to midnight; see the module docstring). Existing wall times map exactly.
    """
    instant = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if local_date(instant, zone) != local.date():
        earlier = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if local_date(earlier, zone) == local.date():
            return earlier
    return instant


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The calendar date in ``zone`` at ``instant``."""
    return instant.astimezone(zone).date()


def start_of_local_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone`` (midnight, or the gap's end where midnight is skipped)."""
    return resolve_local(datetime.combine(day, time(0)), zone)


def current_local_day(now: datetime, zone: ZoneInfo) -> date:
    """The local day ``now`` belongs to: the last one whose first instant is not after ``now``.

    This is ``local_date(now, zone)`` except while a fall-back across midnight repeats the
    end of the previous day (America/St_Johns fell back at 00:01 until 2011): those
    instants belong to the new day, so that days, due buckets and digest slots never go
    backwards in time.
    """
    day = local_date(now, zone)
    while start_of_local_day(day + _ONE_DAY, zone) <= now:
        day += _ONE_DAY
    return day


def day_exists(day: date, zone: ZoneInfo) -> bool:
    """False for a date the zone skipped entirely (Pacific/Apia jumped over 2011-12-30)."""
    return local_date(start_of_local_day(day, zone), zone) == day


def is_working_day(day: date, settings: PortalSettings) -> bool:
    """A configured weekday that is not a holiday (and that the portal's zone did not skip)."""
    return (
        day.isoweekday() in settings.working_days
        and day not in settings.holidays
        and day_exists(day, settings.zone)
    )


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
    day = interval_after(local.date(), interval, settings)
    return resolve_local(datetime.combine(day, local.time()), zone)


def interval_after(day: date, interval: Interval, settings: PortalSettings) -> date:
    """The local day ``interval`` after ``day`` (always a working day; see ``add_interval``)."""
    if interval.unit is IntervalUnit.WORKING_DAYS:
        return add_working_days(day, interval.count, settings)
    return next_working_day(day + interval.count * _ONE_DAY, settings)


def follow_up_deadline(
    completed_at: datetime, previous_deadline: datetime, settings: PortalSettings
) -> datetime:
    """Default deadline of the follow-up offered when a touch-point is completed.

    The interval counts from the completion day and keeps the previous deadline's time of
    day, so a 10:00 call is followed up at 10:00.
    """
    zone = settings.zone
    wall = previous_deadline.astimezone(zone).time()
    anchor = resolve_local(datetime.combine(current_local_day(completed_at, zone), wall), zone)
    return add_interval(anchor, Interval.default_for(settings), settings)


@attrs.frozen(kw_only=True)
class Presets:
    """The quick dates the UI offers (DESIGN §3.6), as local days seen from ``now``."""

    today: date
    tomorrow: date
    next_working_day: date
    in_default_interval: date
    next_monday: date


def presets_at(now: datetime, settings: PortalSettings) -> Presets:
    """Quick dates: tomorrow and next Monday as the calendar says, the next working day
    after today, and today plus the portal's default interval (``add_interval``)."""
    today = current_local_day(now, settings.zone)
    tomorrow = today + _ONE_DAY
    return Presets(
        today=today,
        tomorrow=tomorrow,
        next_working_day=next_working_day(tomorrow, settings),
        in_default_interval=interval_after(today, Interval.default_for(settings), settings),
        next_monday=week_start(today) + 7 * _ONE_DAY,
    )


def days_off(first: date, last: date, settings: PortalSettings) -> list[date]:
    """The days from ``first`` to ``last`` (both included) that are not working days."""
    count = (last - first).days + 1
    days = (first + n * _ONE_DAY for n in range(max(count, 0)))
    return [day for day in days if not is_working_day(day, settings)]


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


@attrs.frozen(kw_only=True)
class BucketEdges:
    """Where the board's columns begin, seen from ``now``: compute once, classify many.

    Columns are half-open instant ranges between these edges, so every instant is in
    exactly one of them, in time order:

    - overdue: before ``now``;
    - today: from ``now`` to the start of the next local day;
    - tomorrow: the next local day (it wins over this_week and next_week);
    - this_week: from the day after tomorrow to the end of the ISO week (Monday to
      Sunday); empty on Saturdays and Sundays;
    - next_week: the rest of the following ISO week;
    - later: anything after that.
    """

    now: datetime
    tomorrow: datetime
    day_after: datetime
    next_week: datetime
    week_after: datetime

    @classmethod
    def at(cls, now: datetime, zone: ZoneInfo) -> BucketEdges:
        today = current_local_day(now, zone)
        this_monday = week_start(today)
        day_after = start_of_local_day(today + 2 * _ONE_DAY, zone)
        return cls(
            now=now,
            tomorrow=start_of_local_day(today + _ONE_DAY, zone),
            day_after=day_after,
            next_week=max(day_after, start_of_local_day(this_monday + 7 * _ONE_DAY, zone)),
            week_after=start_of_local_day(this_monday + 14 * _ONE_DAY, zone),
        )

    def bucket_of(self, deadline: datetime) -> Bucket:
        """The column ``deadline`` belongs in."""
        if deadline < self.now:
            return Bucket.OVERDUE
        if deadline < self.tomorrow:
            return Bucket.TODAY
        if deadline < self.day_after:
            return Bucket.TOMORROW
        if deadline < self.next_week:
            return Bucket.THIS_WEEK
        if deadline < self.week_after:
            return Bucket.NEXT_WEEK
        return Bucket.LATER

    def bounds(self, bucket: Bucket) -> tuple[datetime | None, datetime | None]:
        """The half-open instant range ``[start, end)`` of ``bucket``; None means unbounded."""
        edges: list[datetime | None] = [
            None,
            self.now,
            self.tomorrow,
            self.day_after,
            self.next_week,
            self.week_after,
            None,
        ]
        index = BUCKET_ORDER.index(bucket)
        return edges[index], edges[index + 1]


def bucket_days(bucket: Bucket, today: date) -> tuple[date | None, date | None]:
    """The local days ``bucket`` covers seen from ``today``, both included (``BucketEdges``).

    None as the first day: overdue, which reaches back without end (its last day is today,
    up to now); None as the last day: later, which has no end. Both None: the column is
    empty on this day (this_week on Saturdays and Sundays).
    """
    tomorrow, day_after = today + _ONE_DAY, today + 2 * _ONE_DAY
    next_monday = week_start(today) + 7 * _ONE_DAY
    match bucket:
        case Bucket.OVERDUE:
            return None, today
        case Bucket.TODAY:
            return today, today
        case Bucket.TOMORROW:
            return tomorrow, tomorrow
        case Bucket.THIS_WEEK:
            last = next_monday - _ONE_DAY
            return (day_after, last) if day_after <= last else (None, None)
        case Bucket.NEXT_WEEK:
            return max(day_after, next_monday), next_monday + 6 * _ONE_DAY
    return next_monday + 7 * _ONE_DAY, None


def move_to_local_day(
    deadline: datetime, day: date, now: datetime, settings: PortalSettings
) -> datetime:
    """Reschedule to a local day (``move_to_day``: the first working day from ``day`` on,
    the same local time of day); a time already past today moves to the next full hour.

    In the day's last hour, when the next full hour is tomorrow, it moves to the day's last
    minute (23:59) instead, so that a move to today never leaves a card overdue nor spills
    into tomorrow; within that last minute nothing is left of today and the time stays.
    """
    zone = settings.zone
    moved = move_to_day(deadline, day, settings)
    if moved > now or local_date(moved, zone) != current_local_day(now, zone):
        return moved
    local_now = now.astimezone(zone).replace(tzinfo=None)
    next_hour = local_now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if next_hour.date() != local_now.date():
        next_hour = datetime.combine(local_now.date(), _LAST_MINUTE)
    later = resolve_local(next_hour, zone)
    return later if later > now else moved


# A board classifies many deadlines against one ``now``: computing its edges once (a pure
# function of its arguments, so caching is safe) keeps ``bucket_of`` cheap per card.
_edges_at = functools.lru_cache(maxsize=256)(BucketEdges.at)


def bucket_of(deadline: datetime, now: datetime, zone: ZoneInfo) -> Bucket:
    """Which column a deadline belongs in, seen from ``now`` in ``zone`` (see ``BucketEdges``)."""
    return _edges_at(now, zone).bucket_of(deadline)


def bucket_bounds(
    bucket: Bucket, now: datetime, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """The half-open instant range ``[start, end)`` of ``bucket``; None means unbounded."""
    return _edges_at(now, zone).bounds(bucket)


@attrs.frozen
class DigestSlot:
    """A user's digest is due for ``local_day`` (the claim key with portal and user)."""

    local_day: date


def digest_due_at(day: date, settings: PortalSettings) -> datetime:
    """The instant from which ``day``'s digest is due: the digest hour on that local day.

    An hour skipped by a spring-forward jump resolves like any wall time
    (``resolve_local``), so every existing day has its due instant on that day.
    """
    return resolve_local(datetime.combine(day, time(settings.digest_hour)), settings.zone)


def digest_slot(now: datetime, settings: PortalSettings) -> DigestSlot | None:
    """The local day whose digest is due at ``now``, or None.

    Due from ``digest_due_at`` to the end of a working local day; a pass that runs late
    still finds today's slot, and never yesterday's. Comparing instants rather than the
    hour on the clock keeps the slot due once reached, even when a fall-back repeats
    the digest hour, and still finds a day whose digest hour a DST jump skipped.
    """
    day = current_local_day(now, settings.zone)
    if not is_working_day(day, settings):
        return None
    if now < digest_due_at(day, settings):
        return None
    return DigestSlot(day)


# ------------------------------------------------------------------ work in bulk (DESIGN §3.6)


@attrs.frozen
class Shift:
    """A move by ``count`` working days or calendar days; a negative count moves earlier."""

    count: int
    unit: IntervalUnit


def shift_day(day: date, shift: Shift, settings: PortalSettings) -> date:
    """The local day ``shift`` away from ``day``.

    Working days count only working days, in either direction (``day`` itself does not
    count, so +1 from a Friday is the next Monday and -1 from a Monday the Friday before);
    calendar days count every day. A count of zero is ``day`` itself.
    """
    if shift.unit is IntervalUnit.DAYS:
        return day + shift.count * _ONE_DAY
    step = _ONE_DAY if shift.count > 0 else -_ONE_DAY
    # Terminates: at least one weekday works and at most a year of holidays is allowed.
    for _ in range(abs(shift.count)):
        day += step
        while not is_working_day(day, settings):
            day += step
    return day


def shift_deadline(
    deadline: datetime, shift: Shift, now: datetime, settings: PortalSettings
) -> datetime:
    """Move a deadline by ``shift`` from its own local day, keeping its local time of day
    (``move_to_local_day``: on a working day; a time already past today moves to the next
    full hour)."""
    day = shift_day(local_date(deadline, settings.zone), shift, settings)
    return move_to_local_day(deadline, day, now, settings)


class SweepTarget(enum.Enum):
    """Where the overdue sweep moves touch-points, besides an explicit local day."""

    TODAY = "today"
    NEXT_WORKING_DAY = "next_working_day"


def sweep_day(target: SweepTarget | date, now: datetime, settings: PortalSettings) -> date:
    """The local day a sweep to ``target`` moves to: the presets' today or next working day
    (``presets_at``), or the day given."""
    if isinstance(target, date):
        return target
    presets = presets_at(now, settings)
    return presets.today if target is SweepTarget.TODAY else presets.next_working_day
