"""The quick dates the server computes for the UI (DESIGN §3.6)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import instants, portal_settings
from touchpoints.domain.scheduling import (
    current_local_day,
    days_off,
    follow_up_deadline,
    is_working_day,
    local_date,
    presets_at,
)
from touchpoints.domain.settings import IntervalUnit, PortalSettings

ONE_DAY = timedelta(days=1)


@given(data=st.data(), now=instants())
def test_presets_are_the_days_their_names_promise(data: st.DataObject, now: datetime) -> None:
    settings = data.draw(portal_settings(near=now.date()))
    today = current_local_day(now, settings.zone)
    presets = presets_at(now, settings)

    assert presets.today == today
    assert presets.tomorrow == today + ONE_DAY
    assert presets.next_monday.isoweekday() == 1
    assert today < presets.next_monday <= today + 7 * ONE_DAY
    assert is_working_day(presets.next_working_day, settings)
    assert presets.next_working_day > today
    skipped = presets.next_working_day - today
    between = (today + n * ONE_DAY for n in range(1, skipped.days))
    assert not any(is_working_day(day, settings) for day in between)


@given(data=st.data(), now=instants())
def test_the_default_interval_preset_is_the_day_a_follow_up_would_get(
    data: st.DataObject, now: datetime
) -> None:
    settings = data.draw(portal_settings(near=now.date()))
    follow_up = follow_up_deadline(now, now, settings)
    assert presets_at(now, settings).in_default_interval == local_date(follow_up, settings.zone)


def test_a_friday_in_berlin_offers_monday_and_skips_the_weekend() -> None:
    friday = datetime(2026, 12, 4, 15, tzinfo=UTC)  # 16:00 in Berlin
    settings = PortalSettings(time_zone="Europe/Berlin", holidays=frozenset({date(2026, 12, 7)}))
    presets = presets_at(friday, settings)
    assert presets.today == date(2026, 12, 4)
    assert presets.tomorrow == date(2026, 12, 5)
    assert presets.next_working_day == date(2026, 12, 8)  # Monday is a holiday
    assert presets.next_monday == date(2026, 12, 7)  # the calendar's Monday, as named
    assert presets.in_default_interval == date(2026, 12, 10)  # three working days


def test_calendar_day_intervals_land_on_a_working_day() -> None:
    thursday = datetime(2026, 12, 3, 9, tzinfo=UTC)
    settings = PortalSettings(
        time_zone="UTC", default_interval=2, default_interval_unit=IntervalUnit.DAYS
    )
    assert presets_at(thursday, settings).in_default_interval == date(2026, 12, 7)


def test_days_off_lists_weekends_and_holidays_in_the_range() -> None:
    settings = PortalSettings(time_zone="UTC", holidays=frozenset({date(2026, 12, 25)}))
    assert days_off(date(2026, 12, 24), date(2026, 12, 28), settings) == [
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2026, 12, 27),
    ]
    assert days_off(date(2026, 12, 28), date(2026, 12, 27), settings) == []
