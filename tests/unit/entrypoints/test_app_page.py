"""The app shell asks for the fonts its language lays out first, and each file exists."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from touchpoints.entrypoints.pages import STATIC_PREFIX, app_page

PRELOAD = re.compile(r'<link rel="preload" href="([^"]+\.woff2)" as="font"')


def _preloaded_fonts(lang: str) -> list[str]:
    page = app_page(
        session="s", lang=lang, placement="DEFAULT", placement_options={}, portal_domain=None
    )
    assert page.text is not None
    return PRELOAD.findall(page.text)


@pytest.mark.parametrize(("lang", "subsets"), [("en", {"latin"}), ("ru", {"latin", "cyrillic"})])
def test_a_page_preloads_the_font_subsets_of_its_language(lang: str, subsets: set[str]) -> None:
    fonts = _preloaded_fonts(lang)
    assert set(re.findall(r"open-sans-([a-z]+)-\d{3}-normal", " ".join(fonts))) == subsets
    assert len(fonts) == 3 * len(subsets)  # regular, semibold and bold of each
    static = resources.files("touchpoints.entrypoints").joinpath("static")
    for font in fonts:
        assert font.startswith(f"{STATIC_PREFIX}/fonts/")
        assert static.joinpath("fonts", font.rsplit("/", 1)[1]).is_file()
