"""Hand-overs in memory, scoped by portal, closed at most once."""

from __future__ import annotations

from datetime import datetime

import attrs

from touchpoints.adapters.memory.checks import positive, utc
from touchpoints.adapters.memory.transaction import HANDOVERS, Transaction
from touchpoints.domain.handover import Handover


class MemoryHandovers:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def add(self, handover: Handover) -> Handover:
        utc("created_at", handover.created_at)
        for name in ("from_user_id", "to_user_id", "created_by"):
            positive(name, getattr(handover, name))
        self._tx.require_portal(handover.portal_id)
        stored = attrs.evolve(handover, id=next(self._tx.committed.handover_ids))
        self._tx.put(HANDOVERS, stored.id, stored)
        return stored

    async def get(self, portal_id: int, handover_id: int) -> Handover | None:
        row: Handover | None = self._tx.get(HANDOVERS, handover_id)
        return row if row is not None and row.portal_id == portal_id else None

    async def for_portal(self, portal_id: int, *, open_only: bool) -> list[Handover]:
        rows: list[Handover] = self._tx.values(HANDOVERS, portal_id)
        found = [row for row in rows if not open_only or row.returned_at is None]
        return sorted(found, key=lambda row: (row.first_day, row.id or 0), reverse=True)

    async def for_digest(self, portal_id: int, *, returned_since: datetime) -> list[Handover]:
        since = utc("returned_since", returned_since)
        rows: list[Handover] = self._tx.values(HANDOVERS, portal_id)
        found = [row for row in rows if row.returned_at is None or row.returned_at >= since]
        return sorted(found, key=lambda row: (row.first_day, row.id or 0), reverse=True)

    async def mark_returned(self, portal_id: int, handover_id: int, *, now: datetime) -> bool:
        at = utc("now", now)
        await self._tx.lock(("handover", handover_id))
        row = await self.get(portal_id, handover_id)
        if row is None or row.returned_at is not None:
            return False
        self._tx.put(HANDOVERS, handover_id, attrs.evolve(row, returned_at=at))
        return True
