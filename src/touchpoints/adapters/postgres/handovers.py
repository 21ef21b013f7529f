"""Hand-overs on Postgres, scoped by portal, closed at most once."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import attrs

from touchpoints.adapters.postgres.db import PostgresRepository
from touchpoints.domain.checks import require_aware
from touchpoints.domain.handover import Handover


def handover_from_row(row: asyncpg.Record) -> Handover:
    """A ``handovers`` row."""
    return Handover(
        id=row["id"],
        portal_id=row["portal_id"],
        from_user_id=row["from_user_id"],
        to_user_id=row["to_user_id"],
        first_day=row["first_day"],
        last_day=row["last_day"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        touch_point_ids=tuple(row["touch_point_ids"]),
        returned_at=row["returned_at"],
    )


class PostgresHandovers(PostgresRepository):
    async def add(self, handover: Handover) -> Handover:
        require_aware("created_at", handover.created_at)
        new_id = await self._db.fetchval(
            """
            INSERT INTO handovers (
                portal_id, from_user_id, to_user_id, first_day, last_day, created_by,
                created_at, touch_point_ids, returned_at
            ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint[], $9)
            RETURNING id
            """,
            handover.portal_id,
            handover.from_user_id,
            handover.to_user_id,
            handover.first_day,
            handover.last_day,
            handover.created_by,
            handover.created_at,
            list(handover.touch_point_ids),
            handover.returned_at,
        )
        return attrs.evolve(handover, id=new_id)

    async def get(self, portal_id: int, handover_id: int) -> Handover | None:
        row = await self._db.fetchrow(
            "SELECT * FROM handovers WHERE portal_id = $1 AND id = $2", portal_id, handover_id
        )
        return None if row is None else handover_from_row(row)

    async def for_portal(self, portal_id: int, *, open_only: bool) -> list[Handover]:
        rows = await self._db.fetch(
            """
            SELECT * FROM handovers
            WHERE portal_id = $1 AND (NOT $2 OR returned_at IS NULL)
            ORDER BY first_day DESC, id DESC
            """,
            portal_id,
            open_only,
        )
        return [handover_from_row(row) for row in rows]

    async def for_digest(self, portal_id: int, *, returned_since: datetime) -> list[Handover]:
        require_aware("returned_since", returned_since)
        rows = await self._db.fetch(
            """
            SELECT * FROM handovers
            WHERE portal_id = $1 AND (returned_at IS NULL OR returned_at >= $2)
            ORDER BY first_day DESC, id DESC
            """,
            portal_id,
            returned_since,
        )
        return [handover_from_row(row) for row in rows]

    async def mark_returned(self, portal_id: int, handover_id: int, *, now: datetime) -> bool:
        return await self._stamp_once("handovers", "returned_at", portal_id, handover_id, now=now)
