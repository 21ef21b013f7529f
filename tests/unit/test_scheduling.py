"""Scheduling by example: wall times across DST, working days, intervals, buckets, digest slots."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.scheduling import (
    BUCKET_ORDER,
    Bucket,
    BucketEdges,
    DigestSlot,
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
    next_working_day,
    resolve_local,
    start_of_local_day,
    week_start,
)
from touchpoints.domain.settings import IntervalUnit, PortalSettings

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
NUUK = ZoneInfo("America/Nuuk")
HAVANA = ZoneInfo("America/Havana")
APIA = ZoneInfo("Pacific/Apia")

WEEKDAYS = PortalSettings(time_zone="Europe/Berlin")


def lt(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A naive local wall time (what ``resolve_local`` takes)."""
    return datetime.combine(date(year, month, day), time(hour, minute))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local reading of ``instant`` in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


# ------------------------------------------------------------------ wall time resolution


@pytest.mark.parametrize(
    ("local", "zone", "instant"),
    [
        # An ordinary time maps exactly.
        (lt(2026, 3, 2, 10, 0), BERLIN, utc(2026, 3, 2, 9, 0)),
        # Spring-forward gap: moved forward by the gap (02:30 -> 03:30 CEST).
        (lt(2026, 3, 29, 2, 30), BERLIN, utc(2026, 3, 29, 1, 30)),
        (lt(2026, 3, 8, 2, 30), NEW_YORK, utc(2026, 3, 8, 7, 30)),
        # Lord Howe's half-hour gap: 02:15 -> 02:45 (+11:00).
        (lt(2026, 10, 4, 2, 15), LORD_HOWE, utc(2026, 10, 3, 15, 45)),
        # Fall-back overlap: the first occurrence (still on daylight time).
        (lt(2026, 10, 25, 2, 30), BERLIN, utc(2026, 10, 25, 0, 30)),
        (lt(2026, 11, 1, 1, 30), NEW_YORK, utc(2026, 11, 1, 5, 30)),
        (lt(2026, 4, 5, 1, 45), LORD_HOWE, utc(2026, 4, 4, 14, 45)),
        # A gap running to midnight: moved back instead, so it stays on its day.
        (lt(2024, 3, 30, 23, 30), NUUK, utc(2024, 3, 31, 0, 30)),
        # Midnight inside Havana's gap: the day starts at 01:00.
        (lt(2026, 3, 8, 0, 0), HAVANA, utc(2026, 3, 8, 5, 0)),
    ],
)
def test_wall_times_resolve_by_the_documented_rule(
    local: datetime, zone: ZoneInfo, instant: datetime
) -> None:
    assert resolve_local(local, zone) == instant


def test_a_gap_running_to_midnight_keeps_the_time_on_its_local_day() -> None:
    resolved = resolve_local(lt(2024, 3, 30, 23, 30), NUUK)
    assert wall(resolved, NUUK) == lt(2024, 3, 30, 22, 30)


def test_local_date_is_the_calendar_date_in_the_zone() -> None:
    assert local_date(utc(2026, 3, 1, 23, 30), BERLIN) == date(2026, 3, 2)
    assert local_date(utc(2026, 3, 2, 3, 0), NEW_YORK) == date(2026, 3, 1)


@pytest.mark.parametrize(
    ("day", "zone", "start"),
    [
        (date(2026, 3, 2), BERLIN, utc(2026, 3, 1, 23, 0)),
        (date(2026, 3, 29), BERLIN, utc(2026, 3, 28, 23, 0)),
        (date(2026, 3, 8), HAVANA, utc(2026, 3, 8, 5, 0)),
        # Apia skipped 2011-12-30: its "start" is the start of the next day.
        (date(2011, 12, 30), APIA, utc(2011, 12, 30, 10, 0)),
        (date(2011, 12, 31), APIA, utc(2011, 12, 30, 10, 0)),
    ],
)
def test_a_local_day_starts_at_its_first_instant(
    day: date, zone: ZoneInfo, start: datetime
) -> None:
    assert start_of_local_day(day, zone) == start


def test_a_day_the_zone_skipped_does_not_exist() -> None:
    assert not day_exists(date(2011, 12, 30), APIA)
    assert day_exists(date(2011, 12, 29), APIA)
    assert day_exists(date(2011, 12, 31), APIA)
    assert day_exists(date(2026, 3, 29), BERLIN)


# ------------------------------------------------------------------ working days


