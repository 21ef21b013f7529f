"""Undo: what a move, reassignment, bulk action or sweep changed, so it can be put back once."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import attrs

from touchpoints.domain.model import TouchPoint, to_utc

UNDO_TTL = timedelta(minutes=15)
"""How long an undo token works (DESIGN §3.6 asks for at least 10 minutes)."""


def hash_token(token: str) -> bytes:
    """What storage keeps of an undo token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).digest()


@attrs.frozen(kw_only=True)
class UndoItem:
    """One touch-point's deadline and responsible before and after the action."""

    touch_point_id: int
    before_deadline: datetime = attrs.field(converter=to_utc)
    before_responsible_id: int
    after_deadline: datetime = attrs.field(converter=to_utc)
    after_responsible_id: int

    @classmethod
    def of(cls, before: TouchPoint, after: TouchPoint) -> UndoItem:
        return cls(
            touch_point_id=before.id,
            before_deadline=before.deadline,
            before_responsible_id=before.responsible_id,
            after_deadline=after.deadline,
            after_responsible_id=after.responsible_id,
        )

    def changed_since(self, current: TouchPoint) -> bool:
        """Someone (or the CRM) moved, handed over, completed or cancelled it since: undoing
        would overwrite their change, so it is left alone."""
        return (
            not current.is_open
            or current.deadline != self.after_deadline
            or current.responsible_id != self.after_responsible_id
        )

    def restore(self, current: TouchPoint, *, now: datetime) -> TouchPoint:
        """``current`` with the deadline and responsible it had before.

        Raises: InvalidTransition when it is no longer open.
        """
        restored = current
        if current.deadline != self.before_deadline:
            restored = restored.reschedule(self.before_deadline, now=now)
        if current.responsible_id != self.before_responsible_id:
            restored = restored.reassign(self.before_responsible_id, now=now)
        return restored


@attrs.frozen(kw_only=True)
class UndoRecord:
    """An undo token's stored side: who may redeem it, until when, and what it restores."""

    portal_id: int
    user_id: int
    token_hash: bytes
    created_at: datetime = attrs.field(converter=to_utc)
    expires_at: datetime = attrs.field(converter=to_utc)
    items: tuple[UndoItem, ...]
    used_at: datetime | None = attrs.field(
        default=None, converter=attrs.converters.optional(to_utc)
    )
    id: int | None = None

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at
