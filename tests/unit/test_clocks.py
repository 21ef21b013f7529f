"""The settable clocks: the demo's and ``digest --now``'s starts at an instant and runs on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from touchpoints.adapters.clock import FixedClock, OffsetClock


def test_an_offset_clock_starts_at_its_instant_and_runs_on_in_real_time() -> None:
    start = datetime(2026, 9, 2, 8, 0, tzinfo=UTC)
    clock = OffsetClock(start)
    first = clock.now()
    time.sleep(0.02)
    second = clock.now()
    assert start <= first < start + timedelta(seconds=1)
    assert timedelta(seconds=0.02) <= second - first < timedelta(seconds=1)
    assert second.tzinfo is not None


def test_a_fixed_clock_moves_only_when_advanced() -> None:
    clock = FixedClock(datetime(2026, 9, 2, 8, 0, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(timedelta(minutes=5))
    assert clock.now() == datetime(2026, 9, 2, 8, 5, tzinfo=UTC)
