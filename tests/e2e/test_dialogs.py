"""Complete, create, details and cancel: the dialogs of the board."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import (
    COLUMNS,
    DemoApi,
    DemoPeople,
    card,
    column_ids,
    demo_page,
    local,
    open_board,
    screenshot,
    wait_until_settled,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def all_ids(page: Page) -> set[int]:
    return {i for key in COLUMNS for i in column_ids(page, key)}


def test_completing_with_a_follow_up_records_the_result_and_puts_the_next_card_on_the_board(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    done = column_ids(page, "overdue")[0]
    original = api.get(f"/touchpoints/{done}")
    before = all_ids(page)

    card(page, done).get_by_role("button", name="Complete").click()
    dialog = page.get_by_role("dialog", name="Complete touch-point")
    expect(dialog.get_by_test_id("follow_up.deadline-date")).not_to_have_value("")
    dialog.get_by_test_id("result-note").fill("Sent the quote; they decide on Friday")
    screenshot(page, "complete-dialog")
    dialog.get_by_role("button", name="Complete and schedule").click()
    expect(dialog).to_be_hidden()
    wait_until_settled(page)

    added = all_ids(page) - before
    assert len(added) == 1
    follow_up_id = added.pop()
    assert done not in all_ids(page)
    expect(card(page, follow_up_id).get_by_test_id("chain-mark")).to_be_visible()
    expect(card(page, follow_up_id)).to_be_focused()
    follow_up = api.get(f"/touchpoints/{follow_up_id}")
    assert follow_up["previous_id"] == done
    assert follow_up["type"] == original["type"]
    assert follow_up["responsible_id"] == original["responsible_id"]
    completed = api.get(f"/touchpoints/{done}")
    assert completed["status"] == "done"
    assert completed["result_note"] == "Sent the quote; they decide on Friday"


def test_completing_without_a_result_note_is_refused_in_the_dialog(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    target = column_ids(page, "overdue")[0]

    card(page, target).get_by_role("button", name="Complete").click()
    dialog = page.get_by_role("dialog", name="Complete touch-point")
    dialog.get_by_test_id("schedule-follow-up").uncheck()
    dialog.get_by_role("button", name="Complete", exact=True).click()

    expect(dialog.get_by_text("Write down the result first.")).to_be_visible()
    expect(dialog.get_by_test_id("result-note")).to_be_focused()
    assert api.get(f"/touchpoints/{target}")["status"] == "open"


def test_skipping_the_follow_up_completes_without_a_next_card(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    done = column_ids(page, "overdue")[0]
    before = all_ids(page)

    card(page, done).focus()
    page.keyboard.press("c")
    dialog = page.get_by_role("dialog", name="Complete touch-point")
    dialog.get_by_test_id("result-note").fill("No longer interested")
    dialog.get_by_test_id("schedule-follow-up").uncheck()
    dialog.get_by_role("button", name="Complete", exact=True).click()
    expect(dialog).to_be_hidden()
    wait_until_settled(page)

    assert all_ids(page) == before - {done}
    completed = api.get(f"/touchpoints/{done}")
    assert completed["status"] == "done"
    assert completed["next_id"] is None


def test_creating_a_touch_point_finds_the_record_by_title(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    before = all_ids(page)

    page.get_by_test_id("new-tp").click()
    dialog = page.get_by_role("dialog", name="New touch-point")
    dialog.get_by_role("combobox", name="Kind").select_option("company")
    search = dialog.get_by_test_id("record-search")
    search.fill("Nordwind")
    option = dialog.get_by_role("listbox").get_by_role("option").first
    expect(option).to_contain_text("Nordwind")
    search.press("Enter")
    dialog.get_by_text("Meeting", exact=True).click()
    dialog.get_by_test_id("create-title").fill("Plan the spring order")
    dialog.get_by_test_id("create-submit").click()
    expect(dialog).to_be_hidden()
    wait_until_settled(page)

    added = all_ids(page) - before
    assert len(added) == 1
    created = api.get(f"/touchpoints/{added.pop()}")
    assert created["owner"]["type"] == "company"
    assert "Nordwind" in created["owner"]["title"]
    assert created["type"] == "meeting"
    assert created["responsible_id"] == people.admin
    # The dialog's default deadline is the server's next working day at 10:00, portal time.
    presets, zone = api.get("/presets"), api.get("/settings")["time_zone"]
    wall = local(created["deadline"], zone)
    assert wall.date().isoformat() == presets["next_working_day"]
    assert (wall.hour, wall.minute) == (10, 0)


def test_details_show_the_chain_and_open_the_record_in_the_crm(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    chained = page.locator("[data-testid=card]:has([data-testid=chain-mark])").first

    chained.click()
    dialog = page.get_by_role("dialog", name="Touch-point")
    timeline = dialog.get_by_test_id("timeline")
    expect(timeline.locator("li")).not_to_have_count(0)
    assert timeline.locator("li").count() >= 2
    expect(timeline.locator("li[aria-current=step]")).to_have_count(1)
    expect(timeline.locator(".status--done").first).to_be_visible()
    link = dialog.get_by_test_id("open-in-crm")
    expect(link).to_have_attribute("href", "#")
    link.click()
    expect(page.locator(".toast").filter(has_text="CRM card")).to_be_visible()


def test_cancelling_a_touch_point_asks_first_and_takes_it_off_the_board(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    target = column_ids(page, "later")[0]

    card(page, target).click()
    details = page.get_by_role("dialog", name="Touch-point")
    details.get_by_test_id("cancel-tp").click()
    confirm = page.get_by_role("dialog", name="Cancel this touch-point?")
    confirm.get_by_role("button", name="Cancel touch-point").click()
    expect(details).to_be_hidden()
    wait_until_settled(page)

    assert target not in all_ids(page)
    assert api.get(f"/touchpoints/{target}")["status"] == "cancelled"


def test_details_reschedule_a_touch_point_to_another_time(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    target = column_ids(page, "later")[0]
    zone = api.get("/me")["portal"]["time_zone"]
    before = local(api.get(f"/touchpoints/{target}")["deadline"], zone)

    card(page, target).click()
    details = page.get_by_role("dialog", name="Touch-point")
    details.get_by_test_id("edit-tp").click()
    details.get_by_test_id("deadline-time").fill("16:45")
    details.get_by_role("button", name="Save").click()
    expect(details).to_be_hidden()
    wait_until_settled(page)

    after = local(api.get(f"/touchpoints/{target}")["deadline"], zone)
    assert after.date() == before.date()
    assert (after.hour, after.minute) == (16, 45)
