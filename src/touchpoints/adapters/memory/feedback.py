"""Users' feedback messages in memory."""

from __future__ import annotations

from datetime import datetime

import attrs

from touchpoints.adapters.memory.checks import (
    EMAIL_MAX,
    EMAIL_MIN,
    FEEDBACK_MESSAGE_MAX,
    positive,
    text,
    utc,
    utc_or_none,
)
from touchpoints.adapters.memory.transaction import FEEDBACK, MemoryRepository
from touchpoints.ports.storage import Feedback


class MemoryFeedback(MemoryRepository):
    async def add(self, feedback: Feedback) -> Feedback:
        created_at = utc("created_at", feedback.created_at)
        positive("user_id", feedback.user_id)
        text("message", feedback.message, minimum=1, maximum=FEEDBACK_MESSAGE_MAX)
        text("email", feedback.email, minimum=EMAIL_MIN, maximum=EMAIL_MAX)
        self._tx.require_portal(feedback.portal_id)
        stored = attrs.evolve(
            feedback, id=next(self._tx.committed.feedback_ids), created_at=created_at
        )
        self._tx.put(FEEDBACK, stored.id, stored)
        return stored

    async def count_since(self, portal_id: int, user_id: int, since: datetime) -> int:
        start = utc("since", since)
        rows: list[Feedback] = self._tx.values(FEEDBACK, portal_id)
        return sum(1 for f in rows if f.user_id == user_id and f.created_at >= start)

    async def for_portal(self, portal_id: int) -> list[Feedback]:
        rows: list[Feedback] = self._tx.values(FEEDBACK, portal_id)
        return sorted(rows, key=lambda f: (f.created_at, f.id or 0))

    async def since(self, since: datetime | None) -> list[Feedback]:
        start = utc_or_none("since", since)
        rows: list[Feedback] = self._tx.values(FEEDBACK)
        return sorted(
            (f for f in rows if start is None or f.created_at >= start),
            key=lambda f: (f.created_at, f.id or 0),
        )