def test_working_days_are_configured_weekdays_that_are_not_holidays() -> None:
    settings = PortalSettings(holidays=frozenset({date(2026, 3, 4)}))
    assert is_working_day(date(2026, 3, 2), settings)  # Monday
    assert not is_working_day(date(2026, 3, 4), settings)  # holiday
    assert not is_working_day(date(2026, 3, 7), settings)  # Saturday


def test_a_skipped_day_is_never_a_working_day() -> None:
    every_day = PortalSettings(time_zone="Pacific/Apia", working_days=frozenset(range(1, 8)))
    assert not is_working_day(date(2011, 12, 30), every_day)
    assert next_working_day(date(2011, 12, 30), every_day) == date(2011, 12, 31)


def test_the_next_working_day_is_the_day_itself_or_the_first_after_it() -> None:
    settings = PortalSettings(holidays=frozenset({date(2026, 3, 9)}))
    assert next_working_day(date(2026, 3, 2), settings) == date(2026, 3, 2)
    assert next_working_day(date(2026, 3, 7), settings) == date(2026, 3, 10)


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (date(2026, 3, 2), 0, date(2026, 3, 2)),
        (date(2026, 3, 2), 1, date(2026, 3, 3)),
        (date(2026, 3, 6), 1, date(2026, 3, 10)),  # Friday + 1 skips the weekend and a holiday
        (date(2026, 3, 7), 1, date(2026, 3, 10)),  # from a Saturday
        (date(2026, 3, 2), 5, date(2026, 3, 10)),
    ],
)
def test_adding_working_days_skips_weekends_and_holidays(
    start: date, count: int, expected: date
) -> None:
    settings = PortalSettings(holidays=frozenset({date(2026, 3, 9)}))
    assert add_working_days(start, count, settings) == expected


def test_a_custom_working_week_is_respected() -> None:
    sunday_to_thursday = PortalSettings(working_days=frozenset({7, 1, 2, 3, 4}))
    assert add_working_days(date(2026, 3, 5), 1, sunday_to_thursday) == date(2026, 3, 8)


# ------------------------------------------------------------------ intervals


@pytest.mark.parametrize("count", [0, 91, -1])
def test_an_interval_is_between_1_and_90(count: int) -> None:
    with pytest.raises(InvalidValue) as caught:
        Interval(count, IntervalUnit.DAYS)
    assert caught.value.errors == {"interval": "must be between 1 and 90"}


def test_the_default_interval_comes_from_the_settings() -> None:
    settings = PortalSettings(default_interval=7, default_interval_unit=IntervalUnit.DAYS)
    assert Interval.default_for(settings) == Interval(7, IntervalUnit.DAYS)


def test_working_days_keep_the_wall_time_across_the_spring_forward() -> None:
    friday_10 = resolve_local(lt(2026, 3, 27, 10, 0), BERLIN)
    result = add_interval(friday_10, Interval(1, IntervalUnit.WORKING_DAYS), WEEKDAYS)
    assert wall(result, BERLIN) == lt(2026, 3, 30, 10, 0)
    assert result - friday_10 == timedelta(days=3) - timedelta(hours=1)


def test_calendar_days_that_end_on_a_weekend_move_to_the_next_working_day() -> None:
    settings = PortalSettings(time_zone="America/New_York", default_interval_unit=IntervalUnit.DAYS)
    thursday = resolve_local(lt(2026, 10, 29, 16, 45), NEW_YORK)
    result = add_interval(thursday, Interval(2, IntervalUnit.DAYS), settings)
    assert wall(result, NEW_YORK) == lt(2026, 11, 2, 16, 45)


def test_a_calendar_day_interval_that_ends_on_a_working_day_stays_there() -> None:
    monday = resolve_local(lt(2026, 3, 2, 9, 0), BERLIN)
    result = add_interval(monday, Interval(3, IntervalUnit.DAYS), WEEKDAYS)
    assert wall(result, BERLIN) == lt(2026, 3, 5, 9, 0)


def test_a_follow_up_counts_from_the_completion_day_at_the_previous_deadlines_time() -> None:
    # Due Monday 10:00, completed late on Thursday evening: +3 working days is Tuesday 10:00.
    previous_deadline = resolve_local(lt(2026, 3, 2, 10, 0), BERLIN)
    completed_at = resolve_local(lt(2026, 3, 5, 18, 30), BERLIN)
    result = follow_up_deadline(completed_at, previous_deadline, WEEKDAYS)
    assert wall(result, BERLIN) == lt(2026, 3, 10, 10, 0)


