"""The CRM menus (DESIGN.md §3.7) in a real browser: the timeline menu's dialogs on one of our
to-dos, tracking a to-do made in Bitrix24, the list menu's create dialog, the analytics menu's
reports; and, inside a frame, asking the CRM card to reload after a change."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Page, expect

from tests.e2e.support import DemoApi, DemoPeople, demo_page, local, screenshot
from tests.e2e.test_frame import FAKE_BX24, bx24_calls, serve_frame

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# BX24.placement as Bitrix24 offers it; ``__commands`` is what getInterface lists.
FAKE_PLACEMENT = """
window.BX24.placement = {
  getInterface(callback) { __bx24.push(["getInterface"]); callback({ command: window.__commands || [], event: [] }); },
  call(command, params, callback) { __bx24.push(["placement.call", command]); if (callback) callback(); },
};
window.BX24.closeApplication = function () { __bx24.push(["closeApplication"]); };
"""


def open_deal_touch_point(api: DemoApi) -> dict[str, Any]:
    """An open touch-point on a deal the admin sees."""
    for column in api.get("/board")["columns"]:
        for item in column["items"]:
            if item["owner"]["type"] == "deal":
                found: dict[str, Any] = item
                return found
    raise AssertionError("the demo has no open touch-point on a deal")


def timeline_page(demo_url: str, user_id: int, touch_point: dict[str, Any]) -> str:
    owner, activity = touch_point["owner"]["id"], touch_point["activity_id"]
    extra = f"&placement=CRM_DEAL_ACTIVITY_TIMELINE_MENU&id={owner}&activity={activity}"
    return demo_page(demo_url, user_id, extra)


def bitrix_todo(api: DemoApi) -> int:
    """A to-do the demo's Bitrix24 has that the app does not track yet."""
    tracked = {item["activity_id"] for item in api.get("/portal/export")["touchpoints"]}
    for candidate in sorted(set(range(1, max(tracked) + 50)) - tracked):
        response = api.http.get(
            f"/api/v1/activities/{candidate}",
            headers={"Authorization": f"Bearer {api.session}"},
        )
        if response.ok and response.json()["trackable"]:
            return candidate
    raise AssertionError("the demo has no untracked Bitrix24 to-do")


