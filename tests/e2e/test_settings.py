"""Settings: admins save the portal's settings; others read them, and keep their own preferences."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.support import ApiAs, DemoApi, DemoPeople, demo_page, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def original_settings(api: DemoApi) -> Iterator[dict[str, Any]]:
    """The settings before the test; put back afterwards so other tests see the defaults."""
    before = api.get("/settings")
    yield before
    assert api.put("/settings", before).ok


def test_an_admin_saves_the_portal_settings(
    page: Page,
    demo_url: str,
    people: DemoPeople,
    api: DemoApi,
    original_settings: dict[str, Any],
) -> None:
    hour = (original_settings["digest_hour"] + 2) % 24
    today = date.fromisoformat(api.get("/board")["today"])
    holiday = (today + timedelta(days=200)).isoformat()

    page.goto(demo_page(demo_url, people.admin, "#settings"))
    form = page.get_by_test_id("settings-form")
    form.get_by_test_id("setting-digest_hour").select_option(str(hour))
    form.get_by_test_id("setting-default_interval").fill("5")
    form.get_by_test_id("setting-default_interval_unit").select_option("days")
    form.get_by_test_id("holiday-input").fill(holiday)
    form.get_by_test_id("holiday-add").click()
    form.get_by_test_id("viewer-add").select_option(str(people.regular))
    form.get_by_test_id("settings-save").click()
    expect(page.locator(".toast").filter(has_text="Settings saved.")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "settings", full_page=True)

    saved = api.get("/settings")
    assert saved["digest_hour"] == hour
    assert saved["default_interval"] == 5
    assert saved["default_interval_unit"] == "days"
    assert holiday in saved["holidays"]
    assert people.regular in saved["team_viewers"]

    page.reload()
    form = page.get_by_test_id("settings-form")
    expect(form.get_by_test_id("setting-digest_hour")).to_have_value(str(hour))
    expect(form.get_by_test_id("setting-default_interval")).to_have_value("5")


def test_invalid_settings_are_explained_next_to_the_field(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    before = api.get("/settings")
    page.goto(demo_page(demo_url, people.admin, "#settings"))
    form = page.get_by_test_id("settings-form")
    form.get_by_test_id("setting-default_interval").fill("120")
    form.get_by_test_id("settings-save").click()

    expect(form.get_by_text("Give a whole number from 1 to 90.")).to_be_visible()
    assert api.get("/settings") == before


def test_a_non_admin_reads_the_settings_and_the_server_refuses_their_changes(
    page: Page, demo_url: str, people: DemoPeople, api_as: ApiAs
) -> None:
    manager = api_as(people.manager)
    settings = manager.get("/settings")

    page.goto(demo_page(demo_url, people.manager, "#settings"))
    form = page.get_by_test_id("settings-form")
    expect(form.get_by_test_id("settings-readonly")).to_contain_text(
        "Only portal administrators can change these settings."
    )
    expect(form.get_by_test_id("setting-digest_hour")).to_be_disabled()
    expect(form.get_by_test_id("settings-save")).to_have_count(0)
    expect(page.get_by_test_id("delete-all")).to_have_count(0)

    refused = manager.put(
        "/settings", {**settings, "digest_hour": (settings["digest_hour"] + 1) % 24}
    )
    assert refused.status == 403
    assert manager.get("/settings") == settings


def test_everyone_keeps_their_own_digest_preference(
    page: Page, demo_url: str, people: DemoPeople, api_as: ApiAs
) -> None:
    regular = api_as(people.regular)
    wanted = not regular.get("/me/preferences")["digest_enabled"]

    page.goto(demo_page(demo_url, people.regular, "#settings"))
    checkbox = page.get_by_test_id("pref-digest")
    checkbox.set_checked(wanted)
    page.get_by_test_id("prefs-save").click()
    expect(page.locator(".toast").filter(has_text="Your preferences are saved.")).to_be_visible()

    assert regular.get("/me/preferences") == {"digest_enabled": wanted, "rollup_enabled": True}
    assert regular.put("/me/preferences", {"digest_enabled": not wanted}).ok


def test_deleting_all_data_names_what_goes_and_needs_the_portal_domain(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    domain = api.get("/me")["portal"]["domain"]
    erased: list[str] = []

    def erase(route: Route) -> None:
        # Answer as the server does without erasing the demo the other tests share.
        erased.append(route.request.method)
        route.fulfill(status=204)

    page.route("**/api/v1/portal/data", erase)
    page.goto(demo_page(demo_url, people.admin, "#settings"))

    page.get_by_test_id("delete-all").click()
    dialog = page.get_by_role("dialog", name="Delete all app data?")
    for words in ("every touch-point", "portal settings", "preferences", "feedback", "tokens"):
        expect(dialog).to_contain_text(words)
    confirm = dialog.get_by_test_id("delete-confirm")
    expect(confirm).to_be_disabled()
    dialog.get_by_test_id("delete-confirm-input").fill("not-the-domain")
    expect(confirm).to_be_disabled()
    dialog.get_by_role("button", name="Go back").click()
    expect(dialog).to_be_hidden()
    assert erased == []

    page.get_by_test_id("delete-all").click()
    dialog.get_by_test_id("delete-confirm-input").fill(domain)
    dialog.get_by_test_id("delete-confirm").click()

    expect(page.get_by_test_id("erased")).to_contain_text("All app data was deleted")
    assert erased == ["DELETE"]


def test_an_admin_exports_the_portal_data_as_json(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    page.goto(demo_page(demo_url, people.admin, "#settings"))

    with page.expect_download() as download_info:
        page.get_by_test_id("export").click()
    download = download_info.value

    assert download.suggested_filename.endswith(".json")
    exported = json.loads(Path(download.path()).read_text("utf-8"))
    assert isinstance(exported, dict)
    assert "access_token" not in json.dumps(exported)


def test_the_settings_page_says_how_the_digest_comes_and_offers_managers_the_roll_up(
    page: Page, demo_url: str, people: DemoPeople, api_as: ApiAs
) -> None:
    page.goto(demo_page(demo_url, people.manager, "#settings"))
    expect(page.get_by_test_id("digest-channel")).to_contain_text("chat-bot, with buttons")
    rollup = page.get_by_test_id("pref-rollup")
    expect(rollup).to_be_checked()
    rollup.set_checked(False)
    page.get_by_test_id("prefs-save").click()
    expect(page.locator(".toast").filter(has_text="Your preferences are saved.")).to_be_visible()
    manager = api_as(people.manager)
    assert manager.get("/me/preferences")["rollup_enabled"] is False
    assert manager.put("/me/preferences", {"digest_enabled": True, "rollup_enabled": True}).ok

    page.goto(demo_page(demo_url, people.regular, "#settings"))
    expect(page.get_by_test_id("digest-channel")).to_be_visible()
    expect(page.get_by_test_id("pref-rollup")).to_have_count(0)
