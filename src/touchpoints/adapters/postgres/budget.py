"""The abuse budget on Postgres: one row per key, a fixed window shared by every replica."""

from __future__ import annotations

from datetime import datetime

from touchpoints.adapters.postgres.db import PostgresRepository
from touchpoints.domain.checks import require_aware


class PostgresAbuseBudget(PostgresRepository):
    """``AbuseBudget``: an upsert that starts a new window or adds to the current one.

    The row is locked by the upsert itself, so two replicas spending from one key at the
    same moment are serialised and the limit holds exactly.
    """

    async def take(self, key: str, cost: int, *, limit: int, window_start: datetime) -> bool:
        require_aware("window_start", window_start)
        if cost > limit:
            return False
        # The conditional DO UPDATE returns no row when the window's limit would be passed.
        used = await self._db.fetchval(
            """
            INSERT INTO abuse_budget AS b (key, window_start, used) VALUES ($1, $2, $3)
            ON CONFLICT (key) DO UPDATE SET
                window_start = greatest(b.window_start, excluded.window_start),
                used = CASE
                    WHEN b.window_start < excluded.window_start THEN excluded.used
                    ELSE b.used + excluded.used
                END
            WHERE b.window_start < excluded.window_start OR b.used + excluded.used <= $4
            RETURNING used
            """,
            key,
            window_start,
            cost,
            limit,
        )
        return used is not None

    async def refund(self, key: str, cost: int, *, window_start: datetime) -> None:
        require_aware("window_start", window_start)
        await self._db.execute(
            "UPDATE abuse_budget SET used = greatest(used - $3, 0)"
            " WHERE key = $1 AND window_start = $2",
            key,
            window_start,
            cost,
        )
