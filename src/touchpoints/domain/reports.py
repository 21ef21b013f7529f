"""Follow-up discipline metrics over a period of local days, per user and for the team."""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.model import (
    EntityType,
    OwnerRef,
    OwnerType,
    Status,
    TouchPoint,
    TouchPointType,
)
from touchpoints.domain.scheduling import local_date, start_of_local_day

MAX_PERIOD_DAYS = 366
_ONE_DAY = timedelta(days=1)


@attrs.frozen
class ReportPeriod:
    """The local days ``start_day`` to ``end_day``, both included, in the portal's zone.

    Raises:
        InvalidValue: the end is before the start, or the period is over a year long.
    """

    start_day: date
    end_day: date

    def __attrs_post_init__(self) -> None:
        if self.end_day < self.start_day:
            raise InvalidValue({"period": "must end on or after its first day"})
        if self.length > MAX_PERIOD_DAYS:
            raise InvalidValue({"period": f"must be at most {MAX_PERIOD_DAYS} days long"})

    @property
    def length(self) -> int:
        return (self.end_day - self.start_day).days + 1

    def days(self) -> list[date]:
        return [self.start_day + offset * _ONE_DAY for offset in range(self.length)]

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The half-open instant range ``[start, end)`` the period covers in ``zone``."""
        return start_of_local_day(self.start_day, zone), start_of_local_day(
            self.end_day + _ONE_DAY, zone
        )


@attrs.frozen(kw_only=True)
class ReportFilter:
    """Which touch-points a report looks at; None means any."""

    owner_type: EntityType | None = None
    type: TouchPointType | None = None
    responsible_ids: frozenset[int] | None = None

    def matches(self, touch_point: TouchPoint) -> bool:
        return (
            (self.owner_type is None or touch_point.owner.type == self.owner_type)
            and (self.type is None or touch_point.type is self.type)
            and (self.responsible_ids is None or touch_point.responsible_id in self.responsible_ids)
        )


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@attrs.frozen(kw_only=True)
class Metrics:
    """The figures of one user (or of the team) over a period ``[start, end)``.

    Every count is over the touch-points given to ``compute_report`` that pass its filter:

    - ``created``: ``created_at`` in the period.
    - ``completed``: status done and ``completed_at`` in the period. It splits into
      ``completed_on_time`` (``completed_at`` before the end of the deadline's local day)
      and ``completed_late`` (the rest); ``days_late`` lists, for each late one, the local
      calendar days from the deadline's day to the completion's day (always at least 1).
    - ``completed_with_note``: completed ones with a non-blank result note.
    - ``completed_followed_up``: completed ones with a follow-up (``next_id``) or whose
      CRM record is known to be closed (chain discipline).
    - ``cancelled`` / ``orphaned``: that status and ``updated_at`` in the period (both
      statuses are final, so their last update is when they got it).
    - ``overdue``: open at ``now`` with a deadline before ``now`` and before the period's
      end, whenever it was created (the backlog the period leaves behind).
    - ``by_type`` / ``by_owner_type``: the ``created`` ones by type and by owner type;
      every key is present.
    """

    created: int
    completed: int
    completed_on_time: int
    completed_late: int
    completed_with_note: int
    completed_followed_up: int
    cancelled: int
    orphaned: int
    overdue: int
    days_late: tuple[int, ...]
    by_type: dict[TouchPointType, int]
    by_owner_type: dict[EntityType, int]

    @property
    def on_time_rate(self) -> float | None:
        """On time / completed; None when nothing was completed."""
        return _rate(self.completed_on_time, self.completed)

    @property
    def note_rate(self) -> float | None:
        """Completed with a result note / completed; None when nothing was completed."""
        return _rate(self.completed_with_note, self.completed)

    @property
    def follow_up_rate(self) -> float | None:
        """Chain discipline: followed up / completed; None when nothing was completed."""
        return _rate(self.completed_followed_up, self.completed)

    @property
    def median_days_late(self) -> float | None:
        """The median of ``days_late``; None when nothing was completed late."""
        if not self.days_late:
            return None
        return float(statistics.median(self.days_late))


@attrs.frozen(kw_only=True)
class DailyPoint:
    """One local day of the period.

    ``created`` and ``completed`` count as in ``Metrics`` but for that day. ``overdue``
    counts the touch-points that were overdue at the end of the day (or at ``now`` for
    today): created before then, deadline before then, and not yet done, cancelled or
    orphaned then. It uses each touch-point's current deadline (earlier reschedules are
    not recorded) and is None for days that have not begun.
    """

    day: date
    created: int
    completed: int
    overdue: int | None


@attrs.frozen(kw_only=True)
class Report:
    """A period's metrics for the team, per responsible user (in id order) and per day."""

    period: ReportPeriod
    time_zone: str
    team: Metrics
    users: dict[int, Metrics]
    daily: tuple[DailyPoint, ...]


