"""``PostgresRateBudget``: each portal's Bitrix24 bucket as one row, one statement per request.

The row is locked for the length of one statement only, so processes queue on it in
arrival order and a busy portal never holds up another's row. The waits are slept by the
caller, holding no connection. The pool is the budget's own, small and separate from the
units of work, so a request that waits for a slot never starves them, nor they it.
"""

from __future__ import annotations

from touchpoints.adapters.postgres.db import SidePoolAdapter, pool_errors
from touchpoints.ports.rate_budget import Admission

# The level drains continuously from ``updated_at``; a reservation lifts it by one. The
# decision is made on the row locked FOR UPDATE, so concurrent statements of every process
# see each other's reservations (READ COMMITTED re-reads the locked row's latest version).
_ADMIT = """
WITH portal AS (
    SELECT id FROM portals WHERE member_id = $1
), bucket AS (
    SELECT b.portal_id,
           greatest(0, b.level - extract(epoch FROM clock_timestamp() - b.updated_at) * $4)
               AS drained,
           greatest(0, coalesce((b.paused ->> $2)::float8, 0)
                       - extract(epoch FROM clock_timestamp())) AS paused_s
    FROM b24_rate_budget b JOIN portal p ON p.id = b.portal_id
    FOR UPDATE OF b
), decided AS (
    SELECT portal_id, drained, paused_s,
           greatest(0, (drained + 1 - $3) / $4) AS wait_s,
           paused_s = 0 AND greatest(0, (drained + 1 - $3) / $4) <= $5 AS reserved
    FROM bucket
), changed AS (
    UPDATE b24_rate_budget b
    SET level = d.drained + CASE WHEN d.reserved THEN 1 ELSE 0 END,
        updated_at = clock_timestamp()
    FROM decided d
    WHERE b.portal_id = d.portal_id
)
SELECT p.id AS portal_id, d.reserved, d.wait_s, d.paused_s
FROM portal p LEFT JOIN decided d ON d.portal_id = p.id
"""

_CREATE = """
INSERT INTO b24_rate_budget (portal_id, level, updated_at)
VALUES ($1, 0, clock_timestamp())
ON CONFLICT (portal_id) DO NOTHING
"""

_SATURATE = """
UPDATE b24_rate_budget b
SET level = greatest(
        $2::float8,
        greatest(0, b.level - extract(epoch FROM clock_timestamp() - b.updated_at) * $3)
    ),
    updated_at = clock_timestamp()
FROM portals p
WHERE p.member_id = $1 AND b.portal_id = p.id
"""

# Expired pauses are dropped whenever one is written, so the map stays as small as the
# number of methods paused right now.
_PAUSE = """
UPDATE b24_rate_budget b
SET paused = (
        SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
        FROM jsonb_each(b.paused) e
        WHERE e.key <> $2 AND (e.value)::float8 > extract(epoch FROM clock_timestamp())
    ) || jsonb_build_object(
        $2::text,
        greatest(
            coalesce((b.paused ->> $2)::float8, 0),
            extract(epoch FROM clock_timestamp()) + $3::float8
        )
    )
FROM portals p
WHERE p.member_id = $1 AND b.portal_id = p.id
"""


class PostgresRateBudget(SidePoolAdapter):
    """Implements ``RateBudget`` on Postgres. Build with ``await PostgresRateBudget.open(...)``."""

    POOL_NAME = "touchpoints-rate-budget"

    @classmethod
    def server_settings(cls, *, statement_cache: bool) -> dict[str, str]:
        """A reservation is worth nothing after a crash (the bucket drains within seconds),
        so its commit does not wait for the WAL flush: ``synchronous_commit`` is off for
        these connections. That is a startup parameter, which a transaction-mode pooler
        refuses, so ``statement_cache=False`` (the pooler's setting) leaves it at the
        server's default.
        """
        return {"synchronous_commit": "off"} if statement_cache else {}

    async def admit(
        self, key: str, method: str, *, capacity: float, drain_per_s: float, max_wait_s: float
    ) -> Admission | None:
        args = (key, method, float(capacity), float(drain_per_s), float(max_wait_s))
        with pool_errors():
            row = await self._pool.fetchrow(_ADMIT, *args)
            if row is None:
                return None
            if row["reserved"] is None:
                # The portal's first request since it was stored: make its row, then ask again.
                await self._pool.execute(_CREATE, row["portal_id"])
                row = await self._pool.fetchrow(_ADMIT, *args)
        if row is None or row["reserved"] is None:
            return None
        return Admission(
            reserved=bool(row["reserved"]),
            wait_s=float(row["wait_s"]),
            paused_s=float(row["paused_s"]),
        )

    async def saturate(self, key: str, *, capacity: float, drain_per_s: float) -> None:
        with pool_errors():
            await self._pool.execute(_SATURATE, key, float(capacity), float(drain_per_s))

    async def pause(self, key: str, method: str, seconds: float) -> None:
        with pool_errors():
            await self._pool.execute(_PAUSE, key, method, max(0.0, float(seconds)))
