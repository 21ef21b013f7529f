"""Hand-over with return: the dialog starts and ends one, both people's boards show a banner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import (
    ApiAs,
    DemoApi,
    DemoPeople,
    card,
    demo_page,
    open_board,
    screenshot,
    wait_until_settled,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PERIOD_DAYS = 13


def open_handovers(api: DemoApi) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/handovers")["items"]
    return items


def end_all(api: DemoApi) -> None:
    """End what a failed test left open, so that the shared demo gets its owners back."""
    for item in open_handovers(api):
        response = api.http.delete(
            f"/api/v1/handovers/{item['id']}", headers={"Authorization": f"Bearer {api.session}"}
        )
        assert response.ok, response.text()


@pytest.fixture
def clean(api: DemoApi) -> Iterator[None]:
    end_all(api)
    yield
    end_all(api)


def user_name(api: DemoApi, user_id: int) -> str:
    name: str = next(u["name"] for u in api.get("/users")["users"] if u["id"] == user_id)
    return name


@pytest.mark.usefixtures("clean")
def test_handing_over_ones_own_touch_points_shows_a_banner_on_both_boards_until_ended(
    page: Page, demo_url: str, people: DemoPeople, api_as: ApiAs
) -> None:
    giver, taker = api_as(people.regular), api_as(people.manager)
    today = date.fromisoformat(giver.get("/board")["today"])
    last = today + timedelta(days=PERIOD_DAYS)
    giver_name, taker_name = user_name(giver, people.regular), user_name(giver, people.manager)
    open_board(page, demo_page(demo_url, people.regular))
    wait_until_settled(page)
    expect(page.get_by_test_id("handover-banner")).to_have_count(0)

    page.get_by_test_id("handovers").click()
    dialog = page.locator(".dialog--handovers")
    expect(dialog.get_by_test_id("handover-none")).to_be_visible()
    expect(dialog.get_by_test_id("handover-from")).to_have_count(0)  # one's own: "my"
    dialog.get_by_test_id("handover-last").fill(last.isoformat())
    dialog.get_by_test_id("handover-submit").click()  # nobody chosen yet
    expect(dialog.locator("[data-error-for=to_user_id]")).to_be_visible()
    assert open_handovers(giver) == []
    dialog.get_by_test_id("handover-to").select_option(str(people.manager))
    dialog.get_by_test_id("handover-submit").click()

    expect(dialog.get_by_test_id("handover-item")).to_have_count(1)
    [started] = open_handovers(giver)
    assert (started["from_user_id"], started["to_user_id"]) == (people.regular, people.manager)
    assert (started["first_day"], started["last_day"]) == (today.isoformat(), last.isoformat())
    assert started["created_by"] == people.regular
    moved = started["touch_point_ids"]
    assert moved, "the demo user has open touch-points due in the next two weeks"
    admin = api_as(people.admin)
    assert {admin.get(f"/touchpoints/{i}")["responsible_id"] for i in moved} == {people.manager}
    item = dialog.get_by_test_id("handover-item")
    expect(item).to_contain_text(f"{giver_name} → {taker_name}")
    expect(item).to_contain_text(f"{len(moved)} touch-point")
    expect(item).to_contain_text("Active")
    screenshot(page, "handover-dialog")
    page.keyboard.press("Escape")

    # The giver's board: the banner, and the handed-over cards are gone from it.
    wait_until_settled(page)
    banner = page.get_by_test_id("handover-banner")
    expect(banner).to_have_count(1)
    expect(banner).to_contain_text(f"{taker_name} covers {giver_name}'s follow-ups until")
    expect(card(page, moved[0])).to_have_count(0)
    screenshot(page, "handover-banner")

    # The taker's board says the same, and holds the cards.
    taker_page = page.context.new_page()
    open_board(taker_page, demo_page(demo_url, people.manager))
    wait_until_settled(taker_page)
    expect(taker_page.get_by_test_id("handover-banner")).to_contain_text(
        f"{taker_name} covers {giver_name}'s follow-ups until"
    )
    taker_moved = [i for i in moved if i in {tp["id"] for tp in board_items(taker)}]
    assert taker_moved == moved

    # Ending it gives back what is still open and takes the banner away.
    page.get_by_test_id("handovers").click()
    dialog = page.locator(".dialog--handovers")
    dialog.get_by_test_id("handover-end").click()
    expect(dialog.get_by_test_id("handover-none")).to_be_visible()
    assert open_handovers(giver) == []
    page.keyboard.press("Escape")
    wait_until_settled(page)
    expect(page.get_by_test_id("handover-banner")).to_have_count(0)
    expect(card(page, moved[0])).to_have_count(1)
    taker_page.reload()
    taker_page.wait_for_selector("[data-testid=board]")
    wait_until_settled(taker_page)
    expect(taker_page.get_by_test_id("handover-banner")).to_have_count(0)
    taker_page.close()


def board_items(api: DemoApi) -> list[dict[str, Any]]:
    board = api.get("/board")
    return [item for column in board["columns"] for item in column["items"]]


@pytest.mark.usefixtures("clean")
def test_a_team_viewer_hands_over_a_colleagues_touch_points_and_sees_the_banner_on_their_board(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi, api_as: ApiAs
) -> None:
    today = date.fromisoformat(api.get("/board")["today"])
    giver_name, taker_name = user_name(api, people.regular), user_name(api, people.admin)
    open_board(page, demo_page(demo_url, people.manager))
    page.get_by_test_id("handovers").click()
    dialog = page.locator(".dialog--handovers")
    dialog.get_by_test_id("handover-from").select_option(str(people.regular))
    dialog.get_by_test_id("handover-last").fill((today + timedelta(days=PERIOD_DAYS)).isoformat())
    dialog.get_by_test_id("handover-to").select_option(str(people.admin))
    dialog.get_by_test_id("handover-submit").click()
    expect(dialog.get_by_test_id("handover-item")).to_have_count(1)
    [started] = open_handovers(api_as(people.regular))
    assert (started["from_user_id"], started["to_user_id"], started["created_by"]) == (
        people.regular,
        people.admin,
        people.manager,
    )
    page.keyboard.press("Escape")

    # The admin, who takes them, sees the banner on their own board.
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    expect(page.get_by_test_id("handover-banner")).to_contain_text(
        f"{taker_name} covers {giver_name}'s follow-ups until"
    )