class _Clock:
    """Local-day arithmetic for one zone and period, cached: reports see many touch-points."""

    def __init__(self, period: ReportPeriod, zone: ZoneInfo) -> None:
        self.zone = zone
        self.start, self.end = period.bounds(zone)
        self._day_starts: dict[date, datetime] = {}

    def in_period(self, instant: datetime | None) -> bool:
        return instant is not None and self.start <= instant < self.end

    def day(self, instant: datetime) -> date:
        """The local day of ``instant`` (``current_local_day``, via cached day starts)."""
        day = local_date(instant, self.zone)
        while instant >= self._start_of(day + _ONE_DAY):
            day += _ONE_DAY
        return day

    def day_end(self, instant: datetime) -> datetime:
        """The start of the local day after ``instant``'s."""
        return self._start_of(self.day(instant) + _ONE_DAY)

    def _start_of(self, day: date) -> datetime:
        start = self._day_starts.get(day)
        if start is None:
            start = self._day_starts[day] = start_of_local_day(day, self.zone)
        return start


def _closed_at(touch_point: TouchPoint) -> datetime | None:
    if touch_point.status is Status.DONE:
        return touch_point.completed_at
    if touch_point.status in (Status.CANCELLED, Status.ORPHANED):
        return touch_point.updated_at
    return None


def _metrics(
    touch_points: Sequence[TouchPoint],
    clock: _Clock,
    now: datetime,
    closed_records: Collection[OwnerRef],
) -> Metrics:
    created = [tp for tp in touch_points if clock.in_period(tp.created_at)]
    completed = [
        tp for tp in touch_points if tp.status is Status.DONE and clock.in_period(tp.completed_at)
    ]
    on_time = 0
    days_late: list[int] = []
    for tp in completed:
        assert tp.completed_at is not None  # done ones always have it (model invariant)
        if tp.completed_at < clock.day_end(tp.deadline):
            on_time += 1
        else:
            late = clock.day(tp.completed_at) - clock.day(tp.deadline)
            days_late.append(late.days)
    overdue_before = min(now, clock.end)
    return Metrics(
        created=len(created),
        completed=len(completed),
        completed_on_time=on_time,
        completed_late=len(days_late),
        completed_with_note=sum(1 for tp in completed if tp.result_note and tp.result_note.strip()),
        completed_followed_up=sum(
            1 for tp in completed if tp.next_id is not None or tp.owner in closed_records
        ),
        cancelled=sum(
            1
            for tp in touch_points
            if tp.status is Status.CANCELLED and clock.in_period(tp.updated_at)
        ),
        orphaned=sum(
            1
            for tp in touch_points
            if tp.status is Status.ORPHANED and clock.in_period(tp.updated_at)
        ),
        overdue=sum(1 for tp in touch_points if tp.is_open and tp.deadline < overdue_before),
        days_late=tuple(sorted(days_late)),
        by_type={kind: sum(1 for tp in created if tp.type is kind) for kind in TouchPointType},
        by_owner_type=_by_owner_type(created),
    )


