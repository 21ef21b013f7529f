"""The abuse budget in memory: counted at once, outside the unit of work's transaction."""

from __future__ import annotations

from datetime import datetime

from touchpoints.adapters.memory.checks import text, utc
from touchpoints.adapters.memory.transaction import Transaction


class MemoryAbuseBudget:
    def __init__(self, tx: Transaction) -> None:
        self._rows = tx.committed.budget

    async def take(self, key: str, cost: int, *, limit: int, window_start: datetime) -> bool:
        start = utc("window_start", window_start)
        text("key", key, minimum=1, maximum=128)
        if cost > limit:
            return False
        current_start, used = self._rows.get(key, (start, 0))
        if current_start < start:
            current_start, used = start, 0
        if used + cost > limit:
            return False
        self._rows[key] = (current_start, used + cost)
        return True

    async def refund(self, key: str, cost: int, *, window_start: datetime) -> None:
        start = utc("window_start", window_start)
        row = self._rows.get(key)
        if row is not None and row[0] == start:
            self._rows[key] = (start, max(0, row[1] - cost))