def test_a_follow_up_whose_time_falls_in_a_gap_resolves_by_the_rule() -> None:
    every_day = PortalSettings(
        time_zone="Europe/Berlin",
        working_days=frozenset(range(1, 8)),
        default_interval=1,
    )
    previous_deadline = resolve_local(lt(2026, 3, 27, 2, 30), BERLIN)
    completed_at = resolve_local(lt(2026, 3, 28, 12, 0), BERLIN)
    result = follow_up_deadline(completed_at, previous_deadline, every_day)
    assert wall(result, BERLIN) == lt(2026, 3, 29, 3, 30)


def test_moving_to_another_day_keeps_the_time_and_avoids_days_off() -> None:
    deadline = resolve_local(lt(2026, 3, 2, 14, 15), BERLIN)
    assert wall(move_to_day(deadline, date(2026, 3, 4), WEEKDAYS), BERLIN) == lt(2026, 3, 4, 14, 15)
    assert wall(move_to_day(deadline, date(2026, 3, 28), WEEKDAYS), BERLIN) == lt(
        2026, 3, 30, 14, 15
    )


# ------------------------------------------------------------------ buckets

# Wednesday 2026-03-04, 12:00 in Berlin.
NOW = resolve_local(lt(2026, 3, 4, 12, 0), BERLIN)


def test_weeks_start_on_monday() -> None:
    assert week_start(date(2026, 3, 4)) == date(2026, 3, 2)
    assert week_start(date(2026, 3, 2)) == date(2026, 3, 2)
    assert week_start(date(2026, 3, 8)) == date(2026, 3, 2)


@pytest.mark.parametrize(
    ("local", "bucket"),
    [
        (lt(2026, 2, 20, 9, 0), Bucket.OVERDUE),
        (lt(2026, 3, 4, 11, 59), Bucket.OVERDUE),
        (lt(2026, 3, 4, 12, 0), Bucket.TODAY),
        (lt(2026, 3, 4, 23, 59), Bucket.TODAY),
        (lt(2026, 3, 5, 0, 0), Bucket.TOMORROW),
        (lt(2026, 3, 6, 0, 0), Bucket.THIS_WEEK),
        (lt(2026, 3, 8, 23, 59), Bucket.THIS_WEEK),
        (lt(2026, 3, 9, 0, 0), Bucket.NEXT_WEEK),
        (lt(2026, 3, 15, 23, 59), Bucket.NEXT_WEEK),
        (lt(2026, 3, 16, 0, 0), Bucket.LATER),
    ],
)
def test_deadlines_fall_into_the_board_columns(local: datetime, bucket: Bucket) -> None:
    assert bucket_of(resolve_local(local, BERLIN), NOW, BERLIN) is bucket


def test_tomorrow_wins_over_next_week_on_a_sunday() -> None:
    sunday = resolve_local(lt(2026, 3, 8, 20, 0), BERLIN)
    monday = resolve_local(lt(2026, 3, 9, 9, 0), BERLIN)
    tuesday = resolve_local(lt(2026, 3, 10, 9, 0), BERLIN)
    assert bucket_of(monday, sunday, BERLIN) is Bucket.TOMORROW
    assert bucket_of(tuesday, sunday, BERLIN) is Bucket.NEXT_WEEK
    start, end = bucket_bounds(Bucket.THIS_WEEK, sunday, BERLIN)
    assert start == end


def test_bucket_bounds_are_contiguous_half_open_ranges() -> None:
    bounds = [bucket_bounds(bucket, NOW, BERLIN) for bucket in BUCKET_ORDER]
    assert bounds == [
        (None, NOW),
        (NOW, utc(2026, 3, 4, 23, 0)),
        (utc(2026, 3, 4, 23, 0), utc(2026, 3, 5, 23, 0)),
        (utc(2026, 3, 5, 23, 0), utc(2026, 3, 8, 23, 0)),
        (utc(2026, 3, 8, 23, 0), utc(2026, 3, 15, 23, 0)),
        (utc(2026, 3, 15, 23, 0), None),
    ]


# ------------------------------------------------------------------ digest slots


def test_the_digest_is_due_from_the_digest_hour_on_a_working_day() -> None:
    settings = PortalSettings(time_zone="Europe/Berlin", digest_hour=9)
    assert digest_slot(resolve_local(lt(2026, 3, 4, 8, 59), BERLIN), settings) is None
    at_nine = resolve_local(lt(2026, 3, 4, 9, 0), BERLIN)
    assert digest_due_at(date(2026, 3, 4), settings) == at_nine
    assert digest_slot(at_nine, settings) == DigestSlot(date(2026, 3, 4))
    late = resolve_local(lt(2026, 3, 4, 23, 59), BERLIN)
    assert digest_slot(late, settings) == DigestSlot(date(2026, 3, 4))


