"""The portals' digest bots on Postgres: one row per portal (``portal_bots``)."""

from __future__ import annotations

import asyncpg

from touchpoints.adapters.postgres.db import Db
from touchpoints.domain.checks import require_aware
from touchpoints.ports.digests import BotStatus, PortalBot


def bot_from_row(row: asyncpg.Record) -> PortalBot:
    """A ``portal_bots`` row."""
    return PortalBot(
        status=BotStatus(row["status"]), bot_id=row["bot_id"], updated_at=row["updated_at"]
    )


class PostgresBots:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def get(self, portal_id: int) -> PortalBot | None:
        row = await self._db.fetchrow(
            "SELECT status, bot_id, updated_at FROM portal_bots WHERE portal_id = $1", portal_id
        )
        return None if row is None else bot_from_row(row)

    async def put(self, portal_id: int, bot: PortalBot) -> None:
        require_aware("updated_at", bot.updated_at)
        await self._db.execute(
            """
            INSERT INTO portal_bots (portal_id, status, bot_id, updated_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (portal_id) DO UPDATE SET
                status = EXCLUDED.status, bot_id = EXCLUDED.bot_id,
                updated_at = EXCLUDED.updated_at
            """,
            portal_id,
            bot.status.value,
            bot.bot_id,
            bot.updated_at,
        )
