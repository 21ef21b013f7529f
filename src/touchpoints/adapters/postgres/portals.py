"""Portals on Postgres, their tokens encrypted by ``TokenCipher`` before they reach the database."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg
import attrs

from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.db import Db, PostgresRepository
from touchpoints.adapters.postgres.rows import portal_from_row, settings_from_row
from touchpoints.domain.checks import require_aware
from touchpoints.domain.portal import OAuthTokens, Portal, PortalInstall, PortalStatus
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings
from touchpoints.ports.storage import InvalidReference

# The columns ``_set`` may write: only these names are ever joined into its SQL.
_Column = Literal["application_token", "status", "uninstall_requested_at"]


# The settings columns ``settings_from_row`` reads, for reads joined to a portal.
_SETTINGS_COLUMNS = ", ".join(f"s.{field.name}" for field in attrs.fields(PortalSettings))


def _affected(status: str) -> int:
    """The row count of an ``UPDATE n`` / ``DELETE n`` command tag."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresPortals(PostgresRepository):
    """Portals with their tokens encrypted by ``TokenCipher`` before they reach the database."""

    def __init__(self, db: Db, cipher: TokenCipher) -> None:
        super().__init__(db)
        self._cipher = cipher

    def _portal(self, row: asyncpg.Record | None) -> Portal | None:
        return None if row is None else portal_from_row(row, self._cipher)

    def _install_args(self, install: PortalInstall, now: datetime) -> tuple[object, ...]:
        require_aware("now", now)
        require_aware("expires_at", install.tokens.expires_at)
        encrypt = self._cipher.encrypt
        return (
            install.member_id,
            install.client_endpoint,
            install.domain,
            encrypt(install.tokens.access_token),
            encrypt(install.tokens.refresh_token),
            encrypt(install.application_token),
            install.tokens.expires_at,
            install.installed_by,
            install.scope,
            now,
            install.app_id,
            install.app_code,
        )

    async def get(self, portal_id: int) -> Portal | None:
        return self._portal(
            await self._db.fetchrow("SELECT * FROM portals WHERE id = $1", portal_id)
        )

    async def get_by_member_id(self, member_id: str) -> Portal | None:
        return self._portal(
            await self._db.fetchrow("SELECT * FROM portals WHERE member_id = $1", member_id)
        )

    async def get_with_settings(
        self, portal_id: int
    ) -> tuple[Portal, PortalSettings | None] | None:
        # No settings column shares a name with a portals column, so one flat row holds both.
        row = await self._db.fetchrow(
            f"""
            SELECT p.*, s.portal_id IS NOT NULL AS has_settings, {_SETTINGS_COLUMNS}
            FROM portals p LEFT JOIN settings s ON s.portal_id = p.id
            WHERE p.id = $1
            """,  # noqa: S608 - the column list is our own constant
            portal_id,
        )
        if row is None:
            return None
        return portal_from_row(row, self._cipher), (
            settings_from_row(row) if row["has_settings"] else None
        )

    async def get_for_event(self, member_id: str, activity_id: int) -> tuple[Portal, bool] | None:
        row = await self._db.fetchrow(
            """
            SELECT p.*, EXISTS (
                SELECT 1 FROM touchpoints t WHERE t.portal_id = p.id AND t.activity_id = $2
            ) AS tracks_activity
            FROM portals p WHERE p.member_id = $1
            """,
            member_id,
            activity_id,
        )
        if row is None:
            return None
        return portal_from_row(row, self._cipher), bool(row["tracks_activity"])

    async def create(self, install: PortalInstall, *, now: datetime) -> Portal:
        row = await self._db.fetchrow(
            """
            INSERT INTO portals (
                member_id, client_endpoint, domain, access_token, refresh_token,
                application_token, token_expires_at, installed_by, scope, created_at, updated_at,
                app_id, app_code
            )
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12)
            RETURNING *
            """,
            *self._install_args(install, now),
        )
        portal = self._portal(row)
        assert portal is not None  # INSERT ... RETURNING always answers a row
        return portal

    async def replace_install(
        self, portal_id: int, install: PortalInstall, *, now: datetime
    ) -> Portal:
        row = await self._db.fetchrow(
            """
            UPDATE portals SET
                member_id = $2, client_endpoint = $3, domain = $4, access_token = $5,
                refresh_token = $6, application_token = $7, token_expires_at = $8,
                installed_by = $9, scope = $10, updated_at = $11, app_id = $12,
                app_code = $13, status = 'active', previous_application_token = NULL,
                uninstall_requested_at = NULL
            WHERE id = $1
            RETURNING *
            """,
            portal_id,
            *self._install_args(install, now),
        )
        portal = self._portal(row)
        if portal is None:
            raise InvalidReference(f"no portal {portal_id}")
        return portal

    async def lock(self, portal_id: int) -> Portal | None:
        # FOR NO KEY UPDATE, not FOR UPDATE: it excludes other lockers and writers of the row
        # just the same, but does not block the FOR KEY SHARE locks that foreign-key checks
        # take, so inserts of the portal's touch-points go on during a token refresh.
        return self._portal(
            await self._db.fetchrow(
                "SELECT * FROM portals WHERE id = $1 FOR NO KEY UPDATE", portal_id
            )
        )

    async def update_tokens(self, portal_id: int, tokens: OAuthTokens, *, now: datetime) -> None:
        require_aware("now", now)
        require_aware("expires_at", tokens.expires_at)
        await self._db.execute(
            """
            UPDATE portals
            SET access_token = $2, refresh_token = $3, token_expires_at = $4, updated_at = $5
            WHERE id = $1
            """,
            portal_id,
            self._cipher.encrypt(tokens.access_token),
            self._cipher.encrypt(tokens.refresh_token),
            tokens.expires_at,
            now,
        )

    async def _set(self, portal_id: int, column: _Column, value: object, *, now: datetime) -> None:
        """Set one column of the portal's row, and ``updated_at``."""
        require_aware("now", now)
        await self._db.execute(
            f"UPDATE portals SET {column} = $2, updated_at = $3 WHERE id = $1",  # noqa: S608
            portal_id,
            value,
            now,
        )

    async def set_application_token(self, portal_id: int, token: Secret, *, now: datetime) -> None:
        await self._set(portal_id, "application_token", self._cipher.encrypt(token), now=now)

    async def set_status(self, portal_id: int, status: PortalStatus, *, now: datetime) -> None:
        await self._set(portal_id, "status", status.value, now=now)

    async def rotate_application_token(
        self, portal_id: int, token: Secret, *, now: datetime
    ) -> None:
        require_aware("now", now)
        await self._db.execute(
            """
            UPDATE portals
            SET previous_application_token = application_token, application_token = $2,
                updated_at = $3
            WHERE id = $1
            """,
            portal_id,
            self._cipher.encrypt(token),
            now,
        )

    async def forget_previous_application_token(self, portal_id: int, *, now: datetime) -> None:
        require_aware("now", now)
        await self._db.execute(
            "UPDATE portals SET previous_application_token = NULL, updated_at = $2"
            " WHERE id = $1 AND previous_application_token IS NOT NULL",
            portal_id,
            now,
        )

    async def set_app_id(
        self, portal_id: int, app_id: str, *, app_code: str | None = None, now: datetime
    ) -> None:
        require_aware("now", now)
        await self._db.execute(
            "UPDATE portals SET app_id = $2, app_code = coalesce($3, app_code), updated_at = $4"
            " WHERE id = $1",
            portal_id,
            app_id,
            app_code,
            now,
        )

    async def set_uninstall_requested(
        self, portal_id: int, at: datetime | None, *, now: datetime
    ) -> None:
        require_aware("now", now)
        require_aware("at", at)
        await self._set(portal_id, "uninstall_requested_at", at, now=now)

    async def uninstall_requested(self) -> list[int]:
        rows = await self._db.fetch(
            "SELECT id FROM portals WHERE uninstall_requested_at IS NOT NULL"
            " ORDER BY uninstall_requested_at, id"
        )
        return [row["id"] for row in rows]

    async def delete(self, portal_id: int) -> bool:
        # Every other table references portals ON DELETE CASCADE (migrations/0001).
        return _affected(await self._db.execute("DELETE FROM portals WHERE id = $1", portal_id)) > 0

    async def list_ids(self, *, active_only: bool = True) -> list[int]:
        if active_only:
            rows = await self._db.fetch(
                "SELECT id FROM portals WHERE status = 'active' ORDER BY id"
            )
        else:
            rows = await self._db.fetch("SELECT id FROM portals ORDER BY id")
        return [row["id"] for row in rows]

    async def reencrypt_all(self) -> int:
        """Re-encrypt every portal's tokens under the current key; return how many portals."""
        rows = await self._db.fetch(
            "SELECT id, access_token, refresh_token, application_token,"
            " previous_application_token FROM portals ORDER BY id FOR NO KEY UPDATE"
        )
        rotate = self._cipher.rotate
        for row in rows:
            previous = row["previous_application_token"]
            await self._db.execute(
                """
                UPDATE portals SET access_token = $2, refresh_token = $3, application_token = $4,
                    previous_application_token = $5
                WHERE id = $1
                """,
                row["id"],
                rotate(row["access_token"]),
                rotate(row["refresh_token"]),
                rotate(row["application_token"]),
                None if previous is None else rotate(previous),
            )
        return len(rows)