def _by_owner_type(created: Sequence[TouchPoint]) -> dict[EntityType, int]:
    """Created ones by owner type: the four entities always, a smart process once it has one."""
    counts: dict[EntityType, int] = dict.fromkeys(OwnerType, 0)
    for tp in created:
        counts[tp.owner.type] = counts.get(tp.owner.type, 0) + 1
    return counts


def _daily(
    touch_points: Sequence[TouchPoint], period: ReportPeriod, clock: _Clock, now: datetime
) -> tuple[DailyPoint, ...]:
    days = period.days()
    starts = [start_of_local_day(day, clock.zone) for day in days]
    created = [0] * len(days)
    completed = [0] * len(days)

    def day_index(instant: datetime | None) -> int | None:
        if not clock.in_period(instant):
            return None
        assert instant is not None
        return bisect.bisect_right(starts, instant) - 1

    # Overdue is sampled at each begun day's end (today's at ``now``); a touch-point is
    # overdue at a sample ``e`` when max(created_at, deadline) < e <= its closing instant.
    # A difference array over the sorted samples keeps this O(n log days).
    samples = [
        min(start_of_local_day(day + _ONE_DAY, clock.zone), now)
        for day, start in zip(days, starts, strict=True)
        if start <= now
    ]
    changes = [0] * (len(samples) + 1)
    for tp in touch_points:
        index = day_index(tp.created_at)
        if index is not None:
            created[index] += 1
        if tp.status is Status.DONE:
            index = day_index(tp.completed_at)
            if index is not None:
                completed[index] += 1
        first = bisect.bisect_right(samples, max(tp.created_at, tp.deadline))
        closed_at = _closed_at(tp)
        stop = len(samples) if closed_at is None else bisect.bisect_right(samples, closed_at)
        if first < stop:
            changes[first] += 1
            changes[stop] -= 1
    points: list[DailyPoint] = []
    running = 0
    for index, day in enumerate(days):
        overdue: int | None = None
        if index < len(samples):
            running += changes[index]
            overdue = running
        points.append(
            DailyPoint(day=day, created=created[index], completed=completed[index], overdue=overdue)
        )
    return tuple(points)


def compute_report(
    touch_points: Iterable[TouchPoint],
    *,
    period: ReportPeriod,
    now: datetime,
    time_zone: str,
    report_filter: ReportFilter | None = None,
    users: Iterable[int] = (),
    closed_records: Collection[OwnerRef] = frozenset(),
) -> Report:
    """The period's metrics (see ``Metrics`` and ``DailyPoint`` for what each counts).

    Each touch-point counts for its current responsible user. ``users`` adds rows for
    team members with nothing to count (subject to the filter's ``responsible_ids``).
    ``closed_records`` names CRM records known to be closed, whose completed touch-points
    need no follow-up. Only the touch-points given are counted: pass those created, due
    or completed in the period, plus the open overdue backlog.
    """
    zone = ZoneInfo(time_zone)
    chosen_filter = report_filter or ReportFilter()
    chosen = [tp for tp in touch_points if chosen_filter.matches(tp)]
    clock = _Clock(period, zone)
    by_user: dict[int, list[TouchPoint]] = {
        user_id: []
        for user_id in users
        if chosen_filter.responsible_ids is None or user_id in chosen_filter.responsible_ids
    }
    for tp in chosen:
        by_user.setdefault(tp.responsible_id, []).append(tp)
    return Report(
        period=period,
        time_zone=time_zone,
        team=_metrics(chosen, clock, now, closed_records),
        users={
            user_id: _metrics(by_user[user_id], clock, now, closed_records)
            for user_id in sorted(by_user)
        },
        daily=_daily(chosen, period, clock, now),
    )
