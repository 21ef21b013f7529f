"""Undo tokens in memory: hashed, scoped by portal, used at most once."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from touchpoints.adapters.memory.checks import positive, utc
from touchpoints.adapters.memory.transaction import UNDO, Transaction
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.undo import UndoRecord

_KEEP_EXPIRED = timedelta(days=1)


class MemoryUndo:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def add(self, record: UndoRecord) -> UndoRecord:
        # What the schema's CHECKs and the unique hash refuse on Postgres.
        created, expires = (
            utc("created_at", record.created_at),
            utc("expires_at", record.expires_at),
        )
        positive("user_id", record.user_id)
        if len(record.token_hash) != 32 or expires <= created:
            raise InvalidValue({"undo": "a 32-byte hash that expires after its creation"})
        self._tx.require_portal(record.portal_id)
        rows: list[UndoRecord] = self._tx.values(UNDO)
        for row in rows:
            if row.portal_id == record.portal_id and row.expires_at < created - _KEEP_EXPIRED:
                self._tx.delete(UNDO, row.id)
        if any(row.token_hash == record.token_hash for row in rows):
            raise InvalidValue({"token_hash": "is already stored"})
        stored = attrs.evolve(record, id=next(self._tx.committed.undo_ids))
        self._tx.put(UNDO, stored.id, stored)
        return stored

    async def get(self, portal_id: int, token_hash: bytes) -> UndoRecord | None:
        rows: list[UndoRecord] = self._tx.values(UNDO, portal_id)
        return next((row for row in rows if row.token_hash == token_hash), None)

    async def use(self, portal_id: int, record_id: int, *, now: datetime) -> bool:
        at = utc("now", now)
        await self._tx.lock(("undo", record_id))
        row: UndoRecord | None = self._tx.get(UNDO, record_id)
        if row is None or row.portal_id != portal_id or row.used_at is not None:
            return False
        self._tx.put(UNDO, record_id, attrs.evolve(row, used_at=at))
        return True
