"""Work on many cards: selection and the bulk bar, the overdue sweep, undo, drops onto a day."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import (
    ApiAs,
    DemoApi,
    DemoPeople,
    board_columns,
    card,
    column_ids,
    demo_page,
    local,
    open_board,
    screenshot,
    wait_until_settled,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def deadlines(api: DemoApi, ids: list[int]) -> dict[int, str]:
    return {i: api.get(f"/touchpoints/{i}")["deadline"] for i in ids}


def open_ids(api: DemoApi) -> list[int]:
    """Every card of the server's board, in the order the board shows them."""
    columns = board_columns(api)
    return [
        i
        for key in ("overdue", "today", "tomorrow", "this_week", "next_week", "later")
        for i in columns[key]
    ]


def test_shift_click_selects_a_range_and_a_bulk_reschedule_is_undone_from_its_toast(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    shown = open_ids(api)
    first, third = shown[0], shown[2]
    chosen = shown[:3]
    before = deadlines(api, chosen)
    zone = api.get("/board")["time_zone"]
    target = api.get("/presets")["next_working_day"]

    card(page, first).get_by_test_id("card-select").click()
    card(page, third).get_by_test_id("card-select").click(modifiers=["Shift"])
    bar = page.get_by_test_id("bulk-bar")
    expect(bar.get_by_test_id("bulk-count")).to_have_text("3 selected")
    bar.get_by_test_id("bulk-reschedule").click()
    page.get_by_role("menu").locator("[data-key=bulk-preset-next_working_day]").click()
    toast = page.get_by_test_id("undo-toast").last
    expect(toast).to_contain_text("3 touch-points rescheduled")
    wait_until_settled(page)

    moved = deadlines(api, chosen)
    for touch_point_id in chosen:
        was, now = local(before[touch_point_id], zone), local(moved[touch_point_id], zone)
        assert now.date() == date.fromisoformat(target)
        assert (now.hour, now.minute) == (was.hour, was.minute)
    expect(page.get_by_test_id("bulk-bar")).to_have_count(0)  # done cards leave the selection
    screenshot(page, "bulk-rescheduled")

    toast.get_by_test_id("undo").click()
    expect(toast).to_contain_text("Undone: 3 touch-points are back")
    wait_until_settled(page)
    assert deadlines(api, chosen) == before


def test_escape_clears_the_selection_and_space_selects_the_focused_card(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    chosen = open_ids(api)[1]

    card(page, chosen).focus()
    page.keyboard.press(" ")
    expect(page.get_by_test_id("bulk-count")).to_have_text("1 selected")
    expect(card(page, chosen).get_by_test_id("card-select")).to_be_checked()
    card(page, chosen).focus()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("bulk-bar")).to_have_count(0)
    expect(card(page, chosen).get_by_test_id("card-select")).not_to_be_checked()


def test_the_overdue_sweep_counts_first_moves_them_all_to_today_and_undo_brings_them_back(
    page: Page, demo_url: str, people: DemoPeople, api_as: ApiAs
) -> None:
    me = api_as(people.regular)
    overdue = board_columns(me)["overdue"]
    assert overdue, "the demo seeds overdue touch-points for the regular user"
    before = deadlines(me, overdue)
    open_board(page, demo_page(demo_url, people.regular))
    wait_until_settled(page)

    sweep = page.get_by_test_id("sweep")
    expect(sweep).to_contain_text(str(len(overdue)))
    sweep.click()
    page.get_by_role("menu").locator("[data-key=sweep-today]").click()
    confirm = page.get_by_role("dialog")
    expect(confirm).to_contain_text(f"Move {len(overdue)} overdue")
    confirm.get_by_role("button", name="Move them").click()
    toast = page.get_by_test_id("undo-toast").last
    expect(toast).to_contain_text("moved to Today")
    wait_until_settled(page)

    assert board_columns(me)["overdue"] == []
    assert column_ids(page, "overdue") == []
    today = me.get("/presets")["today"]
    zone = me.get("/board")["time_zone"]
    assert all(local(d, zone).date().isoformat() == today for d in deadlines(me, overdue).values())

    toast.get_by_test_id("undo").click()
    expect(toast).to_contain_text("Undone")
    wait_until_settled(page)
    assert deadlines(me, overdue) == before
    assert sorted(column_ids(page, "overdue")) == sorted(overdue)


def test_a_card_dropped_onto_a_day_of_next_week_lands_on_that_day_at_its_own_time(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    board = api.get("/board")
    zone = board["time_zone"]
    week = next(c for c in board["columns"] if c["key"] == "next_week")
    moved = (
        column_ids(page, "later")[0]
        if column_ids(page, "later")
        else column_ids(page, "overdue")[0]
    )
    was = local(api.get(f"/touchpoints/{moved}")["deadline"], zone)

    card(page, moved).scroll_into_view_if_needed()
    box = card(page, moved).bounding_box()
    assert box
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 20, y + 20, steps=5)
    zones = page.locator("[data-testid=column-next_week] [data-drop=day]")
    days = zones.evaluate_all("zones => zones.map(zone => zone.dataset.day)")
    assert days
    assert not set(days) & set(week["days_off"])  # days off are shown but take no drop
    day = days[-1]
    target = page.locator(f"[data-testid=column-next_week] [data-day='{day}']").bounding_box()
    assert target
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=8)
    page.mouse.up()
    expect(page.get_by_test_id("undo-toast").last).to_be_visible()
    wait_until_settled(page)

    now = local(api.get(f"/touchpoints/{moved}")["deadline"], zone)
    assert now.date().isoformat() == day
    assert (now.hour, now.minute) == (was.hour, was.minute)
    assert moved in board_columns(api)["next_week"]


