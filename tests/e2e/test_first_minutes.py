"""The first five minutes: cards that say what they are about, visible state, readable errors,
no lost edits, locale-correct dates and times, the shipped font, and controls that work by touch."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.support import (
    COLUMNS,
    ConsoleWatch,
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

LANGS = ("en", "ru")


def board_items(api: DemoApi) -> list[dict[str, Any]]:
    return [item for column in api.get("/board")["columns"] for item in column["items"]]


def post(api: DemoApi, path: str, body: dict[str, Any]) -> Any:
    response = api.http.post(
        f"/api/v1{path}",
        headers={"Authorization": f"Bearer {api.session}", "Content-Type": "application/json"},
        data=json.dumps(body),
    )
    assert response.ok, f"POST {path}: {response.status} {response.text()}"
    return response.json()


def _channel(value: float) -> float:
    value /= 255
    return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[float, float, float]) -> float:
    r, g, b = (_channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def rgb_values(css: str) -> list[tuple[float, float, float]]:
    return [
        (float(r), float(g), float(b))
        for r, g, b in re.findall(r"rgba?\((\d+(?:\.\d+)?), (\d+(?:\.\d+)?), (\d+(?:\.\d+)?)", css)
    ]


def open_complete_dialog(page: Page, touch_point_id: int) -> Locator:
    card(page, touch_point_id).get_by_test_id("card-complete").click()
    dialog = page.locator("dialog.dialog--complete")
    expect(dialog).to_be_visible()
    return dialog


def upcoming_card(page: Page) -> int:
    """The first card due later today, or else tomorrow (the demo seeds both)."""
    return next(i for key in ("today", "tomorrow") for i in column_ids(page, key))


# ------------------------------------------------------------------ what a card is about


def test_cards_details_and_the_crm_tab_show_the_to_dos_title_and_note(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    item = next(i for i in board_items(api) if i["title"] and i["note"] and i["owner"]["title"])
    open_board(page, demo_page(demo_url, people.admin))
    shown = card(page, item["id"])
    expect(shown.get_by_test_id("card-subject")).to_contain_text(item["title"])
    note = shown.get_by_test_id("card-note")
    expect(note).to_have_attribute("title", item["note"])
    # A one-line preview: the note never wraps onto a second line of the card.
    line = note.evaluate(
        "el => [el.getBoundingClientRect().height, parseFloat(getComputedStyle(el).lineHeight)]"
    )
    assert line[0] <= line[1] * 1.2

    shown.click()
    details = page.get_by_role("dialog", name="Touch-point")
    expect(details.get_by_test_id("details-subject")).to_have_text(item["title"])
    expect(details.get_by_test_id("details-note")).to_have_text(item["note"])
    details.get_by_role("button", name="Close").first.click()

    owner = item["owner"]
    page.goto(
        demo_page(
            demo_url,
            people.admin,
            f"&placement=CRM_{owner['type'].upper()}_DETAIL_TAB&id={owner['id']}",
        )
    )
    tab_card = page.get_by_test_id("record-view").locator(f"[data-id='{item['id']}']")
    expect(tab_card.get_by_test_id("card-subject")).to_contain_text(item["title"])


def test_a_new_card_is_scrolled_into_view_and_highlighted(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    today = date.fromisoformat(api.get("/board")["today"])
    far = today + timedelta(days=80)  # the very end of "Later": below the fold
    page.get_by_test_id("new-tp").click()
    dialog = page.get_by_role("dialog", name="New touch-point")
    dialog.get_by_role("combobox", name="Kind").select_option("company")
    search = dialog.get_by_test_id("record-search")
    search.fill("Helix")
    expect(dialog.get_by_role("listbox").get_by_role("option").first).to_contain_text("Helix")
    search.press("Enter")
    dialog.get_by_test_id("deadline-date").fill(f"{far.month}/{far.day}/{far.year}")
    dialog.get_by_test_id("deadline-time").fill("11:30 PM")
    dialog.get_by_test_id("create-title").fill("Bring the signed pilot agreement")
    dialog.locator("textarea").fill("Two copies; legal wants the annex too.")
    dialog.get_by_test_id("create-submit").click()
    expect(dialog).to_be_hidden()

    fresh = page.locator("[data-testid=card][data-new]")
    expect(fresh).to_have_count(1)
    expect(fresh).to_be_in_viewport()
    expect(fresh).to_have_class(re.compile(r"\bis-new\b"))
    expect(fresh).to_be_focused()
    expect(fresh.get_by_test_id("card-subject")).to_contain_text("Bring the signed pilot agreement")
    created = api.get(f"/touchpoints/{fresh.get_attribute('data-id')}")
    assert (created["title"], created["note"]) == (
        "Bring the signed pilot agreement",
        "Two copies; legal wants the annex too.",
    )
    when = local(created["deadline"], api.get("/board")["time_zone"])
    assert (when.date(), when.hour, when.minute) == (far, 23, 30)
    assert column_ids(page, "later")[-1] == created["id"]


# ------------------------------------------------------------------ the CRM tab


def test_the_crm_tab_lists_open_items_first_most_overdue_on_top(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    board = api.get("/board")
    overdue = next(
        i
        for column in board["columns"]
        if column["key"] == "overdue"
        for i in column["items"]
        if i["owner"]["type"] == "deal"
    )
    deal = overdue["owner"]["id"]
    zone = board["time_zone"]
    for days in (12, 3):
        deadline = datetime.fromisoformat(overdue["deadline"]) + timedelta(days=days + 20)
        post(
            api,
            "/touchpoints",
            {
                "owner": {"type": "deal", "id": deal},
                "type": "call",
                "deadline": deadline.isoformat(),
                "title": f"Check in after {days} days",
            },
        )
    record = api.get(f"/records/deal/{deal}/touchpoints")["items"]
    statuses = [item["status"] for item in record]
    opened = [item for item in record if item["status"] == "open"]
    assert statuses[: len(opened)] == ["open"] * len(opened)  # open ones come first
    assert [local(i["deadline"], zone) for i in opened] == sorted(
        local(i["deadline"], zone) for i in opened
    )
    assert opened[0]["id"] == overdue["id"]

    for lang in LANGS:
        page.goto(
            demo_page(
                demo_url, people.admin, f"&lang={lang}&placement=CRM_DEAL_DETAIL_TAB&id={deal}"
            )
        )
        cards = page.get_by_test_id("record-view").locator(".record-list [data-testid=card]")
        expect(cards).to_have_count(len(opened))
        assert [int(i) for i in cards.evaluate_all("cs => cs.map(c => c.dataset.id)")] == [
            i["id"] for i in opened
        ]
        expect(cards.first.locator(".when--overdue")).to_be_visible()
        page.evaluate("document.fonts.ready")
        screenshot(page, f"crm-tab-{lang}", full_page=True)


# ------------------------------------------------------------------ filters that say they are on


def test_remembered_filters_say_they_are_on_and_clear_with_one_click(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    overdue_types = {i["type"] for i in api.get("/board")["columns"][0]["items"]}
    quiet = next(
        (
            kind
            for kind in ("other", "visit", "message", "email", "meeting", "call")
            if kind not in overdue_types
        ),
        None,
    )
    kind = quiet or "visit"
    open_board(page, demo_page(demo_url, people.admin))
    expect(page.get_by_test_id("filters-on")).to_have_count(0)
    page.get_by_test_id("filter-type").select_option(kind)
    wait_until_settled(page)
    page.reload()
    wait_until_settled(page)

    chip = page.get_by_test_id("filters-on")
    expect(chip).to_be_visible()
    expect(chip).to_contain_text("Filters on")
    if quiet is not None:
        expect(page.get_by_test_id("column-overdue")).to_contain_text(
            "Nothing here with these filters"
        )
    chip.get_by_role("button", name="Clear").click()
    wait_until_settled(page)
    expect(page.get_by_test_id("filters-on")).to_have_count(0)
    expected = board_columns(api)
    assert {key: column_ids(page, key) for key in COLUMNS} == expected
    page.reload()
    wait_until_settled(page)
    expect(page.get_by_test_id("filters-on")).to_have_count(0)


# ------------------------------------------------------------------ errors where they can be read


def test_an_error_inside_a_dialog_shows_in_the_dialog_readable_and_closable(
    page: Page, demo_url: str, people: DemoPeople, console: ConsoleWatch
) -> None:
    console.allow(r"status of 409")
    message = (
        "The touch-point changed meanwhile: Lena Kim moved it to Friday, 4:00 PM. "
        "Reload the board to see the new deadline, then complete it again if it is still due."
    )
    page.route(
        "**/api/v1/touchpoints/*/complete",
        lambda route: route.fulfill(
            status=409,
            content_type="application/json",
            body=json.dumps({"code": "CONFLICT", "message": message}),
        ),
    )
    open_board(page, demo_page(demo_url, people.admin))
    # Today's seeded cards are all past due by mid-afternoon: take the first still to come.
    dialog = open_complete_dialog(page, upcoming_card(page))
    dialog.get_by_test_id("result-note").fill("Agreed on a call next week")
    dialog.get_by_test_id("complete-submit").click()

    alert = dialog.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(message)
    expect(alert).to_be_in_viewport(ratio=1)
    expect(page.locator(".toasts .toast--error")).to_have_count(0)
    screenshot(page, "complete-dialog-error")
    alert.get_by_role("button", name="Dismiss the message").click()
    expect(dialog.get_by_role("alert")).to_have_count(0)
    expect(dialog).to_be_visible()


# ------------------------------------------------------------------ no lost settings


def test_leaving_unsaved_settings_asks_first_and_the_save_bar_stays_in_reach(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    before = api.get("/settings")["default_interval"]
    changed = 7 if before != 7 else 8
    page.goto(demo_page(demo_url, people.admin, "#settings"))
    save = page.get_by_test_id("settings-save")
    expect(save).to_be_in_viewport()  # the sticky bar: no scrolling to find Save
    page.get_by_test_id("setting-default_interval").fill(str(changed))
    expect(page.get_by_test_id("settings-unsaved")).to_have_text("You have unsaved changes.")
    page.mouse.wheel(0, 5000)
    expect(save).to_be_in_viewport()
    screenshot(page, "settings-unsaved")

    asks = page.evaluate(
        "() => { const e = new Event('beforeunload', { cancelable: true });"
        " window.dispatchEvent(e); return e.defaultPrevented; }"
    )
    assert asks is True

    page.get_by_test_id("nav-reports").click()
    confirm = page.get_by_role("dialog", name="Leave without saving?")
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Stay and save").click()
    expect(page.get_by_test_id("settings-view")).to_be_visible()
    expect(page.get_by_test_id("setting-default_interval")).to_have_value(str(changed))
    assert page.evaluate("location.hash") == "#settings"

    page.get_by_test_id("nav-board").click()
    page.get_by_role("dialog", name="Leave without saving?").get_by_role(
        "button", name="Leave without saving"
    ).click()
    expect(page.get_by_test_id("board-view")).to_be_visible()
    assert api.get("/settings")["default_interval"] == before
    asks_now = page.evaluate(
        "() => { const e = new Event('beforeunload', { cancelable: true });"
        " window.dispatchEvent(e); return e.defaultPrevented; }"
    )
    assert asks_now is False


# ------------------------------------------------------------------ dates and times


@pytest.mark.parametrize("lang", LANGS)
def test_dates_and_times_are_written_the_way_the_language_writes_them(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi, lang: str
) -> None:
    # The browser itself stays en-US: the UI's language decides, not the browser's locale.
    open_board(page, demo_page(demo_url, people.admin, f"&lang={lang}"))
    wait_until_settled(page)
    times = page.locator(".when__exact").all_inner_texts()
    assert times
    if lang == "en":
        assert all(re.search(r"\b([1-9]|1[0-2]):\d\d (AM|PM)$", text) for text in times), times
    else:
        assert all(re.search(r"\b([01]\d|2[0-3]):\d\d$", text) for text in times), times
        assert not any(re.search(r"AM|PM", text) for text in times), times
    label = "Acting as" if lang == "en" else "Вы действуете как"
    expect(page.get_by_test_id("demo-user")).to_have_attribute("aria-label", label)
    page.evaluate("document.fonts.ready")
    screenshot(page, f"board-{lang}")

    target = upcoming_card(page)
    dialog = open_complete_dialog(page, target)
    date_field = dialog.get_by_test_id("follow_up.deadline-date")
    time_field = dialog.get_by_test_id("follow_up.deadline-time")
    expect(date_field).not_to_have_value("")
    expect(date_field).to_have_attribute("lang", lang)
    if lang == "en":
        expect(date_field).to_have_value(re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"))
        expect(time_field).to_have_value(re.compile(r"^([1-9]|1[0-2]):\d\d (AM|PM)$"))
        expect(date_field).to_have_attribute("placeholder", "mm/dd/yyyy")
    else:
        expect(date_field).to_have_value(re.compile(r"^\d{2}\.\d{2}\.\d{4}$"))
        expect(time_field).to_have_value(re.compile(r"^([01]\d|2[0-3]):\d\d$"))
        expect(date_field).to_have_attribute("placeholder", "дд.мм.гггг")
    # The longest time still fits its field (no "10:00 A").
    time_field.fill("12:30 PM" if lang == "en" else "23:30")
    assert time_field.evaluate("el => el.scrollWidth <= el.clientWidth")
    dialog.get_by_test_id("result-note").fill("Talked it through")
    page.evaluate("document.fonts.ready")
    screenshot(page, f"complete-dialog-{lang}")

    typed_day = date.fromisoformat(api.get("/board")["today"]) + timedelta(days=9)
    if lang == "en":
        date_field.fill(f"{typed_day.month}/{typed_day.day}/{typed_day.year}")
        time_field.fill("2:30 PM")
    else:
        date_field.fill(typed_day.strftime("%d.%m.%Y"))
        time_field.fill("14:30")
    dialog.get_by_test_id("complete-submit").click()
    expect(dialog).to_be_hidden()
    follow_up = api.get(f"/touchpoints/{api.get(f'/touchpoints/{target}')['next_id']}")
    when = local(follow_up["deadline"], api.get("/board")["time_zone"])
    assert (when.date(), when.hour, when.minute) == (typed_day, 14, 30)


def test_an_unreadable_date_is_refused_in_the_dialog(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin, "&lang=ru"))
    target = column_ids(page, "tomorrow")[0]
    dialog = open_complete_dialog(page, target)
    dialog.get_by_test_id("result-note").fill("Перезвонить")
    dialog.get_by_test_id("follow_up.deadline-date").fill("31.02.2027")
    dialog.get_by_test_id("complete-submit").click()
    expect(dialog).to_contain_text("дд.мм.гггг")
    expect(dialog.get_by_test_id("follow_up.deadline-date")).to_be_focused()
    assert api.get(f"/touchpoints/{target}")["status"] == "open"


# ------------------------------------------------------------------ the font


def test_open_sans_is_shipped_and_used(page: Page, demo_url: str, people: DemoPeople) -> None:
    # Seen on the wire: the page's clock is a fake whose ``performance`` lists no resources.
    fonts: list[str] = []
    page.on("response", lambda r: fonts.append(r.url) if r.url.endswith(".woff2") else None)
    for lang in LANGS:
        open_board(page, demo_page(demo_url, people.admin, f"&lang={lang}"))
        weights = page.evaluate(
            "async () => { await document.fonts.ready;"
            " return [...document.fonts].filter(f => f.family.replaceAll('\"', '') === 'Open Sans'"
            " && f.status === 'loaded').map(f => f.weight); }"
        )
        assert {"400", "600"} <= set(weights), weights
    assert any("open-sans-latin-" in name for name in fonts)
    assert any("open-sans-cyrillic-" in name for name in fonts)
    reply = page.request.get(fonts[0])
    assert reply.ok
    assert reply.headers["content-type"] == "font/woff2"
    licence = page.request.get(fonts[0].rsplit("/", 1)[0] + "/OFL.txt")
    assert licence.ok
    assert "SIL Open Font License" in licence.text()


# ------------------------------------------------------------------ touch, covering, focus


def test_the_complete_button_shows_its_check_mark_without_hover(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    page.mouse.move(0, 0)
    button = page.get_by_test_id("card").first.get_by_test_id("card-complete")
    expect(button).to_be_visible()
    expect(button).to_have_accessible_name(re.compile(r"^Complete "))
    check = button.locator("svg")
    colour = check.evaluate("el => getComputedStyle(el).color")
    background = button.evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour != "rgba(0, 0, 0, 0)"
    assert contrast(rgb_values(colour)[0], rgb_values(background)[0]) >= 3
    box = button.bounding_box()
    assert box is not None
    # WCAG 2.2 target size
    assert box["width"] >= 24
    assert box["height"] >= 24


def test_the_feedback_button_sits_in_the_top_bar_and_covers_nothing(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    expect(page.locator(".topbar").get_by_test_id("feedback")).to_be_visible()
    expect(page.locator(".feedback-fab")).to_have_count(0)
    page.mouse.wheel(0, 20000)
    for key in COLUMNS:
        cards = page.locator(f"[data-testid=column-{key}] [data-testid=card]")
        if not cards.count():
            continue
        last = cards.last
        last.scroll_into_view_if_needed()
        covered = last.evaluate(
            "el => { const r = el.getBoundingClientRect();"
            " const hit = document.elementFromPoint(r.right - 12, r.bottom - 12);"
            " return !el.contains(hit); }"
        )
        assert covered is False, key


def test_the_focus_ring_contrasts_three_to_one_with_what_is_around_it(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    page.keyboard.press("Tab")
    for target in (page.get_by_test_id("new-tp"), page.get_by_test_id("card").first):
        target.focus()
        page.wait_for_timeout(400)  # box-shadow transitions: read the settled ring
        ring = target.evaluate("el => getComputedStyle(el).boxShadow")
        colours = [c for c in rgb_values(ring) if c != (255.0, 255.0, 255.0)]
        assert colours, ring
        page_bg = rgb_values(page.evaluate("getComputedStyle(document.body).backgroundColor"))[0]
        for around in (page_bg, (255.0, 255.0, 255.0)):
            assert contrast(colours[0], around) >= 3, (ring, around)
    screenshot(page, "focus-ring")


def test_holiday_and_report_dates_follow_the_language_too(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    page.goto(demo_page(demo_url, people.admin, "&lang=ru#settings"))
    holiday = page.get_by_test_id("holiday-input")
    expect(holiday).to_have_attribute("placeholder", "дд.мм.гггг")
    holiday.fill("09.03.2027")
    page.get_by_test_id("holiday-add").click()
    expect(page.get_by_test_id("settings-form").locator(".chips").first).to_contain_text(
        "9 мар. 2027"
    )
    expect(page.get_by_test_id("settings-unsaved")).to_have_text("Есть несохранённые изменения.")
    page.get_by_test_id("settings-discard").click()
    expect(page.get_by_test_id("settings-unsaved")).to_have_text("")

    page.goto(demo_page(demo_url, people.admin, "&lang=ru#reports"))
    page.get_by_test_id("period-custom").click()
    expect(page.get_by_test_id("report-from")).to_have_value(re.compile(r"^\d{2}\.\d{2}\.\d{4}$"))
    expect(page.get_by_test_id("report-to")).to_have_attribute("placeholder", "дд.мм.гггг")
