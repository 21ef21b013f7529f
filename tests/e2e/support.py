"""Helpers for the browser tests: console watching, the API as a demo user, screenshots."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from playwright.sync_api import APIRequestContext, ConsoleMessage, Locator, Page

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
SESSION_META = re.compile(r'<meta name="tp-session" content="([^"]+)">')
COLUMNS = ("overdue", "today", "tomorrow", "this_week", "next_week", "later")


@attrs.define(slots=False)  # Playwright tags the instance of a bound-method listener
class ConsoleWatch:
    """Console errors and uncaught exceptions of a page; ``allow`` names expected ones."""

    errors: list[str] = attrs.field(factory=list)
    allowed: list[re.Pattern[str]] = attrs.field(factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@attrs.frozen
class DemoApi:
    """The JSON API as one demo user, with the session their demo page would get."""

    http: APIRequestContext
    user_id: int
    session: str

    @classmethod
    def as_user(cls, http: APIRequestContext, user_id: int) -> DemoApi:
        page = http.get(f"/demo?user={user_id}")
        assert page.ok, page.status
        match = SESSION_META.search(page.text())
        assert match, "the demo page carries no session"
        return cls(http, user_id, match.group(1))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session}"}

    def get(self, path: str) -> Any:
        response = self.http.get(f"/api/v1{path}", headers=self._headers())
        assert response.ok, f"GET {path}: {response.status} {response.text()}"
        return response.json()

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.http.put(f"/api/v1{path}", headers=self._headers(), data=body)


ApiAs = Callable[[int], DemoApi]


@attrs.frozen
class DemoPeople:
    admin: int
    manager: int
    regular: int


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot under artifacts/screenshots/ (gitignored) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def open_board(page: Page, url: str) -> None:
    """Open the board and wait until every card is built (the first frame shows the cards
    above each column's fold, the rest follow in the next frames)."""
    page.goto(url)
    page.wait_for_selector("[data-testid=board]:not([data-filling]) [data-testid=card]")


def card(page: Page, touch_point_id: int) -> Locator:
    return page.locator(f"[data-testid=card][data-id='{touch_point_id}']")


def column_ids(page: Page, key: str) -> list[int]:
    """The ids of the cards the page shows in column ``key``, top to bottom."""
    ids: list[str] = page.locator(f"[data-testid=column-{key}] [data-testid=card]").evaluate_all(
        "cards => cards.map(card => card.dataset.id)"
    )
    return [int(i) for i in ids]


def board_columns(api: DemoApi, query: str = "") -> dict[str, list[int]]:
    """The server's board: column key -> touch-point ids."""
    board = api.get(f"/board{query}")
    return {column["key"]: [item["id"] for item in column["items"]] for column in board["columns"]}


def first_working_day(day: date, settings: dict[str, Any]) -> date:
    """``day`` or the next day that is a working day and no holiday under ``settings``."""
    holidays = {date.fromisoformat(h) for h in settings["holidays"]}
    while day.isoweekday() not in settings["working_days"] or day in holidays:
        day += timedelta(days=1)
    return day


def local(deadline: str, zone: str) -> datetime:
    """A deadline from the API as wall time in the portal's zone."""
    return datetime.fromisoformat(deadline).astimezone(ZoneInfo(zone))


def column_of(page: Page, touch_point_id: int) -> str | None:
    """The column the page shows a card in, or None when it is not on the board."""
    for key in COLUMNS:
        if touch_point_id in column_ids(page, key):
            return key
    return None


def wait_until_settled(page: Page) -> None:
    """Wait until the board has every answer it asked the server for."""
    page.wait_for_selector(
        "[data-testid=board-view]:not([data-busy]) [data-testid=board]:not([data-filling])"
    )


def demo_page(demo_url: str, user_id: int, extra: str = "") -> str:
    return f"{demo_url}?user={user_id}{extra}"


# ------------------------------------------------------------------ the Reports page

UTF8_BOM = b"\xef\xbb\xbf"


def wait_until_reports_settled(page: Page) -> None:
    """Wait until the Reports page has the figures and coverage it asked the server for."""
    page.wait_for_selector(
        "[data-testid=reports-view]:not([data-busy]) [data-testid=report-summary]"
    )


def open_reports(page: Page, url: str) -> None:
    """Open the Reports page (``url`` without the ``#reports`` fragment) and wait for it."""
    page.goto(f"{url}#reports")
    wait_until_reports_settled(page)


def cancel_touch_point(api: DemoApi, touch_point_id: int) -> None:
    """Cancel a touch-point through the API, as its responsible user or a team viewer."""
    response = api.http.delete(
        f"/api/v1/touchpoints/{touch_point_id}",
        headers={"Authorization": f"Bearer {api.session}"},
    )
    assert response.ok, f"DELETE {touch_point_id}: {response.status} {response.text()}"


def last_week(today: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week before ``today``'s."""
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)
