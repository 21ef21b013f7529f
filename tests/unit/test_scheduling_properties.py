"""Scheduling specified by properties: any zone, any week, any holidays, DST days included."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.strategies import (
    ALL_ZONES,
    NAMED_ZONES,
    existing_local,
    instants,
    local_days,
    plain_days,
    portal_settings,
    wall_times,
    zone_names,
)
from touchpoints.domain.scheduling import (
    BUCKET_ORDER,
    Bucket,
    Interval,
    add_interval,
    add_working_days,
    bucket_bounds,
    bucket_of,
    current_local_day,
    day_exists,
    digest_due_at,
    digest_slot,
    follow_up_deadline,
    is_working_day,
    local_date,
    move_to_day,
    resolve_local,
    start_of_local_day,
)
from touchpoints.domain.settings import IntervalUnit, PortalSettings

_ONE_DAY = timedelta(days=1)


@st.composite
def settings_and_instant(
    draw: st.DrawFn, names: tuple[str, ...] = ALL_ZONES
) -> tuple[PortalSettings, datetime]:
    """Settings whose holidays crowd the weeks after an instant in (often) a DST week."""
    name = draw(zone_names(names))
    instant = draw(instants(name))
    settings = draw(portal_settings((name,), near=local_date(instant, ZoneInfo(name))))
    return settings, instant


# ------------------------------------------------------------------ follow-ups


@example(
    # Regression: a follow-up at 23:30 on a working Saturday was pushed into Sunday by
    # Nuuk's gap that runs to midnight.
    case=(
        PortalSettings(
            time_zone="America/Nuuk",
            working_days=frozenset({6}),
            default_interval=1,
        ),
        datetime(2024, 3, 24, 2, 30, tzinfo=UTC),
    ),
    previous_wall=time(23, 30),
)
@example(
    # Pacific/Apia skipped Friday 2011-12-30: nobody can work on a day that never was.
    case=(
        PortalSettings(
            time_zone="Pacific/Apia",
            working_days=frozenset({5}),
            default_interval=1,
        ),
        datetime(2011, 12, 26, 21, 0, tzinfo=UTC),
    ),
    previous_wall=time(10, 0),
)
@example(
    # Regression: St. John's fell back at 00:01 until 2011, repeating 23:01-23:59 of the
    # previous day; a completion in that repeat anchored the follow-up on the old day, so a
    # midnight follow-up one day later fell before the completion itself.
    case=(
        PortalSettings(
            time_zone="America/St_Johns",
            working_days=frozenset(range(1, 8)),
            default_interval=1,
            default_interval_unit=IntervalUnit.DAYS,
        ),
        datetime(2005, 10, 30, 3, 0, tzinfo=UTC),
    ),
    previous_wall=time(0, 0),
)
@given(settings_and_instant(), wall_times())
def test_a_follow_up_lands_on_a_working_day_strictly_after_the_completion(
    case: tuple[PortalSettings, datetime], previous_wall: time
) -> None:
    settings, completed_at = case
    zone = settings.zone
    previous_deadline = resolve_local(
        datetime.combine(local_date(completed_at, zone) - 3 * _ONE_DAY, previous_wall), zone
    )
    follow_up = follow_up_deadline(completed_at, previous_deadline, settings)
    assert follow_up > completed_at
    day = local_date(follow_up, zone)
    assert is_working_day(day, settings)
    assert day.isoweekday() in settings.working_days
    assert day not in settings.holidays


@given(settings_and_instant(), st.integers(1, 90), st.sampled_from(IntervalUnit))
def test_any_interval_lands_on_a_working_day_after_the_start_day(
    case: tuple[PortalSettings, datetime], count: int, unit: IntervalUnit
) -> None:
    settings, start = case
    result = add_interval(start, Interval(count, unit), settings)
    start_day = local_date(start, settings.zone)
    day = local_date(result, settings.zone)
    assert is_working_day(day, settings)
    if unit is IntervalUnit.WORKING_DAYS:
        assert day == add_working_days(start_day, count, settings)
    else:
        assert day >= start_day + count * _ONE_DAY


@given(settings_and_instant(), st.integers(0, 40), st.integers(0, 40))
def test_adding_n_then_m_working_days_equals_adding_n_plus_m(
    case: tuple[PortalSettings, datetime], n: int, m: int
) -> None:
    settings, instant = case
    day = local_date(instant, settings.zone)
    assert add_working_days(add_working_days(day, n, settings), m, settings) == add_working_days(
        day, n + m, settings
    )


@given(settings_and_instant(), st.integers(1, 40))
def test_working_days_added_are_all_working_days_and_skip_none(
    case: tuple[PortalSettings, datetime], count: int
) -> None:
    settings, instant = case
    start = local_date(instant, settings.zone)
    end = add_working_days(start, count, settings)
    between = [start + k * _ONE_DAY for k in range(1, (end - start).days + 1)]
    assert sum(1 for day in between if is_working_day(day, settings)) == count
    assert is_working_day(end, settings)


@given(settings_and_instant(), plain_days())
def test_moving_to_a_day_lands_on_that_day_or_the_next_working_one(
    case: tuple[PortalSettings, datetime], target: date
) -> None:
    settings, deadline = case
    moved = local_date(move_to_day(deadline, target, settings), settings.zone)
    assert moved >= target
    assert is_working_day(moved, settings)
    assert not any(
        is_working_day(target + k * _ONE_DAY, settings) for k in range((moved - target).days)
    )


# ------------------------------------------------------------------ wall time across DST


def _wall_time_case(name: str, start_day: date, start_wall: time, count: int) -> None:
    """``add_interval`` keeps the wall time, or resolves a missing one by the documented rule."""
    zone = ZoneInfo(name)
    every_day = PortalSettings(time_zone=name, working_days=frozenset(range(1, 8)))
    start = existing_local(start_day, start_wall, zone)
    assume(start is not None)
    assert start is not None
    result = add_interval(start, Interval(count, IntervalUnit.DAYS), every_day)
    target_day = start_day + count * _ONE_DAY
    assume(day_exists(target_day, zone))
    local = result.astimezone(zone)
    assert local.date() == target_day
    wanted = datetime.combine(target_day, start_wall)
    if existing_local(target_day, start_wall, zone) is not None:
        assert local.replace(tzinfo=None) == wanted
        # In an overlap the first occurrence is taken (astimezone marks the second fold=1).
        assert local.fold == 0
    else:
        # A gap: moved forward by its length, or back where forward would leave the day.
        before = wanted.replace(tzinfo=zone, fold=0).utcoffset()
        after = wanted.replace(tzinfo=zone, fold=1).utcoffset()
        assert before is not None
        assert after is not None
        gap = after - before
        shifted = local.replace(tzinfo=None) - wanted
        assert shifted in (gap, -gap)
        if shifted == -gap:
            assert (wanted + gap).date() != target_day


@st.composite
def zone_days(draw: st.DrawFn, names: tuple[str, ...] = ALL_ZONES) -> tuple[str, date]:
    """A zone and one of its local days, often a DST day."""
    name = draw(zone_names(names))
    return name, draw(local_days(name))


# The actual jumps, pinned: Berlin 2026-03-29 02:00->03:00 and 2026-10-25 03:00->02:00,
# New York 2026-03-08 02:00->03:00 and 2026-11-01 02:00->01:00, Lord Howe 2026-10-04
# 02:00->02:30 and 2026-04-05 02:00->01:30, Nuuk 2024-03-30 23:00->00:00 (the regression).
@example(case=("Europe/Berlin", date(2026, 3, 29)), start_wall=time(2, 30), count=1)
@example(case=("Europe/Berlin", date(2026, 10, 25)), start_wall=time(2, 30), count=1)
@example(case=("America/New_York", date(2026, 3, 8)), start_wall=time(2, 0), count=7)
@example(case=("America/New_York", date(2026, 11, 1)), start_wall=time(1, 30), count=1)
@example(case=("Australia/Lord_Howe", date(2026, 10, 4)), start_wall=time(2, 15), count=1)
@example(case=("Australia/Lord_Howe", date(2026, 4, 5)), start_wall=time(1, 45), count=1)
@example(case=("Asia/Kolkata", date(2026, 3, 29)), start_wall=time(2, 30), count=1)
@example(case=("America/Nuuk", date(2024, 3, 30)), start_wall=time(23, 30), count=1)
@given(
    zone_days((*NAMED_ZONES, "America/Nuuk", "America/Havana", "Pacific/Chatham")),
    wall_times(),
    st.integers(1, 10),
)
def test_local_wall_time_is_kept_across_dst_or_resolved_by_the_rule(
    case: tuple[str, date], start_wall: time, count: int
) -> None:
    name, target_day = case
    _wall_time_case(name, target_day - count * _ONE_DAY, start_wall, count)


@example(case=("Europe/Berlin", date(2026, 10, 25)), wall=time(2, 30))
@example(case=("Australia/Lord_Howe", date(2026, 4, 5)), wall=time(1, 45))
@given(zone_days(), wall_times())
def test_a_local_to_utc_to_local_round_trip_is_the_identity_for_existing_times(
    case: tuple[str, date], wall: time
) -> None:
    name, day = case
    zone = ZoneInfo(name)
    assume(existing_local(day, wall, zone) is not None)
    local = datetime.combine(day, wall)
    assert resolve_local(local, zone).astimezone(zone).replace(tzinfo=None) == local


@example(case=("America/Nuuk", date(2024, 3, 30)), wall=time(23, 30))
@given(zone_days(), wall_times())
def test_every_resolved_wall_time_stays_on_its_day(case: tuple[str, date], wall: time) -> None:
    name, day = case
    zone = ZoneInfo(name)
    assume(day_exists(day, zone))
    assert local_date(resolve_local(datetime.combine(day, wall), zone), zone) == day


# ------------------------------------------------------------------ buckets


@st.composite
def now_and_deadline(draw: st.DrawFn) -> tuple[str, datetime, datetime]:
    """A zone, a ``now`` often near its DST jumps, and a deadline within 40 days of it."""
    name = draw(zone_names())
    now = draw(instants(name))
    return name, now, now + timedelta(seconds=draw(_DEADLINE_SECONDS))


_DEADLINE_SECONDS = st.integers(-40 * 86_400, 40 * 86_400)
# Regression: St. John's 2005-10-30 started at 00:00 NDT, and at 00:01 the clock fell back
# to 23:01 of the 29th. A deadline in that repeat was "this week" by its calendar date
# but inside today's bounds: buckets are now defined by the day's instants alone.
ST_JOHNS_2005 = datetime(2005, 10, 30, 2, 30, tzinfo=UTC)


@example(case=("America/St_Johns", ST_JOHNS_2005, ST_JOHNS_2005 + timedelta(seconds=60)))
@given(now_and_deadline())
def test_every_instant_is_in_exactly_the_bucket_whose_bounds_hold_it(
    case: tuple[str, datetime, datetime],
) -> None:
    name, now, deadline = case
    zone = ZoneInfo(name)
    holding = [
        bucket for bucket in BUCKET_ORDER if _within(deadline, *bucket_bounds(bucket, now, zone))
    ]
    assert holding == [bucket_of(deadline, now, zone)]


def _within(instant: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or start <= instant) and (end is None or instant < end)


@example(case=("America/St_Johns", ST_JOHNS_2005 + timedelta(minutes=30), ST_JOHNS_2005))
@given(now_and_deadline())
def test_buckets_follow_one_another_in_time(case: tuple[str, datetime, datetime]) -> None:
    name, now, _ = case
    zone = ZoneInfo(name)
    bounds = [bucket_bounds(bucket, now, zone) for bucket in BUCKET_ORDER]
    assert bounds[0][0] is None
    assert bounds[-1][1] is None
    for (_, end), (start, _) in itertools.pairwise(bounds):
        assert end == start
    for start, end in bounds[1:-1]:
        assert start is not None
        assert end is not None
        assert start <= end


@given(zone_names(), st.data())
def test_a_later_deadline_never_lands_in_an_earlier_bucket(name: str, data: st.DataObject) -> None:
    zone = ZoneInfo(name)
    now = data.draw(instants(name))
    offsets = sorted(data.draw(st.lists(st.integers(-20 * 86_400, 20 * 86_400), min_size=2)))
    positions = [
        BUCKET_ORDER.index(bucket_of(now + timedelta(seconds=s), now, zone)) for s in offsets
    ]
    assert positions == sorted(positions)
    assert bucket_of(now, now, zone) is Bucket.TODAY


# ------------------------------------------------------------------ digest slots


def _day_instants(day: date, settings: PortalSettings) -> list[datetime]:
    """Every 10 minutes of the local day, plus the instants either side of its due time."""
    zone = settings.zone
    start = start_of_local_day(day, zone)
    end = start_of_local_day(day + _ONE_DAY, zone)
    due = digest_due_at(day, settings)
    samples = [
        start + timedelta(minutes=10 * k)
        for k in range(int((end - start).total_seconds() // 600) + 1)
    ]
    samples += [due - timedelta(microseconds=1), due, end - timedelta(microseconds=1)]
    return sorted(instant for instant in samples if start <= instant < end)


@example(
    # Regression: the 23:00 digest of Nuuk's 2024-03-30 was never due (no 23:00 that day).
    settings=PortalSettings(
        time_zone="America/Nuuk", digest_hour=23, working_days=frozenset(range(1, 8))
    ),
    day=date(2024, 3, 30),
)
@example(
    settings=PortalSettings(
        time_zone="Australia/Lord_Howe", digest_hour=2, working_days=frozenset(range(1, 8))
    ),
    day=date(2026, 10, 4),
)
@example(
    settings=PortalSettings(
        time_zone="Europe/Berlin", digest_hour=2, working_days=frozenset(range(1, 8))
    ),
    day=date(2026, 3, 29),
)
@example(
    settings=PortalSettings(
        time_zone="America/Havana", digest_hour=0, working_days=frozenset(range(1, 8))
    ),
    day=date(2026, 3, 8),
)
@example(
    # The repeated 23:01-23:59 of 2005-10-29 belongs to the 30th: never yesterday's slot.
    settings=PortalSettings(
        time_zone="America/St_Johns", digest_hour=23, working_days=frozenset(range(1, 8))
    ),
    day=date(2005, 10, 30),
)
@given(
    st.shared(portal_settings(), key="digest"),
    st.shared(portal_settings(), key="digest").flatmap(lambda s: local_days(s.time_zone)),
)
def test_each_portal_is_due_exactly_once_per_working_local_day(
    settings: PortalSettings, day: date
) -> None:
    samples = _day_instants(day, settings)
    slots = [digest_slot(instant, settings) for instant in samples]
    due = [slot is not None for slot in slots]
    assert {slot.local_day for slot in slots if slot is not None} <= {day}
    if is_working_day(day, settings):
        assert any(due)
        # Once due, due until the day ends: a pass at any later minute still finds it.
        assert due == sorted(due)
        assert digest_slot(digest_due_at(day, settings), settings) is not None
    else:
        assert not any(due)


@given(portal_settings(), st.data())
def test_a_slot_is_always_the_local_day_of_the_pass(
    settings: PortalSettings, data: st.DataObject
) -> None:
    now = data.draw(instants(settings.time_zone))
    slot = digest_slot(now, settings)
    if slot is not None:
        assert slot.local_day == local_date(now, settings.zone)
        assert is_working_day(slot.local_day, settings)
        assert now >= digest_due_at(slot.local_day, settings)


@example(case=("America/St_Johns", ST_JOHNS_2005, ST_JOHNS_2005 + timedelta(minutes=30)))
@given(now_and_deadline())
def test_local_days_never_go_backwards_and_contain_their_instants(
    case: tuple[str, datetime, datetime],
) -> None:
    name, first, second = case
    zone = ZoneInfo(name)
    earlier, later = sorted((first, second))
    assert current_local_day(earlier, zone) <= current_local_day(later, zone)
    day = current_local_day(earlier, zone)
    assert start_of_local_day(day, zone) <= earlier < start_of_local_day(day + _ONE_DAY, zone)
