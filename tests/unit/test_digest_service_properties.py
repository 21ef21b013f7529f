"""Properties of whole digest passes: exactly one digest per user and working local day."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import attrs
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.strategies import local_days, portal_settings
from tests.unit.test_digest_service import World
from touchpoints.domain.digest import digest_tag
from touchpoints.domain.scheduling import (
    current_local_day,
    digest_due_at,
    is_working_day,
    start_of_local_day,
)
from touchpoints.domain.settings import PortalSettings

_ONE_DAY = timedelta(days=1)
WINDOW_DAYS = 4
ON, OFF = 2, 3


@attrs.frozen(kw_only=True)
class Schedule:
    """A portal's settings and the instants at which digest passes happen to run."""

    settings: PortalSettings
    first_day: date
    passes: tuple[datetime, ...]


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    base = draw(portal_settings())
    first_day = draw(local_days(base.time_zone))
    days = [first_day + k * _ONE_DAY for k in range(WINDOW_DAYS)]
    holidays = draw(st.frozensets(st.sampled_from(days), max_size=2))
    settings_ = attrs.evolve(base, holidays=holidays)
    zone = settings_.zone
    start = start_of_local_day(first_day, zone)
    span = int((start_of_local_day(days[-1] + _ONE_DAY, zone) - start).total_seconds())
    passes = {
        start + timedelta(seconds=s)
        for s in draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=10))
    }
    for day in days:
        # Passes right at, and a moment before, the digest hour: the edges that matter.
        due = digest_due_at(day, settings_)
        if draw(st.booleans()):
            passes.add(due)
        if draw(st.booleans()):
            passes.add(due - timedelta(microseconds=1))
    return Schedule(settings=settings_, first_day=first_day, passes=tuple(sorted(passes)))


async def _run(schedule: Schedule) -> tuple[World, list[tuple[datetime, str]]]:
    world = World()
    portal = await world.portal(schedule.settings, users=(ON, OFF))
    overdue = start_of_local_day(schedule.first_day, schedule.settings.zone) - _ONE_DAY
    await world.due(portal, ON, overdue)
    await world.due(portal, OFF, overdue)
    await world.prefer(portal, OFF, False)
    sent: list[tuple[datetime, str]] = []
    for instant in schedule.passes:
        before = len(world.recorder.sent)
        await world.run(instant)
        sent.extend((instant, n.tag) for _m, n in world.recorder.sent[before:])
        assert all(n.user_id == ON for _m, n in world.recorder.sent[before:])
    return world, sent


@example(
    # Nuuk has no 23:00 on 2024-03-30: that day's 23:00 digest is due at the jump.
    Schedule(
        settings=PortalSettings(
            time_zone="America/Nuuk", digest_hour=23, working_days=frozenset(range(1, 8))
        ),
        first_day=date(2024, 3, 29),
        passes=(datetime.fromisoformat("2024-03-31T00:59:59+00:00"),),
    )
)
@example(
    # St. John's repeated 23:01-23:59 of 2005-10-29 belongs to the 30th: never a second
    # digest for the 29th, and the 30th's 23:00 digest is due only after the repetition.
    Schedule(
        settings=PortalSettings(
            time_zone="America/St_Johns", digest_hour=23, working_days=frozenset(range(1, 8))
        ),
        first_day=date(2005, 10, 29),
        passes=(
            datetime.fromisoformat("2005-10-30T01:40:00+00:00"),
            datetime.fromisoformat("2005-10-30T02:40:00+00:00"),
            datetime.fromisoformat("2005-10-31T02:40:00+00:00"),
        ),
    )
)
@settings(max_examples=60)
@given(schedules())
def test_each_user_is_sent_exactly_one_digest_per_working_local_day(schedule: Schedule) -> None:
    _world, sent = asyncio.run(_run(schedule))
    zone = schedule.settings.zone
    for instant, tag in sent:
        # A pass only ever sends the digest of its own local day, never yesterday's.
        assert tag == digest_tag(ON, current_local_day(instant, zone))
    for k in range(WINDOW_DAYS):
        day = schedule.first_day + k * _ONE_DAY
        due = digest_due_at(day, schedule.settings)
        end = start_of_local_day(day + _ONE_DAY, zone)
        ran_when_due = any(due <= instant < end for instant in schedule.passes)
        expected = 1 if is_working_day(day, schedule.settings) and ran_when_due else 0
        assert [tag for _i, tag in sent].count(digest_tag(ON, day)) == expected, day
