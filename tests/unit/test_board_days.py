"""The board's columns as local days, and moving a card to a local day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import instants, zone_names
from touchpoints.domain.scheduling import (
    BUCKET_ORDER,
    Bucket,
    bucket_days,
    bucket_of,
    current_local_day,
    move_to_local_day,
    start_of_local_day,
)
from touchpoints.domain.settings import PortalSettings

BERLIN = PortalSettings(time_zone="Europe/Berlin")
ONE_DAY = timedelta(days=1)


@given(zone_name=zone_names(), now=instants(), offset=st.integers(0, 30))
def test_every_future_day_lies_in_the_column_whose_days_include_it(
    zone_name: str, now: datetime, offset: int
) -> None:
    zone = ZoneInfo(zone_name)
    today = current_local_day(now, zone)
    day = today + offset * ONE_DAY
    instant = max(now, start_of_local_day(day, zone))
    column = bucket_of(instant, now, zone)
    first, last = bucket_days(column, today)
    assert first is not None
    assert first <= day
    assert last is None or day <= last


def test_columns_cover_the_days_ahead_in_order_without_gaps() -> None:
    today = date(2026, 9, 2)  # a Wednesday
    days = {bucket: bucket_days(bucket, today) for bucket in BUCKET_ORDER}
    assert days[Bucket.OVERDUE] == (None, today)
    assert days[Bucket.TODAY] == (today, today)
    assert days[Bucket.TOMORROW] == (date(2026, 9, 3), date(2026, 9, 3))
    assert days[Bucket.THIS_WEEK] == (date(2026, 9, 4), date(2026, 9, 6))
    assert days[Bucket.NEXT_WEEK] == (date(2026, 9, 7), date(2026, 9, 13))
    assert days[Bucket.LATER] == (date(2026, 9, 14), None)


def test_this_week_is_empty_at_the_weekend() -> None:
    saturday = date(2026, 9, 5)
    assert bucket_days(Bucket.THIS_WEEK, saturday) == (None, None)
    assert bucket_days(Bucket.NEXT_WEEK, saturday) == (date(2026, 9, 7), date(2026, 9, 13))


def test_moving_to_a_day_keeps_the_local_time_and_lands_on_a_working_day() -> None:
    zone = BERLIN.zone
    deadline = datetime.combine(date(2026, 9, 1), time(10, 30), tzinfo=zone)
    now = datetime(2026, 9, 1, 6, tzinfo=UTC)
    moved = move_to_local_day(deadline, date(2026, 9, 5), now, BERLIN)  # a Saturday
    assert moved.astimezone(zone) == datetime(2026, 9, 7, 10, 30, tzinfo=zone)


def test_a_time_already_past_today_moves_to_the_next_full_hour() -> None:
    zone = BERLIN.zone
    deadline = datetime.combine(date(2026, 8, 28), time(9), tzinfo=zone)
    now = datetime(2026, 9, 1, 12, 20, tzinfo=zone)
    moved = move_to_local_day(deadline, date(2026, 9, 1), now, BERLIN)
    assert moved.astimezone(zone) == datetime(2026, 9, 1, 13, tzinfo=zone)


def test_in_the_last_hour_of_the_day_a_past_time_moves_to_its_last_minute() -> None:
    zone = BERLIN.zone
    deadline = datetime.combine(date(2026, 8, 28), time(9), tzinfo=zone)
    now = datetime(2026, 9, 1, 23, 20, tzinfo=zone)
    moved = move_to_local_day(deadline, date(2026, 9, 1), now, BERLIN)
    assert moved.astimezone(zone) == datetime(2026, 9, 1, 23, 59, tzinfo=zone)


def test_in_the_last_minute_of_the_day_a_past_time_stays_on_its_day() -> None:
    zone = BERLIN.zone
    deadline = datetime.combine(date(2026, 8, 28), time(9), tzinfo=zone)
    now = datetime(2026, 9, 1, 23, 59, 30, tzinfo=zone)
    moved = move_to_local_day(deadline, date(2026, 9, 1), now, BERLIN)
    assert moved.astimezone(zone) == datetime(2026, 9, 1, 9, tzinfo=zone)
