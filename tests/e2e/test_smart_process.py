"""A smart process's card tab (CRM_DYNAMIC_<entityTypeId>_DETAIL_TAB, DESIGN.md §3.7): its
item's touch-points listed and planned in place; the type named by the CRM on the board and in
the settings."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import DemoApi, DemoPeople, demo_page, open_board, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECTS = "dynamic_1038"


def test_the_smart_process_tab_lists_its_items_touch_points_and_plans_one_in_place(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    record = api.get(f"/records/{PROJECTS}/1/touchpoints")
    open_before = [item["id"] for item in record["items"] if item["status"] == "open"]
    assert record["owner"]["title"] == "Warehouse roll-out — Blue Harbor Foods"

    page.goto(demo_page(demo_url, people.admin, "&placement=CRM_DYNAMIC_1038_DETAIL_TAB&id=1"))
    view = page.get_by_test_id("record-view")
    expect(view.get_by_role("heading", level=1)).to_have_text(record["owner"]["title"])
    expect(view.locator(".toolbar__title .chip")).to_have_text("Projects")
    open_list = view.get_by_role("region", name="Open touch-points")
    expect(open_list.get_by_test_id("card")).to_have_count(len(open_before))
    screenshot(page, "smart-process-tab")

    view.get_by_test_id("new-tp").click()
    create = page.get_by_role("dialog", name="New touch-point")
    expect(create).to_contain_text(record["owner"]["title"])
    create.get_by_text("Meeting", exact=True).click()
    create.get_by_test_id("create-submit").click()
    expect(create).to_be_hidden()
    expect(open_list.get_by_test_id("card")).to_have_count(len(open_before) + 1)

    after = api.get(f"/records/{PROJECTS}/1/touchpoints")
    (created,) = [
        item
        for item in after["items"]
        if item["status"] == "open" and item["id"] not in open_before
    ]
    assert created["owner"]["type"] == PROJECTS
    assert created["type"] == "meeting"


def test_the_board_names_a_smart_process_card_by_its_type(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    board = api.get("/board")
    ours = [
        item
        for column in board["columns"]
        for item in column["items"]
        if item["owner"]["type"] == PROJECTS
    ]
    assert ours, "the demo plans touch-points on its projects"

    open_board(page, demo_page(demo_url, people.admin))

    card = page.locator(f"[data-testid='card'][data-id='{ours[0]['id']}']")
    expect(card).to_contain_text("Projects")
    expect(card).to_contain_text(ours[0]["owner"]["title"])


def test_the_settings_list_the_smart_process_next_to_the_four_entities(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    page.goto(demo_page(demo_url, people.admin, "#settings"))
    form = page.get_by_test_id("settings-form")

    projects = form.get_by_role("checkbox", name="Projects")
    expect(projects).to_be_checked()
    expect(form.get_by_role("checkbox", name="Deals")).to_be_checked()
