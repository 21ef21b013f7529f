"""Quick dates and day-off hints come from the server, in the portal's zone (DESIGN §3.6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.fakes.b24_world import EmulatorClock
from tests.fakes.bitrix24 import Bitrix24Emulator
from tests.integration.conftest import Harness

pytestmark = pytest.mark.postgres

# Friday 4 December 2026, 16:00 in Berlin.
FRIDAY = datetime(2026, 12, 4, 15, tzinfo=UTC)


@pytest.fixture
async def b24() -> AsyncIterator[Bitrix24Emulator]:
    async with Bitrix24Emulator(clock=EmulatorClock(FRIDAY)) as emulator:
        yield emulator


async def berlin_with_a_holiday(harness: Harness) -> str:
    member_id = await harness.install()
    admin = await harness.session_for(member_id, 1)
    _, settings = await harness.api("GET", "/api/v1/settings", admin)
    settings.update(time_zone="Europe/Berlin", holidays=["2026-12-07"])
    status, saved = await harness.api("PUT", "/api/v1/settings", admin, json=settings)
    assert status == 200, saved
    return admin


async def test_presets_are_local_days_that_skip_weekends_and_holidays(harness: Harness) -> None:
    session = await berlin_with_a_holiday(harness)
    status, presets = await harness.api("GET", "/api/v1/presets", session)
    assert status == 200, presets
    assert presets == {
        "today": "2026-12-04",
        "tomorrow": "2026-12-05",
        "next_working_day": "2026-12-08",
        "in_default_interval": "2026-12-10",
        "next_monday": "2026-12-07",
    }


async def test_board_columns_name_their_days_off(harness: Harness) -> None:
    session = await berlin_with_a_holiday(harness)
    status, board = await harness.api("GET", "/api/v1/board", session)
    assert status == 200, board
    days_off = {column["key"]: column["days_off"] for column in board["columns"]}
    assert days_off == {
        "overdue": [],
        "today": [],
        "tomorrow": ["2026-12-05"],
        "this_week": ["2026-12-06"],
        "next_week": ["2026-12-07", "2026-12-12", "2026-12-13"],
        "later": [],
    }


async def test_presets_need_a_session(harness: Harness) -> None:
    response = await harness.client.get("/api/v1/presets")
    assert response.status == 401
