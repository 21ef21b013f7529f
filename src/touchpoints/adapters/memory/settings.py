"""Portal settings and users' preferences in memory."""

from __future__ import annotations

from datetime import datetime

import attrs

from touchpoints.adapters.memory.checks import LANGUAGE_MAX, checked_now, positive, text
from touchpoints.adapters.memory.transaction import (
    PREFERENCES,
    SETTINGS,
    MemoryRepository,
)
from touchpoints.domain.settings import PortalSettings, UserPreferences


class MemorySettings(MemoryRepository):
    async def get(self, portal_id: int) -> PortalSettings | None:
        settings: PortalSettings | None = self._tx.get(SETTINGS, portal_id)
        return settings

    async def put(self, portal_id: int, settings: PortalSettings, *, now: datetime) -> None:
        checked_now(now)
        await self._tx.lock(("settings", portal_id))
        self._tx.require_portal(portal_id)
        self._tx.put(SETTINGS, portal_id, settings)


class MemoryPreferences(MemoryRepository):
    async def get(self, portal_id: int, user_id: int) -> UserPreferences:
        stored: UserPreferences | None = self._tx.get(PREFERENCES, (portal_id, user_id))
        return stored if stored is not None else UserPreferences(user_id=user_id)

    async def put(self, portal_id: int, preferences: UserPreferences, *, now: datetime) -> None:
        checked_now(now)
        positive("user_id", preferences.user_id)
        key = (portal_id, preferences.user_id)
        await self._tx.lock(("preferences", *key))
        self._tx.require_portal(portal_id)
        stored: UserPreferences | None = self._tx.get(PREFERENCES, key)
        language = stored.language if stored is not None else None
        self._tx.put(PREFERENCES, key, attrs.evolve(preferences, language=language))

    async def set_language(
        self, portal_id: int, user_id: int, language: str, *, now: datetime
    ) -> None:
        checked_now(now)
        positive("user_id", user_id)
        text("language", language, minimum=2, maximum=LANGUAGE_MAX)
        key = (portal_id, user_id)
        await self._tx.lock(("preferences", *key))
        self._tx.require_portal(portal_id)
        stored: UserPreferences | None = self._tx.get(PREFERENCES, key)
        current = stored if stored is not None else UserPreferences(user_id=user_id)
        self._tx.put(PREFERENCES, key, attrs.evolve(current, language=language))

    async def list(self, portal_id: int) -> list[UserPreferences]:
        rows: list[UserPreferences] = self._tx.values(PREFERENCES, portal_id)
        return sorted(rows, key=lambda p: p.user_id)
