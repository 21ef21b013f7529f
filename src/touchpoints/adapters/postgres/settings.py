"""Portal settings and users' preferences on Postgres: one row per portal, one per user."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from touchpoints.adapters.postgres.db import PostgresRepository
from touchpoints.adapters.postgres.rows import preferences_from_row, settings_from_row
from touchpoints.domain.checks import require_aware
from touchpoints.domain.settings import PortalSettings, UserPreferences


class PostgresSettings(PostgresRepository):
    async def get(self, portal_id: int) -> PortalSettings | None:
        row = await self._db.fetchrow("SELECT * FROM settings WHERE portal_id = $1", portal_id)
        return None if row is None else settings_from_row(row)

    async def put(self, portal_id: int, settings: PortalSettings, *, now: datetime) -> None:
        require_aware("now", now)
        await self._db.execute(
            """
            INSERT INTO settings (
                portal_id, time_zone, enabled_entities, default_interval, default_interval_unit,
                working_days, holidays, digest_hour, team_viewers, digest_default, updated_at
            )
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (portal_id) DO UPDATE SET
                time_zone = EXCLUDED.time_zone,
                enabled_entities = EXCLUDED.enabled_entities,
                default_interval = EXCLUDED.default_interval,
                default_interval_unit = EXCLUDED.default_interval_unit,
                working_days = EXCLUDED.working_days,
                holidays = EXCLUDED.holidays,
                digest_hour = EXCLUDED.digest_hour,
                team_viewers = EXCLUDED.team_viewers,
                digest_default = EXCLUDED.digest_default,
                updated_at = EXCLUDED.updated_at
            """,
            portal_id,
            settings.time_zone,
            sorted(entity.value for entity in settings.enabled_entities),
            settings.default_interval,
            settings.default_interval_unit.value,
            sorted(settings.working_days),
            sorted(settings.holidays),
            settings.digest_hour,
            sorted(settings.team_viewers),
            settings.digest_default,
            now,
        )
        await self._db.execute(
            "UPDATE settings SET reminder_minutes = $2 WHERE portal_id = $1",
            portal_id,
            list(settings.reminder_minutes),
        )


class PostgresPreferences(PostgresRepository):
    async def get(self, portal_id: int, user_id: int) -> UserPreferences:
        row = await self._db.fetchrow(
            "SELECT user_id, digest_enabled, language, rollup_enabled FROM user_preferences"
            " WHERE portal_id = $1 AND user_id = $2",
            portal_id,
            user_id,
        )
        if row is None:
            return UserPreferences(user_id=user_id)
        return preferences_from_row(row)

    async def set_language(
        self, portal_id: int, user_id: int, language: str, *, now: datetime
    ) -> None:
        await self._upsert(portal_id, user_id, "language", language, now=now)

    async def put(self, portal_id: int, preferences: UserPreferences, *, now: datetime) -> None:
        require_aware("now", now)
        await self._db.execute(
            """
            INSERT INTO user_preferences
                (portal_id, user_id, digest_enabled, rollup_enabled, updated_at)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (portal_id, user_id) DO UPDATE
            SET digest_enabled = EXCLUDED.digest_enabled,
                rollup_enabled = EXCLUDED.rollup_enabled,
                updated_at = EXCLUDED.updated_at
            """,
            portal_id,
            preferences.user_id,
            preferences.digest_enabled,
            preferences.rollup_enabled,
            now,
        )

    async def _upsert(
        self,
        portal_id: int,
        user_id: int,
        column: Literal["language", "digest_enabled"],
        value: object,
        *,
        now: datetime,
    ) -> None:
        """Set one preference of a user, adding the user's row if there is none yet."""
        require_aware("now", now)
        await self._db.execute(
            f"""
            INSERT INTO user_preferences (portal_id, user_id, {column}, updated_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (portal_id, user_id) DO UPDATE
            SET {column} = EXCLUDED.{column}, updated_at = EXCLUDED.updated_at
            """,  # noqa: S608 - the column is one of two literals
            portal_id,
            user_id,
            value,
            now,
        )

    async def list(self, portal_id: int) -> list[UserPreferences]:
        rows = await self._db.fetch(
            "SELECT user_id, digest_enabled, language, rollup_enabled FROM user_preferences"
            " WHERE portal_id = $1"
            " ORDER BY user_id",
            portal_id,
        )
        return [preferences_from_row(row) for row in rows]
