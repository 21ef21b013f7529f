"""Hypothesis strategies for the domain's values: zones, days near DST jumps, settings, touch-points."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPoint, TouchPointType
from touchpoints.domain.settings import IntervalUnit, PortalSettings

# The zones the issue names, plus ones whose rules break naive assumptions: a 30-minute DST
# shift (Lord_Howe), +12:45 (Chatham), a spring-forward gap at midnight (Havana) or running to
# midnight (Nuuk since 2024), a fall-back across midnight that repeats the previous evening
# (St_Johns at 00:01 until 2011), a whole skipped day (Apia, 2011-12-30), DST paused for
# Ramadan (Casablanca), and no DST at all (Kolkata, UTC).
NAMED_ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
EDGE_ZONES = (
    "UTC",
    "America/Nuuk",
    "America/Havana",
    "Pacific/Apia",
    "Pacific/Chatham",
    "America/St_Johns",
    "Africa/Casablanca",
    "America/Santiago",
)
ALL_ZONES = NAMED_ZONES + EDGE_ZONES

FIRST_DAY = date(2005, 1, 1)
LAST_DAY = date(2035, 12, 31)
_ONE_DAY = timedelta(days=1)


def zone_names(names: tuple[str, ...] = ALL_ZONES) -> st.SearchStrategy[str]:
    return st.sampled_from(names)


@functools.cache
def transition_days(name: str) -> tuple[date, ...]:
    """Local dates in [FIRST_DAY, LAST_DAY] on which ``name``'s UTC offset changes."""
    zone = ZoneInfo(name)
    days: list[date] = []
    instant = datetime.combine(FIRST_DAY, time(12), tzinfo=UTC)
    previous = instant.astimezone(zone).utcoffset()
    while instant.date() < LAST_DAY:
        instant += _ONE_DAY
        offset = instant.astimezone(zone).utcoffset()
        if offset != previous:
            # The jump happened in the last 24 hours: on one of these local dates.
            days.extend(
                {(instant - _ONE_DAY).astimezone(zone).date(), instant.astimezone(zone).date()}
            )
            previous = offset
    return tuple(sorted(set(days)))


# Strategies are built once (per zone) and reused: building them inside a composite makes
# hypothesis validate them again on every draw, which dominates the run time.
_PLAIN_DAYS = st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)
_UTC_INSTANTS = st.datetimes(
    min_value=datetime.combine(FIRST_DAY, time(0)),
    max_value=datetime.combine(LAST_DAY, time(0)),
    timezones=st.just(UTC),
)
_WALL_TIMES = st.one_of(
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59])), st.times()
)


def plain_days() -> st.SearchStrategy[date]:
    return _PLAIN_DAYS


@functools.cache
def local_days(name: str) -> st.SearchStrategy[date]:
    """A local date, often on or next to one of the zone's DST jumps."""
    jumps = transition_days(name)
    if not jumps:
        return _PLAIN_DAYS
    near = st.builds(
        lambda day, offset: day + offset * _ONE_DAY, st.sampled_from(jumps), st.integers(-2, 2)
    )
    return st.one_of(_PLAIN_DAYS, near)


def wall_times() -> st.SearchStrategy[time]:
    """Times of day, often on the hours and half hours where DST jumps happen."""
    return _WALL_TIMES


@functools.cache
def instants(name: str | None = None) -> st.SearchStrategy[datetime]:
    """Aware UTC instants; with a zone, often within a day and a half of one of its DST jumps."""
    if name is None:
        return _UTC_INSTANTS
    zone = ZoneInfo(name)

    def near(day: date, seconds: int) -> datetime:
        start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        return start + timedelta(seconds=seconds)

    return st.one_of(
        _UTC_INSTANTS, st.builds(near, local_days(name), st.integers(-36 * 3600, 60 * 3600))
    )


def existing_local(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """The instant of ``day`` at ``wall`` in ``zone``, or None where that wall time is skipped."""
    local = datetime.combine(day, wall, tzinfo=zone)
    instant = local.astimezone(UTC)
    back = instant.astimezone(zone)
    if back.replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


_HOLIDAY_OFFSETS = st.frozensets(st.integers(0, 60), max_size=25)
_WORKING_DAYS = st.frozensets(st.integers(1, 7), min_size=1)
_INTERVALS = st.integers(1, 90)
_UNITS = st.sampled_from(IntervalUnit)
_HOURS = st.integers(0, 23)
_VIEWERS = st.frozensets(st.integers(1, 20), max_size=3)


@st.composite
def portal_settings(
    draw: st.DrawFn,
    names: tuple[str, ...] = ALL_ZONES,
    near: date | None = None,
) -> PortalSettings:
    """Valid settings; with ``near``, holidays fall in the weeks after that day."""
    holidays: frozenset[date] = frozenset()
    if near is not None:
        holidays = frozenset(near + offset * _ONE_DAY for offset in draw(_HOLIDAY_OFFSETS))
    return PortalSettings(
        time_zone=draw(zone_names(names)),
        working_days=draw(_WORKING_DAYS),
        holidays=holidays,
        default_interval=draw(_INTERVALS),
        default_interval_unit=draw(_UNITS),
        digest_hour=draw(_HOURS),
        team_viewers=draw(_VIEWERS),
    )


_USER_IDS = st.integers(1, 6)


def user_ids() -> st.SearchStrategy[int]:
    """A small pool, so that viewers and owners collide often."""
    return _USER_IDS


_STATUSES = st.sampled_from(Status)
_IDS = st.integers(1, 10_000)
_OWNERS = st.builds(OwnerRef, st.sampled_from(OwnerType), st.integers(1, 50))
_TYPES = st.sampled_from(TouchPointType)
_UPDATE_DELAYS = st.integers(0, 60 * 24 * 60)
_DEADLINE_OFFSETS = st.integers(-60 * 24, 60 * 24 * 30)
_NOTES = st.sampled_from([None, "", "talked", "  "])


@st.composite
def touch_points(draw: st.DrawFn, *, status: Status | None = None) -> TouchPoint:
    """A consistent touch-point of any status, with instants between 2005 and 2035."""
    created_at = draw(_UTC_INSTANTS)
    status = status or draw(_STATUSES)
    updated_at = created_at + timedelta(minutes=draw(_UPDATE_DELAYS))
    done = status is Status.DONE
    tp_id = draw(_IDS)
    return TouchPoint(
        id=tp_id,
        portal_id=1,
        activity_id=draw(_IDS),
        owner=draw(_OWNERS),
        type=draw(_TYPES),
        status=status,
        deadline=created_at + timedelta(minutes=draw(_DEADLINE_OFFSETS)),
        responsible_id=draw(_USER_IDS),
        created_by=draw(_USER_IDS),
        created_at=created_at,
        updated_at=updated_at,
        completed_at=updated_at if done else None,
        result_note=draw(_NOTES) if done else None,
        next_id=tp_id + 1 if done and draw(st.booleans()) else None,
    )
