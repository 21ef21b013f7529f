"""The list view's record columns: each record's stage by name and its amount in the page's
language and the record's currency; nothing for contacts and companies."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import DemoApi, DemoPeople, demo_page, open_board, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def first_page(api: DemoApi) -> list[dict[str, Any]]:
    """The page the list view opens on: open touch-points, 50 of them."""
    items: list[dict[str, Any]] = api.get("/touchpoints?status=open&limit=50")["items"]
    return items


def money(page: Page, lang: str, amount: float, currency: str) -> str:
    formatted: str = page.evaluate(
        "([lang, amount, currency]) =>"
        " new Intl.NumberFormat(lang, { style: 'currency', currency }).format(amount)",
        [lang, amount, currency],
    )
    return formatted


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_list_shows_each_deals_stage_and_amount_and_nothing_for_a_contact(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi, lang: str
) -> None:
    items = first_page(api)
    deal = next(i for i in items if i["owner"]["type"] == "deal" and i["owner"]["stage"])
    contact = next(i for i in items if i["owner"]["type"] == "contact")
    assert deal["owner"]["amount"] is not None
    assert not deal["owner"]["stage"].isupper(), "a stage's name, not its code"

    open_board(page, demo_page(demo_url, people.admin, f"&lang={lang}"))
    page.get_by_test_id("view-list").click()
    expect(page.get_by_test_id("list-row")).to_have_count(len(items))
    header = page.get_by_test_id("list").locator("thead th")
    expect(header.nth(2)).to_have_text("Stage" if lang == "en" else "Стадия")
    expect(header.nth(3)).to_have_text("Amount" if lang == "en" else "Сумма")

    row = page.locator(f"[data-testid=list-row][data-id='{deal['id']}']")
    expect(row.get_by_test_id("row-stage")).to_have_text(deal["owner"]["stage"])
    expected = money(page, lang, deal["owner"]["amount"], deal["owner"]["currency"])
    expect(row.get_by_test_id("row-amount")).to_have_text(expected)
    person = page.locator(f"[data-testid=list-row][data-id='{contact['id']}']")
    expect(person.get_by_test_id("row-stage")).to_have_text("")
    expect(person.get_by_test_id("row-amount")).to_have_text("")
    screenshot(page, f"list-records-{lang}")
