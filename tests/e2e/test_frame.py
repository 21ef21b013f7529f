"""Inside a Bitrix24 frame the app uses BX24.js; in the demo it never loads it; sessions renew.

Bitrix24 itself cannot run here, so a same-origin parent page frames the app page with
``data-demo='false'`` and a stand-in for BX24.js answers on api.bitrix24.com (BITRIX24.md §16.1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import APIRequestContext, Page, Request, Route, expect

from tests.e2e.support import (
    SESSION_META,
    ConsoleWatch,
    DemoPeople,
    demo_page,
    open_board,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BX24_URL = "https://api.bitrix24.com/api/v1/"
FAKE_BX24 = """
window.__bx24 = [];
window.BX24 = {
  init(callback) { __bx24.push(["init"]); setTimeout(callback, 0); },
  fitWindow(callback) { __bx24.push(["fitWindow"]); if (callback) callback(); },
  resizeWindow(width, height, callback) {
    __bx24.push(["resizeWindow", width, height]);
    window.frameElement.style.height = height + "px";  // what Bitrix24 does to its frame
    if (callback) callback();
  },
  openPath(path, callback) { __bx24.push(["openPath", path]); callback({ result: "close" }); },
  getAuth() { __bx24.push(["getAuth"]); return { access_token: "fresh-frame-token", member_id: "frame-member" }; },
  refreshAuth(callback) { callback(this.getAuth()); },
  selectUsers(callback) { callback([]); },
};
"""
PARENT = (
    "<!doctype html><title>Bitrix24</title>"
    '<iframe id="app" src="/__frame_app" style="width: 1240px; height: 400px; border: 0">'
    "</iframe>"
)


def serve_frame(
    page: Page,
    http: APIRequestContext,
    base_url: str,
    user_id: int,
    *,
    script: str = FAKE_BX24,
    extra: str = "",
) -> str:
    """Serve a parent page that frames the app as a Bitrix24 launch would (the demo's launch
    ``/demo?user=<id><extra>`` outside demo mode), with ``script`` standing in for BX24.js;
    returns the page's session. The caller opens ``<base_url>/__frame_host``."""
    launch = http.get(f"/demo?user={user_id}{extra}")
    html = launch.text().replace("data-demo='true'", "data-demo='false'")
    match = SESSION_META.search(html)
    assert match
    headers = {"Content-Security-Policy": launch.headers["content-security-policy"]}
    page.route(
        f"{base_url}/__frame_host",
        lambda route: route.fulfill(content_type="text/html", body=PARENT),
    )
    page.route(
        f"{base_url}/__frame_app",
        lambda route: route.fulfill(content_type="text/html", body=html, headers=headers),
    )
    page.route(
        BX24_URL,
        lambda route: route.fulfill(content_type="application/javascript", body=script),
    )
    return match.group(1)


def frame_the_app(page: Page, http: APIRequestContext, base_url: str, user_id: int) -> str:
    """Frame the app with the plain stand-in BX24; returns the session."""
    return serve_frame(page, http, base_url, user_id)


def bx24_calls(page: Page) -> list[list[str]]:
    frame = next(f for f in page.frames if f.url.endswith("/__frame_app"))
    calls: list[list[str]] = frame.evaluate("window.__bx24")
    return calls


def expire_first() -> Callable[[Route], None]:
    """A route handler: the first request gets 401 SESSION_EXPIRED, the rest pass on."""
    state = {"expired": False}

    def handle(route: Route) -> None:
        if not state["expired"]:
            state["expired"] = True
            route.fulfill(
                status=401,
                content_type="application/json",
                body=json.dumps({"code": "SESSION_EXPIRED", "message": "the session has expired"}),
            )
        else:
            route.fallback()

    return handle


def test_in_a_frame_the_app_uses_bx24_to_size_itself_and_open_crm_records(
    page: Page, http: APIRequestContext, base_url: str, people: DemoPeople
) -> None:
    frame_the_app(page, http, base_url, people.admin)

    page.goto(f"{base_url}/__frame_host")
    app = page.frame_locator("#app")
    expect(app.locator("[data-testid=card]").first).to_be_visible()
    page.wait_for_function(
        "() => document.querySelector('#app').contentWindow.__bx24"
        ".some(call => call[0] === 'resizeWindow' && call[2] > 1000)"
    )
    frame = next(f for f in page.frames if f.url.endswith("/__frame_app"))
    assert frame.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")

    last = app.locator("[data-testid=column-overdue] [data-testid=card]").last
    last.scroll_into_view_if_needed()
    clicked_at = last.bounding_box()
    last.click()
    dialog = app.get_by_role("dialog", name="Touch-point")
    placed_at = dialog.bounding_box()
    assert clicked_at is not None
    assert placed_at is not None
    assert abs(placed_at["y"] - clicked_at["y"]) < 300  # opens where the user is looking
    dialog.get_by_test_id("open-in-crm").click()

    calls = bx24_calls(page)
    assert calls[0] == ["init"]
    opened = [call[1] for call in calls if call[0] == "openPath"]
    assert len(opened) == 1
    assert re.fullmatch(r"/crm/(lead|deal|contact|company)/details/\d+/", opened[0])
    expect(app.locator(".feedback-fab")).to_have_count(0)
    expect(app.get_by_test_id("feedback")).to_be_visible()


def test_an_expired_session_is_renewed_with_fresh_frame_auth(
    page: Page,
    http: APIRequestContext,
    base_url: str,
    people: DemoPeople,
    console: ConsoleWatch,
) -> None:
    console.allow(r"status of 401")
    session = frame_the_app(page, http, base_url, people.admin)
    renewals: list[Request] = []

    def renew(route: Route) -> None:
        renewals.append(route.request)
        route.fulfill(
            content_type="application/json",
            body=json.dumps({"session": session, "expires_at": "2099-01-01T00:00:00+00:00"}),
        )

    page.route(f"{base_url}/api/v1/board*", expire_first())
    page.route(f"{base_url}/api/v1/session/renew", renew)

    page.goto(f"{base_url}/__frame_host")
    expect(page.frame_locator("#app").locator("[data-testid=card]").first).to_be_visible()

    assert len(renewals) == 1
    assert renewals[0].post_data_json == {
        "auth_id": "fresh-frame-token",
        "member_id": "frame-member",
    }
    assert ["getAuth"] in bx24_calls(page)


def test_the_demo_renews_its_session_as_the_same_demo_user_and_never_loads_bx24(
    page: Page, demo_url: str, base_url: str, people: DemoPeople, console: ConsoleWatch
) -> None:
    console.allow(r"status of 401")
    bitrix_requests: list[str] = []
    renewals: list[Request] = []
    page.on(
        "request",
        lambda request: (
            bitrix_requests.append(request.url) if "bitrix24.com" in request.url else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            renewals.append(request) if request.url.endswith("/session/renew") else None
        ),
    )
    page.route(f"{base_url}/api/v1/board*", expire_first())

    open_board(page, demo_page(demo_url, people.manager))

    assert [request.post_data_json for request in renewals] == [{"demo_user_id": people.manager}]
    assert bitrix_requests == []
