"""The digest log on Postgres: one row per (portal, user, local day), claimed atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from touchpoints.adapters.postgres.db import PostgresRepository
from touchpoints.adapters.postgres.rows import digest_entry_from_row
from touchpoints.domain.checks import require_aware, require_not_negative
from touchpoints.ports.digests import DigestEntry, DigestState, MessageKind, PortalDay


class PostgresDigestLog(PostgresRepository):
    async def claim(
        self, portal_id: int, user_id: int, local_day: date, *, now: datetime, stale_after_s: float
    ) -> bool:
        # ``claim_many``'s one atomic statement: a concurrent claimer of the same key waits
        # for this row and then re-checks the conflict against what we wrote.
        won = await self.claim_many(
            PortalDay(portal_id, local_day), [user_id], now=now, stale_after_s=stale_after_s
        )
        return won == [user_id]

    async def mark(self, portal_id: int, user_id: int, local_day: date, state: DigestState) -> None:
        await self._db.execute(
            """
            UPDATE digest_log SET state = $4
            WHERE portal_id = $1 AND user_id = $2 AND local_day = $3
            """,
            portal_id,
            user_id,
            local_day,
            state.value,
        )

    async def claim_many(
        self, day: PortalDay, user_ids: Sequence[int], *, now: datetime, stale_after_s: float
    ) -> list[int]:
        require_aware("now", now)
        require_not_negative("stale_after_s", stale_after_s)
        users = sorted(set(user_ids))
        if not users:
            return []
        # ``claim``'s statement for many rows: inserted in user order, so concurrent
        # claimers take the rows' locks in one order and never deadlock; each row's
        # conflict is decided as for one.
        rows = await self._db.fetch(
            """
            INSERT INTO digest_log AS d (portal_id, user_id, local_day, state, claimed_at)
            SELECT $1, u.user_id, $3, 'pending', $4
            FROM unnest($2::bigint[]) AS u (user_id) ORDER BY u.user_id
            ON CONFLICT (portal_id, user_id, local_day) DO UPDATE
            SET state = 'pending', claimed_at = EXCLUDED.claimed_at, attempts = d.attempts + 1
            WHERE d.state = 'failed'
               OR (d.state = 'pending'
                   AND d.claimed_at < EXCLUDED.claimed_at - make_interval(secs => $5))
            RETURNING d.user_id
            """,
            day.portal_id,
            users,
            day.local_day,
            now,
            float(stale_after_s),
        )
        return sorted(row["user_id"] for row in rows)

    async def mark_many(
        self, day: PortalDay, states: Mapping[int, DigestState], *, max_attempts: int
    ) -> int:
        if not states:
            return 0
        users = sorted(states)
        # The count reads the rows as they were before the update (one snapshot), which
        # does not change ``attempts``.
        backed_off = await self._db.fetchval(
            """
            WITH m AS (
                SELECT user_id, state FROM unnest($3::bigint[], $4::text[]) AS m (user_id, state)
            ), updated AS (
                UPDATE digest_log AS d SET state = m.state
                FROM m
                WHERE d.portal_id = $1 AND d.local_day = $2 AND d.user_id = m.user_id
                  AND (m.state <> 'failed' OR d.attempts < $5)
                RETURNING d.user_id
            )
            SELECT count(*) FROM digest_log AS d JOIN m USING (user_id)
            WHERE d.portal_id = $1 AND d.local_day = $2
              AND m.state = 'failed' AND d.attempts >= $5
            """,
            day.portal_id,
            day.local_day,
            users,
            [states[user].value for user in users],
            max_attempts,
        )
        return int(backed_off)

    async def get(self, portal_id: int, user_id: int, local_day: date) -> DigestEntry | None:
        row = await self._db.fetchrow(
            """
            SELECT portal_id, user_id, local_day, state, claimed_at, attempts, message_id,
                   rollup_message_id
            FROM digest_log
            WHERE portal_id = $1 AND user_id = $2 AND local_day = $3
            """,
            portal_id,
            user_id,
            local_day,
        )
        return None if row is None else digest_entry_from_row(row)

    async def due_portals(self, *, now: datetime) -> list[int]:
        require_aware("now", now)
        rows = await self._db.fetch(
            """
            SELECT p.id FROM portals AS p LEFT JOIN digest_days AS d ON d.portal_id = p.id
            WHERE p.status = 'active'
              AND (d.next_at IS NULL OR d.next_at <= $1)
              AND (d.leased_until IS NULL OR d.leased_until <= $1)
            ORDER BY p.id
            """,
            now,
        )
        return [row["id"] for row in rows]

    async def lease(self, portal_id: int, *, now: datetime, until: datetime) -> bool:
        require_aware("now", now)
        require_aware("until", until)
        # One atomic statement: of two runners leasing at once, the second waits for the
        # first's row and then finds its lease unexpired, or the portal settled.
        won = await self._db.fetchval(
            """
            INSERT INTO digest_days AS d (portal_id, leased_until) VALUES ($1, $3)
            ON CONFLICT (portal_id) DO UPDATE SET leased_until = EXCLUDED.leased_until
            WHERE (d.leased_until IS NULL OR d.leased_until <= $2)
              AND (d.next_at IS NULL OR d.next_at <= $2)
            RETURNING true
            """,
            portal_id,
            now,
            until,
        )
        return won is True

    async def schedule(self, portal_id: int, *, next_at: datetime | None) -> None:
        if next_at is not None:
            require_aware("next_at", next_at)
        await self._db.execute(
            """
            INSERT INTO digest_days (portal_id, next_at) VALUES ($1, $2)
            ON CONFLICT (portal_id) DO UPDATE SET next_at = EXCLUDED.next_at, leased_until = NULL
            """,
            portal_id,
            next_at,
        )

    async def settle(self, day: PortalDay, *, next_at: datetime) -> bool:
        require_aware("next_at", next_at)
        # One statement: the check and the write see the same snapshot.
        settled = await self._db.fetchval(
            """
            WITH open AS (
                SELECT EXISTS (
                    SELECT 1 FROM digest_log
                    WHERE portal_id = $1 AND local_day = $2 AND state <> 'sent'
                ) AS claims
            ), written AS (
                INSERT INTO digest_days AS d (portal_id, next_at)
                SELECT $1, CASE WHEN open.claims THEN NULL ELSE $3::timestamptz END FROM open
                ON CONFLICT (portal_id) DO UPDATE
                SET next_at = COALESCE(EXCLUDED.next_at, d.next_at), leased_until = NULL
            )
            SELECT NOT claims FROM open
            """,
            day.portal_id,
            day.local_day,
            next_at,
        )
        return settled is True

    async def set_messages(
        self, day: PortalDay, messages: Mapping[int, int], *, kind: MessageKind = MessageKind.DIGEST
    ) -> None:
        if not messages:
            return
        column = kind.field
        users = sorted(messages)
        await self._db.execute(
            f"""
            UPDATE digest_log AS d SET {column} = m.message_id
            FROM unnest($3::bigint[], $4::bigint[]) AS m (user_id, message_id)
            WHERE d.portal_id = $1 AND d.local_day = $2 AND d.user_id = m.user_id
            """,  # noqa: S608 - the column is one of two literals (MessageKind.field)
            day.portal_id,
            day.local_day,
            users,
            [messages[user] for user in users],
        )

    async def latest_messages(
        self, portal_id: int, user_ids: Sequence[int], *, through: date
    ) -> dict[int, tuple[date, int]]:
        if not user_ids:
            return {}
        rows = await self._db.fetch(
            """
            SELECT DISTINCT ON (user_id) user_id, local_day, message_id FROM digest_log
            WHERE portal_id = $1 AND user_id = ANY($2::bigint[]) AND local_day <= $3
              AND message_id IS NOT NULL
            ORDER BY user_id, local_day DESC
            """,
            portal_id,
            list(user_ids),
            through,
        )
        return {row["user_id"]: (row["local_day"], row["message_id"]) for row in rows}

    async def rollup_messages(self, day: PortalDay, user_ids: Sequence[int]) -> dict[int, int]:
        if not user_ids:
            return {}
        rows = await self._db.fetch(
            """
            SELECT user_id, rollup_message_id FROM digest_log
            WHERE portal_id = $1 AND user_id = ANY($2::bigint[]) AND local_day = $3
              AND rollup_message_id IS NOT NULL
            """,
            day.portal_id,
            list(user_ids),
            day.local_day,
        )
        return {row["user_id"]: row["rollup_message_id"] for row in rows}
