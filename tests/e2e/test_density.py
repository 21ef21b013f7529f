"""Board density: scrolling columns under headers that stay, compact cards, chip counts, tabs."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.support import (
    COLUMNS,
    DemoApi,
    DemoPeople,
    board_columns,
    column_ids,
    demo_page,
    open_board,
    screenshot,
    wait_until_settled,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def top(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box is not None, locator
    return box["y"]


def fullest_column(api: DemoApi) -> str:
    columns = board_columns(api)
    return max(COLUMNS, key=lambda key: len(columns[key]))


def test_a_column_scrolls_on_its_own_under_its_header(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    key = fullest_column(api)
    other = next(k for k in COLUMNS if k != key and column_ids(page, k))
    column = page.get_by_test_id(f"column-{key}")
    head, body = column.locator(".column__head"), column.locator(".column__body")
    first_card = column.get_by_test_id("card").first
    other_card = page.get_by_test_id(f"column-{other}").get_by_test_id("card").first
    assert body.evaluate("el => el.scrollHeight > el.clientHeight")  # more cards than room
    head_at, card_at, other_at = top(head), top(first_card), top(other_card)

    box = body.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 40)
    page.mouse.wheel(0, 400)
    page.wait_for_function("(el) => el.scrollTop > 0", arg=body.element_handle())

    assert page.evaluate("window.scrollY") == 0  # the column scrolled, not the page
    assert top(head) == head_at
    assert top(first_card) < card_at - 100  # its cards went up under the header...
    assert top(other_card) == other_at  # ...and the other columns' cards stayed
    scrolled = body.evaluate("el => el.scrollTop")
    assert card_at - top(first_card) == pytest.approx(scrolled, abs=1)
    # The board is about a window tall, however many cards a column holds.
    height, window = page.evaluate("[document.documentElement.scrollHeight, window.innerHeight]")
    assert height < 1.5 * window


def test_compact_cards_are_one_line_of_record_type_and_time_and_the_choice_is_remembered(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    cards = page.locator("[data-testid=board] [data-testid=card]")
    full_height = cards.first.evaluate("el => el.getBoundingClientRect().height")
    toggle = page.get_by_test_id("view-compact")
    expect(toggle).to_have_attribute("aria-pressed", "false")

    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-testid=board] .card--compact")).to_have_count(cards.count())
    heights = cards.evaluate_all("cards => cards.map((c) => c.getBoundingClientRect().height)")
    assert max(heights) <= 44 < full_height
    first = cards.first
    parts = [
        first.locator(".owner__title"),
        first.locator(".type-badge"),
        first.get_by_test_id("card-time"),
    ]
    middles = []
    for part in parts:
        box = part.bounding_box()
        assert box is not None
        middles.append(box["y"] + box["height"] / 2)
    assert max(middles) - min(middles) <= 4  # one line
    expect(first.get_by_test_id("card-subject")).to_have_count(0)

    # Today's cards give the time of day, the others their day; the type is said for readers.
    board = {column["key"]: column["items"] for column in api.get("/board")["columns"]}
    for key, pattern in (
        ("today", r"^\d{1,2}:\d{2}\s?[AP]M$"),
        ("later", r"^[A-Z][a-z]{2} \d{1,2}$"),
    ):
        for item in board[key][:3]:
            shown = page.locator(f"[data-testid=card][data-id='{item['id']}']")
            expect(shown.get_by_test_id("card-time")).to_have_text(re.compile(pattern))
            expect(shown.get_by_test_id("card-type")).to_have_text(
                {"email": "E-mail"}.get(item["type"], item["type"].capitalize())
            )
    screenshot(page, "board-compact")

    page.reload()
    open_board(page, demo_page(demo_url, people.admin))
    expect(page.get_by_test_id("view-compact")).to_have_attribute("aria-pressed", "true")
    assert cards.first.evaluate("el => el.getBoundingClientRect().height") <= 44

    page.get_by_test_id("view-compact").click()
    expect(page.locator("[data-testid=board] .card--compact")).to_have_count(0)
    assert cards.first.evaluate("el => el.getBoundingClientRect().height") == full_height


def chip_counts(page: Page, chip: Locator) -> tuple[int, int]:
    open_text = chip.get_by_test_id("person-open").inner_text()
    overdue = chip.get_by_test_id("person-overdue")
    return int(open_text), int(overdue.inner_text()) if overdue.count() else 0


def test_person_chips_count_the_open_and_overdue_cards_the_board_shows(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    board = api.get("/board")
    shown = {key: set(column_ids(page, key)) for key in COLUMNS}
    items = [item for column in board["columns"] for item in column["items"]]
    assert {item["id"] for item in items} == set().union(*shown.values())
    open_by = Counter(item["responsible_id"] for item in items)
    overdue_by = Counter(item["responsible_id"] for item in items if item["id"] in shown["overdue"])

    chips = page.get_by_test_id("person")
    assert chips.count() >= 2
    for index in range(chips.count()):
        chip = chips.nth(index)
        user_id = int(chip.get_attribute("data-user-id") or 0)
        assert chip_counts(page, chip) == (open_by[user_id], overdue_by[user_id])
    everyone = page.get_by_test_id("person-all")
    assert chip_counts(page, everyone) == (len(items), len(shown["overdue"]))

    # Filtered to one person, only their chip is counted: the others' cards are not loaded.
    busiest = open_by.most_common(1)[0][0]
    page.locator(f"[data-testid=person][data-user-id='{busiest}']").click()
    wait_until_settled(page)
    chosen = page.locator(f"[data-testid=person][data-user-id='{busiest}']")
    expect(chosen).to_have_attribute("aria-pressed", "true")
    cards = page.locator("[data-testid=board] [data-testid=card]")
    assert chip_counts(page, chosen) == (cards.count(), len(column_ids(page, "overdue")))
    expect(
        page.locator("[data-testid=person][aria-pressed=false] [data-testid=person-open]")
    ).to_have_count(0)
    expect(everyone.get_by_test_id("person-open")).to_have_count(0)


def visible_columns(page: Page) -> list[str]:
    return [key for key in COLUMNS if page.get_by_test_id(f"column-{key}").is_visible()]


def test_a_phone_shows_one_column_at_a_time_with_tabs_to_switch(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    open_board(page, demo_page(demo_url, people.admin))
    wait_until_settled(page)
    expected = board_columns(api)
    first = next(key for key in COLUMNS if expected[key])

    tabs = page.get_by_role("tab")
    expect(tabs).to_have_count(len(COLUMNS))
    assert visible_columns(page) == [first]
    expect(page.get_by_test_id(f"tab-{first}")).to_have_attribute("aria-selected", "true")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    for key in ("later", "today", first):
        page.get_by_test_id(f"tab-{key}").click()
        assert visible_columns(page) == [key]
        expect(page.get_by_test_id(f"tab-{key}")).to_have_attribute("aria-selected", "true")
        expect(page.locator("[role=tab][aria-selected=true]")).to_have_count(1)
        assert column_ids(page, key) == expected[key]
        expect(page.get_by_test_id(f"tab-{key}").locator(".column-tabs__count")).to_have_text(
            str(len(expected[key]))
        )
    screenshot(page, "board-phone-tabs")

    # Wider again, every column is back side by side and the tabs are gone.
    page.set_viewport_size({"width": 1280, "height": 800})
    assert visible_columns(page) == list(COLUMNS)
    expect(tabs.first).to_be_hidden()