def test_the_timeline_menu_reschedules_and_completes_one_of_our_todos(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    target = open_deal_touch_point(api)
    zone = api.get("/me")["portal"]["time_zone"]

    page.goto(timeline_page(demo_url, people.admin, target))
    view = page.get_by_test_id("timeline-menu")
    expect(view.locator(f"[data-testid=card][data-id='{target['id']}']")).to_be_visible()
    expect(page.get_by_test_id("nav-board")).to_have_count(0)
    screenshot(page, "timeline-menu")

    view.get_by_test_id("timeline-reschedule").click()
    reschedule = page.get_by_role("dialog", name="Reschedule touch-point")
    reschedule.get_by_test_id("deadline-time").fill("16:45")
    screenshot(page, "timeline-menu-reschedule")
    reschedule.get_by_test_id("reschedule-submit").click()
    expect(reschedule).to_be_hidden()
    moved = local(api.get(f"/touchpoints/{target['id']}")["deadline"], zone)
    assert (moved.hour, moved.minute) == (16, 45)

    view.get_by_test_id("timeline-complete").click()
    complete = page.get_by_role("dialog", name="Complete touch-point")
    complete.get_by_test_id("result-note").fill("Agreed on the renewal")
    complete.get_by_test_id("schedule-follow-up").uncheck()
    screenshot(page, "timeline-menu-complete")
    complete.get_by_role("button", name="Complete", exact=True).click()
    expect(complete).to_be_hidden()

    expect(view.get_by_test_id("timeline-finished")).to_be_visible()
    done = api.get(f"/touchpoints/{target['id']}")
    assert (done["status"], done["result_note"]) == ("done", "Agreed on the renewal")


def test_a_todo_made_in_bitrix24_is_tracked_from_its_timeline_menu(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    activity = bitrix_todo(api)
    deal = open_deal_touch_point(api)["owner"]["id"]

    page.goto(
        demo_page(
            demo_url,
            people.admin,
            f"&placement=CRM_DEAL_ACTIVITY_TIMELINE_MENU&id={deal}&activity={activity}",
        )
    )
    view = page.get_by_test_id("timeline-menu")
    expect(view.get_by_role("heading", name="Track as touch-point")).to_be_visible()
    subject = api.get(f"/activities/{activity}")["subject"]
    expect(view.get_by_test_id("timeline-subject")).to_have_text(subject)
    view.locator("select[name=type]").select_option("email")
    screenshot(page, "timeline-menu-track")
    view.get_by_test_id("timeline-track").click()

    expect(view.get_by_test_id("timeline-complete")).to_be_visible()
    tracked = api.get(f"/activities/{activity}")["touch_point"]
    assert (tracked["type"], tracked["status"]) == ("email", "open")
    board = {item["id"] for column in api.get("/board")["columns"] for item in column["items"]}
    assert tracked["id"] in board


def test_the_list_menu_schedules_a_touch_point_for_its_record(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    record = open_deal_touch_point(api)["owner"]
    before = api.get(f"/records/deal/{record['id']}/touchpoints")["items"]

    page.goto(demo_page(demo_url, people.admin, f"&placement=CRM_DEAL_LIST_MENU&id={record['id']}"))
    create = page.get_by_role("dialog", name="New touch-point")
    expect(create).to_contain_text(record["title"])
    expect(create.get_by_test_id("record-search")).to_have_count(0)
    screenshot(page, "list-menu")
    create.get_by_text("Meeting", exact=True).click()
    create.get_by_test_id("create-submit").click()

    expect(page.get_by_test_id("list-menu-done")).to_be_visible()
    after = api.get(f"/records/deal/{record['id']}/touchpoints")["items"]
    assert len(after) == len(before) + 1


def test_the_analytics_menu_opens_the_reports(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    page.goto(demo_page(demo_url, people.manager, "&placement=CRM_ANALYTICS_MENU"))

    expect(page.get_by_test_id("reports-view")).to_be_visible()
    expect(page.get_by_test_id("nav-reports")).to_have_attribute("aria-current", "page")
    screenshot(page, "analytics-menu")
    page.get_by_test_id("nav-board").click()
    expect(page.get_by_test_id("board-view")).to_be_visible()


def frame_placement(
    page: Page, http: APIRequestContext, base_url: str, user_id: int, *, extra: str, commands: str
) -> None:
    """Frame the app as Bitrix24 would for a placement, with BX24.placement stood in for."""
    script = f"{FAKE_BX24}\nwindow.__commands = {commands};\n{FAKE_PLACEMENT}"
    serve_frame(page, http, base_url, user_id, script=script, extra=extra)
    page.goto(f"{base_url}/__frame_host")


def test_a_change_in_a_card_tab_asks_the_card_to_reload(
    page: Page, http: APIRequestContext, base_url: str, api: DemoApi
) -> None:
    target = open_deal_touch_point(api)
    deal = target["owner"]["id"]
    frame_placement(
        page,
        http,
        base_url,
        api.user_id,
        extra=f"&placement=CRM_DEAL_DETAIL_TAB&id={deal}",
        commands="[]",
    )
    app = page.frame_locator("#app")

    app.locator(f"[data-id='{target['id']}']").get_by_role("button", name="Complete").click()
    complete = app.get_by_role("dialog", name="Complete touch-point")
    complete.get_by_test_id("result-note").fill("Signed")
    complete.get_by_test_id("schedule-follow-up").uncheck()
    complete.get_by_role("button", name="Complete", exact=True).click()
    expect(complete).to_be_hidden()

    page.wait_for_function(
        "() => document.querySelector('#app').contentWindow.__bx24"
        ".some(call => call[1] === 'reloadData')"
    )
    assert ["placement.call", "reloadData"] in bx24_calls(page)


@pytest.mark.parametrize("offer", [("['reloadData']", True), ("[]", False)])
def test_the_timeline_menu_reloads_the_card_only_where_the_placement_offers_it(
    page: Page, http: APIRequestContext, base_url: str, api: DemoApi, offer: tuple[str, bool]
) -> None:
    commands, reloads = offer
    target = open_deal_touch_point(api)
    owner, activity = target["owner"]["id"], target["activity_id"]
    extra = f"&placement=CRM_DEAL_ACTIVITY_TIMELINE_MENU&id={owner}&activity={activity}"
    frame_placement(page, http, base_url, api.user_id, extra=extra, commands=commands)
    app = page.frame_locator("#app")

    app.get_by_test_id("timeline-reschedule").click()
    reschedule = app.get_by_role("dialog", name="Reschedule touch-point")
    reschedule.get_by_test_id("deadline-time").fill("15:15")
    reschedule.get_by_test_id("reschedule-submit").click()
    expect(reschedule).to_be_hidden()

    page.wait_for_function(
        "() => document.querySelector('#app').contentWindow.__bx24"
        ".some(call => call[0] === 'getInterface')"
    )
    expect(app.get_by_test_id("timeline-reschedule")).to_be_visible()
    assert (["placement.call", "reloadData"] in bx24_calls(page)) is reloads


def test_the_list_menu_in_a_frame_reloads_the_list_and_closes_its_slider(
    page: Page, http: APIRequestContext, base_url: str, api: DemoApi
) -> None:
    record = open_deal_touch_point(api)["owner"]["id"]
    frame_placement(
        page,
        http,
        base_url,
        api.user_id,
        extra=f"&placement=CRM_DEAL_LIST_MENU&id={record}",
        commands="[]",
    )
    app = page.frame_locator("#app")

    create = app.get_by_role("dialog", name="New touch-point")
    create.get_by_test_id("create-submit").click()
    expect(app.get_by_test_id("list-menu-done")).to_be_visible()
    app.get_by_test_id("list-menu").get_by_role("button", name="Close").click()

    calls = bx24_calls(page)
    assert ["placement.call", "reloadData"] in calls
    assert ["closeApplication"] in calls
