"""Inside the portal the app uses Bitrix24's own pickers and sliders (BITRIX24.md §22.4):
BX24.selectUser for responsible users, BX24.openApplication for a touch-point's details; in
the demo the app's list of users and a side panel. BX24 is stood in for as in test_frame."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Page, expect

from tests.e2e.support import DemoApi, DemoPeople, demo_page, open_board
from tests.e2e.test_frame import FAKE_BX24, bx24_calls, serve_frame
from tests.e2e.test_handovers import end_all, open_handovers

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# selectUser answers with ``window.__pick``; openApplication keeps its close callback so the
# test can close the slider; placement.info gives ``window.__options`` (what the opener passed).
FAKE_PORTAL = """
window.BX24.selectUser = function (callback) { __bx24.push(["selectUser"]); callback(window.__pick); };
window.BX24.openApplication = function (params, onClose, settings) {
  __bx24.push(["openApplication", params, settings]);
  window.__closeSlider = onClose;
};
window.BX24.closeApplication = function () { __bx24.push(["closeApplication"]); };
window.BX24.placement = { info() { return { placement: "DEFAULT", options: window.__options || {} }; } };
"""


def frame_app(
    page: Page, http: APIRequestContext, base_url: str, user_id: int, before: str
) -> None:
    """Frame the app as a Bitrix24 launch would; ``before`` runs ahead of the stand-in BX24."""
    serve_frame(page, http, base_url, user_id, script=f"{before}\n{FAKE_BX24}\n{FAKE_PORTAL}")
    page.goto(f"{base_url}/__frame_host")


def calls_named(page: Page, name: str) -> list[list[Any]]:
    return [call for call in bx24_calls(page) if call[0] == name]


@pytest.fixture
def clean(api: DemoApi) -> Iterator[None]:
    end_all(api)
    yield
    end_all(api)


@pytest.mark.usefixtures("clean")
def test_in_the_portal_the_colleague_is_picked_with_bitrix24s_own_user_picker(
    page: Page, http: APIRequestContext, base_url: str, people: DemoPeople, api: DemoApi
) -> None:
    users = {u["id"]: u["name"] for u in api.get("/users")["users"]}
    pick = {"id": str(people.manager), "name": users[people.manager]}  # Bitrix24 gives string ids
    frame_app(page, http, base_url, people.regular, f"window.__pick = {json.dumps(pick)};")
    app = page.frame_locator("#app")
    app.get_by_test_id("handovers").click()
    dialog = app.locator(".dialog--handovers")
    to = dialog.get_by_test_id("handover-to")
    expect(to).to_have_js_property("tagName", "BUTTON")  # no <select> of the app's own users
    expect(dialog.locator("select")).to_have_count(0)
    today = date.fromisoformat(api.get("/board")["today"])
    dialog.get_by_test_id("handover-last").fill((today + timedelta(days=6)).isoformat())

    to.click()
    expect(to).to_contain_text(users[people.manager])
    assert calls_named(page, "selectUser") == [["selectUser"]]
    dialog.get_by_test_id("handover-submit").click()
    expect(dialog.get_by_test_id("handover-item")).to_have_count(1)
    [started] = open_handovers(api)
    assert (started["from_user_id"], started["to_user_id"]) == (people.regular, people.manager)


def test_in_the_portal_a_cards_details_open_in_a_bitrix24_slider_and_the_board_reloads_after(
    page: Page, http: APIRequestContext, base_url: str, people: DemoPeople, api: DemoApi
) -> None:
    frame_app(page, http, base_url, people.admin, "")
    app = page.frame_locator("#app")
    first = app.locator("[data-testid=card]").first
    touch_point_id = first.get_attribute("data-id")
    assert touch_point_id
    item = api.get(f"/touchpoints/{touch_point_id}")
    first.click()

    page.wait_for_function(
        "() => document.querySelector('#app').contentWindow.__bx24"
        ".some(call => call[0] === 'openApplication')"
    )
    [[_, params, settings]] = calls_named(page, "openApplication")
    assert params == {"tp_view": "details", "id": touch_point_id}
    assert settings["title"] == item["owner"]["title"]
    expect(app.locator("dialog[open]")).to_have_count(0)  # no dialog of our own besides

    with page.expect_request(lambda request: "/api/v1/board" in request.url):
        app.locator("body").evaluate("() => window.__closeSlider()")


def test_the_app_opened_in_a_slider_shows_the_details_and_closes_the_slider_with_them(
    page: Page, http: APIRequestContext, base_url: str, people: DemoPeople, api: DemoApi
) -> None:
    board = api.get("/board")
    target = next(item for column in board["columns"] for item in column["items"])
    options = {"tp_view": "details", "id": str(target["id"])}
    frame_app(page, http, base_url, people.admin, f"window.__options = {json.dumps(options)};")
    app = page.frame_locator("#app")
    details = app.locator(".dialog--details")
    expect(details).to_be_visible()
    expect(details.get_by_test_id("timeline")).to_be_visible()
    expect(app.get_by_test_id("slider-view")).to_have_count(1)
    expect(app.get_by_test_id("board")).to_have_count(0)  # the slider shows only the details

    details.get_by_role("button", name="Close").first.click()
    page.wait_for_function(
        "() => document.querySelector('#app').contentWindow.__bx24.some(c => c[0] === 'closeApplication')"
    )
    assert calls_named(page, "closeApplication") == [["closeApplication"]]


def test_in_the_demo_details_open_as_a_side_panel_at_the_right_edge(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    open_board(page, demo_page(demo_url, people.admin))
    page.locator("[data-testid=card]").first.click()
    panel = page.locator(".dialog--details")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box is not None
    assert abs(box["x"] + box["width"] - 1280) <= 1, box  # flush with the right edge
    assert box["height"] >= 899, box  # the full height
    assert box["width"] < 1280 / 2 + 100, box  # the board stays in sight beside it
