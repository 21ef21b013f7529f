"""The board: columns, drag and drop, keyboard moves, rollback, hand-over, filters, layout."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.support import (
    COLUMNS,
    ApiAs,
    ConsoleWatch,
    DemoApi,
    DemoPeople,
    board_columns,
    card,
    column_ids,
    column_of,
    demo_page,
    first_working_day,
    local,
    open_board,
    screenshot,
    wait_until_settled,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_board_shows_every_touch_point_in_the_column_the_server_puts_it_in(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)

    expected = board_columns(api)
    shown = {key: column_ids(page, key) for key in COLUMNS}
    assert shown == expected
    for key in COLUMNS:
        count = page.locator(f"[data-testid=column-{key}] [data-testid=count]")
        expect(count).to_have_text(str(len(expected[key])))
    assert sum(len(ids) for ids in expected.values()) > 0
    # Every card's type icon is drawn inline from the sprite (shapes, not an empty <svg>).
    badges = page.locator("[data-testid=card] .type-badge svg.icon")
    expect(badges).to_have_count(sum(len(ids) for ids in expected.values()))
    expect(
        page.locator("[data-testid=card] .type-badge svg.icon:not(:has(path, circle, rect))")
    ).to_have_count(0)
    screenshot(page, "board")


def test_dragging_a_card_to_tomorrow_keeps_its_time_and_persists_after_reload(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    board = api.get("/board")
    settings = api.get("/settings")
    zone = board["time_zone"]
    moved = column_ids(page, "overdue")[0]
    before = local(api.get(f"/touchpoints/{moved}")["deadline"], zone)

    card(page, moved).drag_to(page.locator("[data-testid=column-tomorrow]"))
    wait_until_settled(page)
    page.reload()
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)

    after = local(api.get(f"/touchpoints/{moved}")["deadline"], zone)
    tomorrow = date.fromisoformat(board["today"]) + timedelta(days=1)
    assert after.date() == first_working_day(tomorrow, settings)
    assert (after.hour, after.minute) == (before.hour, before.minute)
    server_column = next(key for key, ids in board_columns(api).items() if moved in ids)
    assert column_of(page, moved) == server_column != "overdue"


def test_shift_arrow_moves_the_focused_card_one_column_and_keeps_focus_on_it(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    board = api.get("/board")
    settings = api.get("/settings")
    zone = board["time_zone"]
    moved = column_ids(page, "next_week")[0]
    before = local(api.get(f"/touchpoints/{moved}")["deadline"], zone)

    card(page, moved).focus()
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator(f"[data-testid=column-later] [data-id='{moved}']")).to_be_visible()
    expect(card(page, moved)).to_be_focused()
    wait_until_settled(page)

    after = local(api.get(f"/touchpoints/{moved}")["deadline"], zone)
    today = date.fromisoformat(board["today"])
    monday_after_next = today - timedelta(days=today.weekday()) + timedelta(days=14)
    assert after.date() == first_working_day(monday_after_next, settings)
    assert (after.hour, after.minute) == (before.hour, before.minute)
    assert moved in board_columns(api)["later"]
    expect(card(page, moved)).to_be_focused()


def test_the_card_menu_offers_every_move_without_dragging(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    moved = column_ids(page, "later")[-1]

    card(page, moved).focus()
    page.keyboard.press("m")
    menu = page.get_by_role("menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem")).to_contain_text(["Open", "Complete…"])
    menu.locator("[data-key=move-next_week]").click()
    wait_until_settled(page)

    assert moved in board_columns(api)["next_week"]
    assert column_of(page, moved) == "next_week"


def test_a_move_sends_the_first_day_of_the_servers_column_range_and_lands_there(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    # The board takes its column ranges from the server: shift "later" a week on, and the
    # column's hint and the day a move asks for follow the reply, not the browser's calendar.
    later = next(c for c in api.get("/board")["columns"] if c["key"] == "later")
    shifted = date.fromisoformat(later["from"]) + timedelta(days=7)
    settings = api.get("/settings")

    def shift_later(route: Route) -> None:
        reply = route.fetch()
        board = reply.json()
        for column in board["columns"]:
            if column["key"] == "later":
                column["from"] = shifted.isoformat()
        route.fulfill(response=reply, json=board)

    page.route("**/api/v1/board*", shift_later)
    open_board(page, demo_page(demo_url, people.admin))
    hint = page.locator("[data-testid=column-later] .column__hint")
    expect(hint).to_contain_text(str(shifted.day))
    moved = (
        column_ids(page, "today")[0]
        if column_ids(page, "today")
        else column_ids(page, "overdue")[0]
    )

    card(page, moved).focus()
    page.keyboard.press("m")
    with page.expect_request(
        lambda request: request.method == "PATCH" and request.url.endswith(f"/touchpoints/{moved}")
    ) as sent:
        page.get_by_role("menu").locator("[data-key=move-later]").click()
    expect(page.locator(f"[data-testid=column-later] [data-id='{moved}']")).to_be_visible()
    wait_until_settled(page)

    assert sent.value.post_data_json == {"day": shifted.isoformat()}
    deadline = local(api.get(f"/touchpoints/{moved}")["deadline"], api.get("/board")["time_zone"])
    assert deadline.date() == first_working_day(shifted, settings)
    assert moved in board_columns(api)["later"]
    assert column_of(page, moved) == "later"


def test_a_move_the_server_refuses_is_rolled_back_with_a_clear_message(
    page: Page, demo_url: str, people: DemoPeople, console: ConsoleWatch
) -> None:
    console.allow(r"status of 403")

    def refuse(route: Route) -> None:
        if route.request.method == "PATCH":
            route.fulfill(
                status=403,
                content_type="application/json",
                body=json.dumps(
                    {"code": "CRM_ACCESS_DENIED", "message": "Bitrix24 refused the change"}
                ),
            )
        else:
            route.fallback()

    page.route("**/api/v1/touchpoints/*", refuse)
    open_board(page, demo_page(demo_url, people.admin))
    overdue_before = column_ids(page, "overdue")
    moved = overdue_before[0]

    card(page, moved).drag_to(page.locator("[data-testid=column-later]"))

    alert = page.get_by_role("alert").filter(has_text="Could not move")
    expect(alert).to_contain_text("Bitrix24 refused the change")
    expect(alert).to_contain_text("The card is back where it was.")
    wait_until_settled(page)
    assert column_ids(page, "overdue") == overdue_before


def test_a_team_viewer_hands_a_card_over_by_dropping_it_on_a_colleague(
    page: Page, demo_url: str, people: DemoPeople, api_as: ApiAs
) -> None:
    manager = api_as(people.manager)
    open_board(page, demo_page(demo_url, people.manager))
    moved = next(
        i
        for i in column_ids(page, "later")
        if manager.get(f"/touchpoints/{i}")["responsible_id"] != people.regular
    )

    card(page, moved).drag_to(
        page.locator(f"[data-testid=person][data-user-id='{people.regular}']")
    )
    expect(page.locator(".toast").filter(has_text="handed over to")).to_be_visible()
    wait_until_settled(page)

    assert manager.get(f"/touchpoints/{moved}")["responsible_id"] == people.regular


def test_filters_apply_and_are_remembered_for_the_next_visit(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))

    page.locator("[data-testid=filter-type]").select_option("call")
    wait_until_settled(page)
    expected = board_columns(api, "?type=call")
    assert {key: column_ids(page, key) for key in COLUMNS} == expected

    page.reload()
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    expect(page.locator("[data-testid=filter-type]")).to_have_value("call")
    assert {key: column_ids(page, key) for key in COLUMNS} == board_columns(api, "?type=call")


def test_the_board_fits_1280_pixels(page: Page, demo_url: str, people: DemoPeople) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] == 1280
    lefts = [page.locator(f"[data-testid=column-{key}]").bounding_box() for key in COLUMNS]
    assert len({round(box["x"]) for box in lefts if box}) == len(COLUMNS)  # side by side


def test_anyone_hands_their_own_card_over_from_the_keyboard_menu(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.regular))
    expect(page.get_by_test_id("person")).to_have_count(0)  # no people bar without team view
    moved = next(i for key in COLUMNS for i in column_ids(page, key))

    card(page, moved).focus()
    page.keyboard.press("m")
    page.get_by_role("menuitem", name="Hand over to…").click()
    dialog = page.get_by_role("dialog", name="Hand over")
    dialog.get_by_role("combobox", name="Responsible").select_option(str(people.manager))
    dialog.get_by_role("button", name="Hand over").click()
    wait_until_settled(page)

    assert api.get(f"/touchpoints/{moved}")["responsible_id"] == people.manager
    expect(card(page, moved)).to_have_count(0)  # no longer theirs, so no longer on their board
