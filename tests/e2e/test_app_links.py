"""Links into the app from the digest (REST_APP_URI, DESIGN.md §3.7) in a real browser: a
"Done…" link opens the complete dialog of its touch-point over the board, a roll-up's rep link
opens the board filtered to that rep for those who see the team, and their own board for
everyone else."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import (
    ApiAs,
    ConsoleWatch,
    DemoApi,
    DemoPeople,
    demo_page,
    open_board,
    screenshot,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def board_ids(api: DemoApi, query: str = "") -> set[int]:
    return {
        item["id"] for column in api.get(f"/board{query}")["columns"] for item in column["items"]
    }


def shown_ids(page: Page) -> set[int]:
    cards = page.locator("[data-testid=board] [data-testid=card]")
    return {int(value) for value in cards.evaluate_all("els => els.map(e => e.dataset.id)")}


def someone_elses(api: DemoApi, user_id: int) -> dict[str, Any]:
    """An open touch-point of a colleague of ``user_id``."""
    for column in api.get("/board")["columns"]:
        for item in column["items"]:
            if item["responsible_id"] != user_id:
                found: dict[str, Any] = item
                return found
    raise AssertionError("the demo has no open touch-point of another user")


def test_a_done_link_opens_the_complete_dialog_of_its_touch_point(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    target = someone_elses(api, people.admin)

    page.goto(demo_page(demo_url, people.admin, f"&placement=REST_APP_URI&complete={target['id']}"))
    dialog = page.get_by_role("dialog", name="Complete touch-point")
    expect(dialog).to_be_visible()
    screenshot(page, "app-link-complete")
    dialog.get_by_test_id("result-note").fill("Done from the digest")
    dialog.get_by_test_id("schedule-follow-up").uncheck()
    dialog.get_by_test_id("complete-submit").click()

    expect(dialog).to_be_hidden()
    assert api.get(f"/touchpoints/{target['id']}")["status"] != "open"


def test_a_done_link_to_a_hidden_touch_point_says_so(
    page: Page,
    demo_url: str,
    people: DemoPeople,
    api_as: ApiAs,
    console: ConsoleWatch,
) -> None:
    console.allow(r"status of 40[34]")  # the app asks; the answer is that it may not see it
    api = api_as(people.admin)
    regular = api_as(people.regular)
    hidden = next(
        item["id"]
        for column in api.get("/board")["columns"]
        for item in column["items"]
        if item["id"] not in board_ids(regular)
    )

    page.goto(demo_page(demo_url, people.regular, f"&placement=REST_APP_URI&complete={hidden}"))

    expect(page.get_by_role("alert").filter(has_text="not one you can see")).to_be_visible()
    expect(page.get_by_role("dialog", name="Complete touch-point")).to_have_count(0)


def test_a_rep_link_opens_the_board_filtered_to_that_rep(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    rep = someone_elses(api, people.admin)["responsible_id"]
    expected = board_ids(api, f"?responsible_id={rep}")

    open_board(
        page, demo_page(demo_url, people.admin, f"&placement=REST_APP_URI&responsible_id={rep}")
    )

    expect(page.get_by_test_id("filters-on")).to_be_visible()
    assert shown_ids(page) == expected
    assert expected != board_ids(api)
    screenshot(page, "app-link-rep")


def test_a_rep_link_shows_someone_without_the_team_their_own_board(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi, api_as: ApiAs
) -> None:
    regular = api_as(people.regular)
    other = someone_elses(api, people.regular)["responsible_id"]

    link = f"&placement=REST_APP_URI&responsible_id={other}"
    open_board(page, demo_page(demo_url, people.regular, link))

    assert shown_ids(page) == board_ids(regular)