def test_a_late_pass_after_midnight_finds_the_new_day_and_never_yesterday() -> None:
    settings = PortalSettings(time_zone="Europe/Berlin", digest_hour=0)
    just_after = resolve_local(lt(2026, 3, 5, 0, 1), BERLIN)
    assert digest_slot(just_after, settings) == DigestSlot(date(2026, 3, 5))


@pytest.mark.parametrize(
    "local", [lt(2026, 3, 7, 10, 0), lt(2026, 3, 8, 10, 0), lt(2026, 3, 4, 10, 0)]
)
def test_no_digest_on_weekends_and_holidays(local: datetime) -> None:
    settings = PortalSettings(time_zone="Europe/Berlin", holidays=frozenset({date(2026, 3, 4)}))
    assert digest_slot(resolve_local(local, BERLIN), settings) is None


def test_a_digest_hour_skipped_by_the_spring_forward_is_reached_at_the_jump() -> None:
    settings = PortalSettings(
        time_zone="Europe/Berlin", digest_hour=2, working_days=frozenset(range(1, 8))
    )
    assert digest_due_at(date(2026, 3, 29), settings) == utc(2026, 3, 29, 1, 0)
    assert digest_slot(utc(2026, 3, 29, 0, 59), settings) is None
    assert digest_slot(utc(2026, 3, 29, 1, 0), settings) == DigestSlot(date(2026, 3, 29))


def test_a_digest_hour_skipped_up_to_midnight_is_still_due_that_day() -> None:
    # Regression: Nuuk has no 23:00 on 2024-03-30, so a 23:00 digest was never due that day.
    settings = PortalSettings(
        time_zone="America/Nuuk", digest_hour=23, working_days=frozenset(range(1, 8))
    )
    due = digest_due_at(date(2024, 3, 30), settings)
    assert wall(due, NUUK) == lt(2024, 3, 30, 22, 0)
    assert digest_slot(due, settings) == DigestSlot(date(2024, 3, 30))
    assert digest_slot(due - timedelta(seconds=1), settings) is None


def test_a_repeated_digest_hour_is_due_from_its_first_occurrence_on() -> None:
    settings = PortalSettings(
        time_zone="Europe/Berlin", digest_hour=2, working_days=frozenset(range(1, 8))
    )
    first_two = utc(2026, 10, 25, 0, 0)  # 02:00 CEST
    second_two = utc(2026, 10, 25, 1, 0)  # 02:00 CET, an hour later
    assert wall(first_two, BERLIN) == wall(second_two, BERLIN) == lt(2026, 10, 25, 2, 0)
    assert digest_due_at(date(2026, 10, 25), settings) == first_two
    assert digest_slot(first_two - timedelta(seconds=1), settings) is None
    for instant in (first_two, first_two + timedelta(minutes=59), second_two):
        assert digest_slot(instant, settings) == DigestSlot(date(2026, 10, 25))


# ------------------------------------------------------------------ days that repeat

ST_JOHNS = ZoneInfo("America/St_Johns")


def test_the_repeated_end_of_a_day_after_a_midnight_fall_back_belongs_to_the_new_day() -> None:
    # St. John's fell back at 00:01 on 2005-10-30, back to 23:01 on the 29th.
    repeated = utc(2005, 10, 30, 3, 0)
    assert wall(repeated, ST_JOHNS) == lt(2005, 10, 29, 23, 30)
    assert local_date(repeated, ST_JOHNS) == date(2005, 10, 29)
    assert current_local_day(repeated, ST_JOHNS) == date(2005, 10, 30)
    assert current_local_day(utc(2026, 3, 4, 11, 0), BERLIN) == date(2026, 3, 4)


def test_bucket_edges_computed_once_classify_like_bucket_of() -> None:
    edges = BucketEdges.at(NOW, BERLIN)
    for local in (lt(2026, 3, 4, 11, 0), lt(2026, 3, 5, 9, 0), lt(2026, 3, 12, 9, 0)):
        deadline = resolve_local(local, BERLIN)
        assert edges.bucket_of(deadline) is bucket_of(deadline, NOW, BERLIN)
    assert edges.bounds(Bucket.LATER) == (edges.week_after, None)
