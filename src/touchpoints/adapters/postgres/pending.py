"""The pending to-do log on Postgres: attempts written before the CRM call, removed once recorded."""

from __future__ import annotations

from datetime import datetime

import attrs

from touchpoints.adapters.postgres.db import PostgresRepository
from touchpoints.adapters.postgres.rows import pending_todo_from_row
from touchpoints.domain.checks import require_aware
from touchpoints.ports.storage import PendingTodo


class PostgresPendingTodos(PostgresRepository):
    async def add(self, pending: PendingTodo) -> PendingTodo:
        require_aware("deadline", pending.deadline)
        require_aware("created_at", pending.created_at)
        new_id = await self._db.fetchval(
            """
            INSERT INTO pending_todos (
                portal_id, owner_type, owner_id, type, deadline, responsible_id, created_by,
                previous_id, activity_id, created_at
            ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            RETURNING id
            """,
            pending.portal_id,
            pending.owner.type.value,
            pending.owner.id,
            pending.type.value,
            pending.deadline,
            pending.responsible_id,
            pending.created_by,
            pending.previous_id,
            pending.activity_id,
            pending.created_at,
        )
        return attrs.evolve(pending, id=new_id)

    async def set_activity(self, portal_id: int, pending_id: int, activity_id: int) -> None:
        await self._db.execute(
            "UPDATE pending_todos SET activity_id = $3 WHERE portal_id = $1 AND id = $2",
            portal_id,
            pending_id,
            activity_id,
        )

    async def delete(self, portal_id: int, pending_id: int) -> None:
        await self._db.execute(
            "DELETE FROM pending_todos WHERE portal_id = $1 AND id = $2", portal_id, pending_id
        )

    async def older_than(
        self, portal_id: int, before: datetime, *, limit: int = 100
    ) -> list[PendingTodo]:
        require_aware("before", before)
        rows = await self._db.fetch(
            """
            SELECT * FROM pending_todos
            WHERE portal_id = $1 AND created_at < $2
            ORDER BY created_at, id
            LIMIT $3
            """,
            portal_id,
            before,
            limit,
        )
        return [pending_todo_from_row(row) for row in rows]
