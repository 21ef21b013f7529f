"""Users' feedback messages on Postgres."""

from __future__ import annotations

from datetime import datetime

import attrs

from touchpoints.adapters.postgres.db import PostgresRepository
from touchpoints.adapters.postgres.rows import feedback_from_row
from touchpoints.domain.checks import require_aware
from touchpoints.ports.storage import Feedback


class PostgresFeedback(PostgresRepository):
    async def add(self, feedback: Feedback) -> Feedback:
        require_aware("created_at", feedback.created_at)
        new_id = await self._db.fetchval(
            """
            INSERT INTO feedback (portal_id, user_id, message, email, created_at)
            VALUES ($1, $2, $3, $4, $5)
            RETURNING id
            """,
            feedback.portal_id,
            feedback.user_id,
            feedback.message,
            feedback.email,
            feedback.created_at,
        )
        return attrs.evolve(feedback, id=new_id)

    async def count_since(self, portal_id: int, user_id: int, since: datetime) -> int:
        require_aware("since", since)
        count = await self._db.fetchval(
            """
            SELECT count(*) FROM feedback
            WHERE portal_id = $1 AND user_id = $2 AND created_at >= $3
            """,
            portal_id,
            user_id,
            since,
        )
        return int(count)

    async def for_portal(self, portal_id: int) -> list[Feedback]:
        rows = await self._db.fetch(
            "SELECT * FROM feedback WHERE portal_id = $1 ORDER BY created_at, id",
            portal_id,
        )
        return [feedback_from_row(row) for row in rows]

    async def since(self, since: datetime | None) -> list[Feedback]:
        require_aware("since", since)
        if since is None:
            rows = await self._db.fetch("SELECT * FROM feedback ORDER BY created_at, id")
        else:
            rows = await self._db.fetch(
                "SELECT * FROM feedback WHERE created_at >= $1 ORDER BY created_at, id",
                since,
            )
        return [feedback_from_row(row) for row in rows]
