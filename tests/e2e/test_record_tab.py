"""The CRM card tab (CRM_DEAL_DETAIL_TAB): one record's touch-points, created and completed in place."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import DemoApi, DemoPeople, demo_page, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def a_deal_with_open_touch_points(api: DemoApi) -> int:
    board = api.get("/board")
    for column in board["columns"]:
        for item in column["items"]:
            if item["owner"]["type"] == "deal" and item["owner"]["title"]:
                deal_id: int = item["owner"]["id"]
                return deal_id
    raise AssertionError("the demo has no deal with an open touch-point")


def test_the_deal_tab_lists_its_touch_points_and_creates_and_completes_in_place(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    deal = a_deal_with_open_touch_points(api)
    record = api.get(f"/records/deal/{deal}/touchpoints")
    open_before = [item["id"] for item in record["items"] if item["status"] == "open"]

    page.goto(demo_page(demo_url, people.admin, f"&placement=CRM_DEAL_DETAIL_TAB&id={deal}"))
    view = page.get_by_test_id("record-view")
    expect(view.get_by_role("heading", level=1)).to_have_text(record["owner"]["title"])
    open_list = view.get_by_role("region", name="Open touch-points")
    expect(open_list.get_by_test_id("card")).to_have_count(len(open_before))
    expect(page.get_by_test_id("nav-board")).to_have_count(0)
    screenshot(page, "crm-tab")

    view.get_by_test_id("new-tp").click()
    create = page.get_by_role("dialog", name="New touch-point")
    expect(create.get_by_test_id("record-search")).to_have_count(0)
    expect(create).to_contain_text(record["owner"]["title"])
    create.get_by_text("Call", exact=True).click()
    create.get_by_test_id("create-submit").click()
    expect(create).to_be_hidden()
    expect(open_list.get_by_test_id("card")).to_have_count(len(open_before) + 1)

    after_create = api.get(f"/records/deal/{deal}/touchpoints")
    new_id = next(
        item["id"]
        for item in after_create["items"]
        if item["status"] == "open" and item["id"] not in open_before
    )
    open_list.locator(f"[data-id='{new_id}']").get_by_role("button", name="Complete").click()
    complete = page.get_by_role("dialog", name="Complete touch-point")
    complete.get_by_test_id("result-note").fill("Agreed on the pilot scope")
    complete.get_by_test_id("schedule-follow-up").uncheck()
    complete.get_by_role("button", name="Complete", exact=True).click()
    expect(complete).to_be_hidden()

    history = view.get_by_role("region", name="History")
    expect(history).to_contain_text("Agreed on the pilot scope")
    expect(open_list.get_by_test_id("card")).to_have_count(len(open_before))
    assert api.get(f"/touchpoints/{new_id}")["status"] == "done"
