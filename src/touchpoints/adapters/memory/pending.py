"""The pending to-do log in memory."""

from __future__ import annotations

from datetime import datetime

import attrs

from touchpoints.adapters.memory.checks import positive, utc
from touchpoints.adapters.memory.transaction import (
    PENDING,
    TOUCH_POINTS,
    MemoryRepository,
)
from touchpoints.ports.storage import InvalidReference, PendingTodo


class MemoryPendingTodos(MemoryRepository):
    async def add(self, pending: PendingTodo) -> PendingTodo:
        utc("deadline", pending.deadline)
        utc("created_at", pending.created_at)
        for name in ("responsible_id", "created_by"):
            positive(name, getattr(pending, name))
        self._tx.require_portal(pending.portal_id)
        if pending.previous_id is not None and (
            self._tx.get(TOUCH_POINTS, pending.previous_id) is None
            or self._tx.get(TOUCH_POINTS, pending.previous_id).portal_id != pending.portal_id
        ):
            raise InvalidReference(f"no touch-point {pending.previous_id} in this portal")
        stored = attrs.evolve(pending, id=next(self._tx.committed.pending_ids))
        self._tx.put(PENDING, stored.id, stored)
        return stored

    def _mine(self, portal_id: int, pending_id: int) -> PendingTodo | None:
        row: PendingTodo | None = self._tx.get(PENDING, pending_id)
        return row if row is not None and row.portal_id == portal_id else None

    async def set_activity(self, portal_id: int, pending_id: int, activity_id: int) -> None:
        positive("activity_id", activity_id)
        row = self._mine(portal_id, pending_id)
        if row is not None:
            self._tx.put(PENDING, pending_id, attrs.evolve(row, activity_id=activity_id))

    async def delete(self, portal_id: int, pending_id: int) -> None:
        if self._mine(portal_id, pending_id) is not None:
            self._tx.delete(PENDING, pending_id)

    async def older_than(
        self, portal_id: int, before: datetime, *, limit: int = 100
    ) -> list[PendingTodo]:
        cutoff = utc("before", before)
        rows: list[PendingTodo] = self._tx.values(PENDING, portal_id)
        ordered = sorted(
            (r for r in rows if r.created_at < cutoff), key=lambda r: (r.created_at, r.id or 0)
        )
        return ordered[:limit]