def list_ids(api: DemoApi, query: str) -> list[int]:
    """Every id the list route answers for ``query``, following its cursors."""
    ids: list[int] = []
    cursor = ""
    while True:
        page = api.get(f"/touchpoints?{query}&limit=200&cursor={cursor}")
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def shown_rows(page: Page) -> list[int]:
    ids: list[str] = page.get_by_test_id("list-row").evaluate_all(
        "rows => rows.map(row => row.dataset.id)"
    )
    return [int(i) for i in ids]


def test_the_list_view_pages_with_load_more_and_slash_searches_titles_and_notes(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    every_open = list_ids(api, "status=open")
    assert len(every_open) > 50, "the demo seeds more open touch-points than one page"
    open_board(page, demo_page(demo_url, people.admin))
    page.get_by_test_id("view-list").click()
    expect(page.get_by_test_id("list-row")).to_have_count(50)
    page.get_by_test_id("list-more").click()
    expect(page.get_by_test_id("list-row")).to_have_count(len(every_open))
    assert shown_rows(page) == every_open
    expect(page.get_by_test_id("list-more")).to_have_count(0)

    word = "budget"
    page.get_by_test_id("view-list").focus()
    page.keyboard.press("/")
    expect(page.get_by_test_id("list-search")).to_be_focused()
    page.keyboard.type(word)
    found = list_ids(api, f"status=open&q={word}")
    assert 0 < len(found) < len(every_open)
    expect(page.get_by_test_id("list-row")).to_have_count(len(found))
    wait_until_settled(page)
    assert shown_rows(page) == found
    for text in page.get_by_test_id("list-row").locator(".list__subject").all_inner_texts():
        assert word in text.lower()
    screenshot(page, "list-search")

    rows = page.get_by_test_id("list-row")
    rows.nth(0).get_by_test_id("row-select").click()
    rows.nth(1).get_by_test_id("row-select").click()
    expect(page.get_by_test_id("bulk-count")).to_have_text("2 selected")
    page.reload()
    expect(page.get_by_test_id("list-search")).to_be_visible()  # the list view is remembered


def test_the_card_menu_and_the_complete_dialog_offer_the_servers_quick_dates(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    presets = api.get("/presets")
    zone = api.get("/board")["time_zone"]
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    moved = column_ids(page, "overdue")[0]
    was = local(api.get(f"/touchpoints/{moved}")["deadline"], zone)

    card(page, moved).focus()
    page.keyboard.press("m")
    page.get_by_role("menu").locator("[data-key=preset-next_working_day]").click()
    expect(page.get_by_test_id("undo-toast").last.get_by_test_id("undo")).to_be_visible()
    wait_until_settled(page)
    now = local(api.get(f"/touchpoints/{moved}")["deadline"], zone)
    assert now.date().isoformat() == presets["next_working_day"]
    assert (now.hour, now.minute) == (was.hour, was.minute)

    card(page, moved).focus()
    page.keyboard.press("c")
    dialog = page.get_by_role("dialog")
    dialog.get_by_test_id("quick-next_monday").click()
    monday = date.fromisoformat(presets["next_monday"])
    expect(dialog.get_by_test_id("follow_up.deadline-date")).to_have_value(
        f"{monday.month}/{monday.day}/{monday.year}"
    )
