"""The demo portal's seeded touch-points fill every board column whenever the demo starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from touchpoints.domain.scheduling import BUCKET_ORDER, bucket_of
from touchpoints.entrypoints.demo_data import DEMO_TIME_ZONE, plans

ZONE = ZoneInfo(DEMO_TIME_ZONE)
START = datetime(2026, 12, 2, tzinfo=UTC)


@given(minutes=st.integers(0, 24 * 60 - 16))
def test_every_column_has_cards_at_whatever_hour_the_demo_starts(minutes: int) -> None:
    # Until the day's last quarter hour: then "today" has no time left to plan for.
    local_midnight = datetime.combine(START.date(), datetime.min.time(), tzinfo=ZONE)
    now = (local_midnight + timedelta(minutes=minutes)).astimezone(UTC)
    columns = {bucket_of(plan.todo.deadline, now, ZONE) for plan in plans(now)}
    assert columns == set(BUCKET_ORDER)  # a Wednesday: this week still has days ahead
