"""English and Russian: the translation files, and the Russian UI in the browser."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import DemoPeople, demo_page, open_board, screenshot

STATIC = Path(__file__).resolve().parents[2] / "src" / "touchpoints" / "entrypoints" / "static"
LITERAL_KEY = re.compile(r"""\btn?\(\s*"([a-z_.]+)\"""")
DYNAMIC_FAMILIES = {
    "column.": ("overdue", "today", "tomorrow", "this_week", "next_week", "later"),
    "type.": ("call", "meeting", "email", "message", "visit", "other"),
    "owner.": ("lead", "deal", "contact", "company"),
    "status.": ("open", "done", "cancelled", "orphaned"),
}
RUSSIAN_PLURALS = {"one", "few", "many", "other"}


def strings(lang: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((STATIC / "i18n" / f"{lang}.json").read_text("utf-8"))
    return loaded


def keys_in_code() -> set[str]:
    found: set[str] = set()
    for script in (STATIC / "js").glob("*.js"):
        found.update(LITERAL_KEY.findall(script.read_text("utf-8")))
    return found


def test_english_and_russian_translate_the_same_keys() -> None:
    assert set(strings("en")) == set(strings("ru"))


def test_every_string_the_code_asks_for_is_translated() -> None:
    wanted = keys_in_code()
    for prefix, codes in DYNAMIC_FAMILIES.items():
        wanted.update(prefix + code for code in codes)
    wanted.update(f"owner.{code}_plural" for code in DYNAMIC_FAMILIES["owner."])
    assert len(wanted) > 150
    for lang in ("en", "ru"):
        missing = sorted(wanted - set(strings(lang)))
        assert missing == [], f"{lang}.json lacks {missing}"


def test_russian_counted_phrases_have_every_plural_form() -> None:
    for key, value in strings("ru").items():
        if isinstance(value, dict):
            assert set(value) == RUSSIAN_PLURALS, key


def test_placeholders_match_between_languages() -> None:
    english, russian = strings("en"), strings("ru")
    for key, text in english.items():
        if isinstance(text, str):
            assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", russian[key])), (
                key
            )


@pytest.mark.e2e
@pytest.mark.slow
def test_the_board_speaks_russian_with_lang_ru(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_board(page, demo_page(demo_url, people.admin, "&lang=ru"))

    expect(page.locator("html")).to_have_attribute("lang", "ru")
    for key, title in (("overdue", "Просрочено"), ("today", "Сегодня"), ("later", "Позже")):
        expect(page.locator(f"[data-testid=column-{key}] h2")).to_have_text(title)
    expect(page.get_by_test_id("nav-settings")).to_have_text("Настройки")
    expect(page.get_by_test_id("new-tp")).to_contain_text("Новая точка контакта")
    board_text = page.get_by_test_id("board").inner_text()
    for english in ("Overdue", "Tomorrow", "Next week", "Nothing here"):
        assert english not in board_text
    assert "через" in board_text or "назад" in board_text
    kinds = " ".join(page.locator(".card__meta").all_inner_texts())
    for english in ("Lead", "Deal", "Contact", "Company", "Call", "Meeting", "E-mail"):
        assert english not in kinds
    assert re.search(r"(янв|февр|мар|апр|ма[йя]|июн|июл|авг|сент|окт|нояб|дек)", board_text)
    screenshot(page, "board-ru")

    page.get_by_test_id("nav-settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Настройки")
