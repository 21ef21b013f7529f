"""The message catalogue from the UI's translation files (``static/i18n/<lang>.json``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from touchpoints.domain.messages import LANGUAGES, Catalogue


@cache
def load_catalogue() -> Catalogue:
    """Every plain text of each language's file (counted phrases are the browser's), read once."""
    folder = resources.files("touchpoints.entrypoints").joinpath("static", "i18n")
    texts: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        data = json.loads(folder.joinpath(f"{language}.json").read_text(encoding="utf-8"))
        texts[language] = {key: value for key, value in data.items() if isinstance(value, str)}
    return Catalogue.of(texts)
