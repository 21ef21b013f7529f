"""``PostgresEventInbox``: the event inbox as one table, a statement per operation.

Its pool is its own (small, like the rate budget's), so recording an event never queues
behind units of work waiting on Bitrix24. Commits are durable: a recorded event survives
the process being killed right after it answered.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from touchpoints.adapters.postgres.db import SidePoolAdapter, pool_errors
from touchpoints.ports.event_inbox import InboxEntry

_RECORD = """
INSERT INTO event_inbox AS i (portal_id, activity_id, received_at, claimed_until)
VALUES ($1, $2, clock_timestamp(), clock_timestamp() + make_interval(secs => $3))
ON CONFLICT (portal_id, activity_id) DO UPDATE
SET received_at = greatest(i.received_at, excluded.received_at),
    claimed_until = excluded.claimed_until
RETURNING portal_id, activity_id, received_at
"""

_CLAIM = """
UPDATE event_inbox i
SET claimed_until = clock_timestamp() + make_interval(secs => $2)
FROM (
    SELECT portal_id, activity_id FROM event_inbox
    WHERE claimed_until IS NULL OR claimed_until < clock_timestamp()
    ORDER BY received_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
) due
WHERE i.portal_id = due.portal_id AND i.activity_id = due.activity_id
RETURNING i.portal_id, i.activity_id, i.received_at
"""

_DONE = """
DELETE FROM event_inbox i
USING unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS d(portal_id, activity_id, at)
WHERE i.portal_id = d.portal_id AND i.activity_id = d.activity_id AND i.received_at <= d.at
"""


def _entry(row: asyncpg.Record) -> InboxEntry:
    return InboxEntry(
        portal_id=row["portal_id"], activity_id=row["activity_id"], received_at=row["received_at"]
    )


class PostgresEventInbox(SidePoolAdapter):
    """Implements ``EventInbox``. Build with ``await PostgresEventInbox.open(...)``."""

    POOL_NAME = "touchpoints-event-inbox"

    async def record(self, portal_id: int, activity_id: int, *, lease_s: float) -> InboxEntry:
        with pool_errors():
            row = await self._pool.fetchrow(_RECORD, portal_id, activity_id, float(lease_s))
        assert row is not None  # INSERT ... RETURNING always answers a row
        return _entry(row)

    async def claim(self, *, limit: int, lease_s: float) -> list[InboxEntry]:
        with pool_errors():
            rows = await self._pool.fetch(_CLAIM, limit, float(lease_s))
        return [_entry(row) for row in rows]

    async def done(self, entries: Sequence[InboxEntry]) -> None:
        if not entries:
            return
        with pool_errors():
            await self._pool.execute(
                _DONE,
                [e.portal_id for e in entries],
                [e.activity_id for e in entries],
                [e.received_at for e in entries],
            )
