"""Undo tokens on Postgres: hashed, scoped by portal, used at most once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import attrs

from touchpoints.adapters.postgres.db import PostgresRepository
from touchpoints.domain.checks import require_aware
from touchpoints.domain.undo import UndoItem, UndoRecord

# Expired records are kept a day (a late redeem then says "expired", not "unknown").
_KEEP_EXPIRED = timedelta(days=1)


def _item_json(item: UndoItem) -> dict[str, Any]:
    return {
        "id": item.touch_point_id,
        "before_deadline": item.before_deadline.isoformat(),
        "before_responsible_id": item.before_responsible_id,
        "after_deadline": item.after_deadline.isoformat(),
        "after_responsible_id": item.after_responsible_id,
    }


def _item(raw: dict[str, Any]) -> UndoItem:
    return UndoItem(
        touch_point_id=raw["id"],
        before_deadline=datetime.fromisoformat(raw["before_deadline"]),
        before_responsible_id=raw["before_responsible_id"],
        after_deadline=datetime.fromisoformat(raw["after_deadline"]),
        after_responsible_id=raw["after_responsible_id"],
    )


def undo_from_row(row: asyncpg.Record) -> UndoRecord:
    """An ``undo_tokens`` row."""
    return UndoRecord(
        id=row["id"],
        portal_id=row["portal_id"],
        user_id=row["user_id"],
        token_hash=bytes(row["token_hash"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        items=tuple(_item(raw) for raw in json.loads(row["items"])),
    )


class PostgresUndo(PostgresRepository):
    async def add(self, record: UndoRecord) -> UndoRecord:
        require_aware("created_at", record.created_at)
        require_aware("expires_at", record.expires_at)
        await self._db.execute(
            "DELETE FROM undo_tokens WHERE portal_id = $1 AND expires_at < $2",
            record.portal_id,
            record.created_at - _KEEP_EXPIRED,
        )
        new_id = await self._db.fetchval(
            """
            INSERT INTO undo_tokens (
                portal_id, user_id, token_hash, created_at, expires_at, used_at, items
            ) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
            RETURNING id
            """,
            record.portal_id,
            record.user_id,
            record.token_hash,
            record.created_at,
            record.expires_at,
            record.used_at,
            json.dumps([_item_json(item) for item in record.items]),
        )
        return attrs.evolve(record, id=new_id)

    async def get(self, portal_id: int, token_hash: bytes) -> UndoRecord | None:
        row = await self._db.fetchrow(
            "SELECT * FROM undo_tokens WHERE portal_id = $1 AND token_hash = $2",
            portal_id,
            token_hash,
        )
        return None if row is None else undo_from_row(row)

    async def use(self, portal_id: int, record_id: int, *, now: datetime) -> bool:
        return await self._stamp_once("undo_tokens", "used_at", portal_id, record_id, now=now)
