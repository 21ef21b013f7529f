"""The app's message catalogue: one text per key and language, shared by the UI, digest and CSV."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import attrs

DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "ru")


def language_of(language: str | None, known: Collection[str] = LANGUAGES) -> str:
    """The catalogue language for a Bitrix24 language code: ``ru``/``ru-RU`` → ru, else en."""
    if not language:
        return DEFAULT_LANGUAGE
    primary = language.strip().lower().replace("_", "-").partition("-")[0]
    return primary if primary in known else DEFAULT_LANGUAGE


@attrs.frozen
class Catalogue:
    """Texts by language, then key (``owner.deal``, ``status.orphaned``, ``digest.header``).

    The entrypoints load it once from the UI's translation files; ``of`` fills a language's
    gaps with English, as the browser does.
    """

    texts: Mapping[str, Mapping[str, str]]

    @classmethod
    def of(cls, texts: Mapping[str, Mapping[str, str]]) -> Catalogue:
        english = texts.get(DEFAULT_LANGUAGE, {})
        return cls({language: {**english, **own} for language, own in texts.items()})

    def language_of(self, language: str | None) -> str:
        return language_of(language, self.texts)

    def for_language(self, language: str | None) -> Mapping[str, str]:
        """Every text in ``language`` (any Bitrix24 code; unknown ones get English)."""
        return self.texts[self.language_of(language)]
