"""Work in bulk's domain rules as properties: shifts by working days, local-day moves, sweep
targets, list cursors, text matching, undo items and hand-over periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.strategies import instants, plain_days, portal_settings, touch_points
from tests.unit.factories import touch_point
from touchpoints.domain.errors import InvalidTransition, InvalidValue
from touchpoints.domain.handover import Handover, check_period
from touchpoints.domain.listing import ListPosition, decode_cursor, encode_cursor, text_matches
from touchpoints.domain.model import Status, TouchPoint
from touchpoints.domain.scheduling import (
    Shift,
    SweepTarget,
    current_local_day,
    is_working_day,
    local_date,
    move_to_local_day,
    presets_at,
    shift_day,
    shift_deadline,
    sweep_day,
)
from touchpoints.domain.settings import IntervalUnit, PortalSettings
from touchpoints.domain.undo import UndoItem, hash_token

_COUNTS = st.integers(-40, 40)
_ONE_DAY = timedelta(days=1)


def _working_days_between(first: date, last: date, settings: PortalSettings) -> int:
    """Working days in (first, last] going forward, or [last, first) going back."""
    low, high = sorted((first, last))
    days = ((low + n * _ONE_DAY) for n in range(1, (high - low).days + 1))
    if last < first:
        days = ((low + n * _ONE_DAY) for n in range((high - low).days))
    return sum(1 for day in days if is_working_day(day, settings))


# ------------------------------------------------------------------ shifts


@given(day=plain_days(), count=_COUNTS, settings=portal_settings())
@example(day=date(2026, 3, 6), count=1, settings=PortalSettings.defaults())  # Friday → Monday
@example(day=date(2026, 3, 9), count=-1, settings=PortalSettings.defaults())  # Monday → Friday
def test_a_shift_by_working_days_lands_on_a_working_day_n_working_days_away(
    day: date, count: int, settings: PortalSettings
) -> None:
    shifted = shift_day(day, Shift(count, IntervalUnit.WORKING_DAYS), settings)
    if count == 0:
        assert shifted == day
        return
    assert is_working_day(shifted, settings)
    assert (shifted > day) == (count > 0)
    assert _working_days_between(day, shifted, settings) == abs(count)


@given(day=plain_days(), count=_COUNTS, settings=portal_settings())
def test_shifting_a_working_day_there_and_back_returns_to_it(
    day: date, count: int, settings: PortalSettings
) -> None:
    start = shift_day(day, Shift(1, IntervalUnit.WORKING_DAYS), settings)  # a working day
    there = shift_day(start, Shift(count, IntervalUnit.WORKING_DAYS), settings)
    back = shift_day(there, Shift(-count, IntervalUnit.WORKING_DAYS), settings)
    assert back == start


@given(day=plain_days(), count=_COUNTS, settings=portal_settings())
def test_a_shift_by_calendar_days_counts_every_day(
    day: date, count: int, settings: PortalSettings
) -> None:
    assert shift_day(day, Shift(count, IntervalUnit.DAYS), settings) == day + count * _ONE_DAY


@given(
    deadline=instants(),
    now=instants(),
    count=_COUNTS,
    unit=st.sampled_from(IntervalUnit),
    settings=portal_settings(),
)
def test_a_shifted_deadline_is_a_local_day_move_of_the_shifted_day(
    deadline: datetime, now: datetime, count: int, unit: IntervalUnit, settings: PortalSettings
) -> None:
    shift = Shift(count, unit)
    moved = shift_deadline(deadline, shift, now, settings)
    day = shift_day(local_date(deadline, settings.zone), shift, settings)
    assert moved == move_to_local_day(deadline, day, now, settings)
    assert is_working_day(local_date(moved, settings.zone), settings) or moved <= now


# ------------------------------------------------------------------ sweep targets


@given(now=instants(), settings=portal_settings())
def test_sweep_targets_are_the_presets_today_and_next_working_day(
    now: datetime, settings: PortalSettings
) -> None:
    presets = presets_at(now, settings)
    assert sweep_day(SweepTarget.TODAY, now, settings) == presets.today
    assert sweep_day(SweepTarget.NEXT_WORKING_DAY, now, settings) == presets.next_working_day
    assert sweep_day(presets.tomorrow, now, settings) == presets.tomorrow


@given(overdue=touch_points(status=Status.OPEN), now=instants(), settings=portal_settings())
def test_a_swept_deadline_keeps_its_time_unless_that_time_has_passed_today(
    overdue: TouchPoint, now: datetime, settings: PortalSettings
) -> None:
    deadline = overdue.deadline
    day = sweep_day(SweepTarget.TODAY, now, settings)
    moved = move_to_local_day(deadline, day, now, settings)
    zone = settings.zone
    local_now = now.astimezone(zone)
    if local_now.time() < time(23, 59):
        # Before the day's last minute a swept touch-point is never left overdue.
        assert moved > now
    if moved > now and moved.astimezone(zone).time() != deadline.astimezone(zone).time():
        # The next full hour after now on today's date, or in its last hour 23:59.
        local = moved.astimezone(zone)
        assert local.date() == local_now.date()
        if (local.hour, local.minute) != (23, 59):
            assert (local.minute, local.second, local.microsecond) == (0, 0, 0)
        assert moved - now <= timedelta(hours=1, minutes=1)


# ------------------------------------------------------------------ cursors


_POSITIONS = st.builds(
    ListPosition,
    deadline=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - bounds of aware values
        max_value=datetime(2200, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    id=st.integers(1, 10**18 - 1),
)
_SCOPES = st.text(max_size=40)


@given(position=_POSITIONS, scope=_SCOPES)
def test_a_cursor_reads_back_as_its_position_for_its_own_scope(
    position: ListPosition, scope: str
) -> None:
    cursor = encode_cursor(position, scope)
    assert cursor.isascii()
    assert len(cursor) <= 64
    assert decode_cursor(cursor, scope) == position


@given(position=_POSITIONS, scope=_SCOPES, other=_SCOPES)
def test_a_cursor_of_another_scope_is_refused(
    position: ListPosition, scope: str, other: str
) -> None:
    cursor = encode_cursor(position, scope)
    if other == scope:
        return
    with pytest.raises(InvalidValue):
        decode_cursor(cursor, other)


@given(position=_POSITIONS, index=st.integers(0, 200), char=st.sampled_from("AQgw_-9z"))
@example(position=ListPosition(deadline=datetime(2026, 3, 2, tzinfo=UTC), id=1), index=-1, char="B")
@example(position=ListPosition(deadline=datetime(2026, 3, 2, tzinfo=UTC), id=1), index=-1, char="P")
def test_a_mangled_cursor_is_refused(position: ListPosition, index: int, char: str) -> None:
    cursor = encode_cursor(position, "scope")
    at = index % len(cursor)
    mangled = cursor[:at] + char + cursor[at + 1 :]
    if mangled == cursor:
        return
    with pytest.raises(InvalidValue):
        decode_cursor(mangled, "scope")


@pytest.mark.parametrize("cursor", ["", "x", "€€€", "a" * 65, "====", "AAAA" * 8])
def test_junk_is_not_a_cursor(cursor: str) -> None:
    with pytest.raises(InvalidValue):
        decode_cursor(cursor, "scope")


@given(needle=st.text(max_size=5), hay=st.text(max_size=20))
def test_text_matching_is_a_case_blind_substring_test(needle: str, hay: str) -> None:
    found = text_matches(needle, None, hay)
    wanted = needle.strip().casefold()
    assert found == (not wanted or wanted in hay.casefold())
    assert text_matches(needle, None) == (not wanted)


# ------------------------------------------------------------------ undo items


def test_an_undo_item_restores_the_deadline_and_responsible_it_replaced() -> None:
    before = touch_point()
    now = before.updated_at + timedelta(minutes=1)
    after = before.reschedule(before.deadline + _ONE_DAY, now=now).reassign(9, now=now)
    item = UndoItem.of(before, after)
    assert not item.changed_since(after)
    restored = item.restore(after, now=now)
    assert (restored.deadline, restored.responsible_id) == (before.deadline, before.responsible_id)


def test_an_undo_item_sees_every_later_change() -> None:
    before = touch_point()
    now = before.updated_at
    after = before.reschedule(before.deadline + _ONE_DAY, now=now)
    item = UndoItem.of(before, after)
    assert item.changed_since(after.reschedule(after.deadline + _ONE_DAY, now=now))
    assert item.changed_since(after.reassign(11, now=now))
    assert item.changed_since(after.complete("talked", now=now))
    assert item.changed_since(after.cancel(now=now))
    with pytest.raises(InvalidTransition):
        item.restore(after.cancel(now=now), now=now)


def test_tokens_are_stored_as_their_sha256() -> None:
    assert len(hash_token("a")) == 32
    assert hash_token("a") != hash_token("b")


# ------------------------------------------------------------------ hand-overs


@given(
    first=plain_days(),
    length=st.integers(1, 30),
    now=instants(),
    settings=portal_settings(),
)
def test_a_hand_over_is_due_from_the_first_instant_after_its_last_local_day(
    first: date, length: int, now: datetime, settings: PortalSettings
) -> None:
    handover = Handover(
        portal_id=1,
        from_user_id=2,
        to_user_id=3,
        first_day=first,
        last_day=first + (length - 1) * _ONE_DAY,
        created_by=2,
        created_at=now,
    )
    start, end = handover.period(settings.zone)
    assert start < end
    assert current_local_day(end, settings.zone) > handover.last_day
    assert current_local_day(end - timedelta(microseconds=1), settings.zone) <= handover.last_day
    assert handover.is_due(now, settings.zone) == (now >= end)
    returned = attrs.evolve(handover, returned_at=now)
    assert not returned.is_due(now + timedelta(days=400), settings.zone)


def test_a_hand_over_is_never_to_oneself_nor_backwards_nor_endless() -> None:
    for from_user, to_user, first, last in (
        (2, 2, date(2026, 12, 14), date(2026, 12, 18)),
        (2, 3, date(2026, 12, 18), date(2026, 12, 14)),
        (2, 3, date(2026, 1, 1), date(2027, 1, 2)),
    ):
        with pytest.raises(InvalidValue):
            check_period(from_user, to_user, first, last)


def test_only_what_is_still_open_and_still_the_colleagues_goes_back() -> None:
    moved = touch_point(id=10, responsible_id=3)
    handover = Handover(
        portal_id=1,
        from_user_id=5,
        to_user_id=3,
        first_day=date(2026, 3, 2),
        last_day=date(2026, 3, 6),
        created_by=5,
        created_at=moved.created_at,
        touch_point_ids=(10,),
    )
    now = moved.updated_at
    assert handover.goes_back(moved)
    assert not handover.goes_back(moved.reassign(4, now=now))
    assert not handover.goes_back(moved.complete("done", now=now))
    assert not handover.goes_back(touch_point(id=11, responsible_id=3))


def test_a_hand_over_period_stays_within_the_years_we_accept() -> None:
    with pytest.raises(InvalidValue) as raised:
        check_period(2, 3, date(9999, 12, 30), date(9999, 12, 31))
    assert set(raised.value.errors) == {"first_day", "last_day"}
