"""The browser's wall-clock arithmetic in the portal's zone agrees with the server's rules.

The deadline fields of the dialogs turn a typed local day and time into an instant in the
browser, so ``static/js/zone.js`` must resolve gaps and overlaps the way domain/scheduling.py
does. (The board's column ranges and moves are the server's: see test_board.py.)
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from tests.e2e.support import DemoPeople, demo_page, open_board
from touchpoints.domain.scheduling import resolve_local

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CASES = [
    ("2026-03-29", "02:30", "Europe/Berlin"),  # spring-forward gap
    ("2026-10-25", "02:30", "Europe/Berlin"),  # fall-back overlap
    ("2026-06-01", "10:00", "Europe/Berlin"),
    ("2026-06-01", "10:00", "Asia/Kolkata"),  # half-hour offset
    ("2026-11-01", "01:30", "America/New_York"),  # overlap west of UTC
    ("2026-03-08", "02:15", "America/New_York"),  # gap west of UTC
    ("2026-12-31", "23:59", "Pacific/Kiritimati"),  # +14:00
]


def server_rule(day: str, wall: str, zone: str) -> str:
    local = datetime.combine(date.fromisoformat(day), time.fromisoformat(wall))
    return resolve_local(local, ZoneInfo(zone)).astimezone(ZoneInfo(zone)).isoformat()


def run_module(page: Page, module: str, script: str, args: Any) -> Any:
    return page.evaluate(
        f"async (args) => {{ const m = await import('/static/v1/js/{module}'); {script} }}", args
    )


def test_wall_times_resolve_like_the_server_in_gaps_overlaps_and_odd_offsets(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_board(page, demo_page(demo_url, people.admin))

    browser = run_module(
        page,
        "zone.js",
        "return args.map(([d, t, z]) => m.isoInZone(m.zonedInstant(d, t, z), z));",
        CASES,
    )

    assert browser == [server_rule(*case) for case in CASES]
