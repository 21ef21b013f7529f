"""The digest log in memory: one entry per (portal, user, local day), claimed under a lock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import attrs

from touchpoints.adapters.memory.checks import checked_now, positive
from touchpoints.adapters.memory.transaction import DIGEST, MemoryRepository
from touchpoints.domain.errors import InvalidValue
from touchpoints.ports.storage import DigestEntry, DigestState


class MemoryDigestLog(MemoryRepository):
    async def claim(
        self, portal_id: int, user_id: int, local_day: date, *, now: datetime, stale_after_s: float
    ) -> bool:
        now = checked_now(now)
        positive("user_id", user_id)
        if stale_after_s < 0:
            raise InvalidValue({"stale_after_s": "must not be negative"})
        key = (portal_id, user_id, local_day)
        await self._tx.lock(("digest", *key))
        self._tx.require_portal(portal_id)
        entry: DigestEntry | None = self._tx.get(DIGEST, key)
        if entry is None:
            claimed = DigestEntry(
                portal_id=portal_id,
                user_id=user_id,
                local_day=local_day,
                state=DigestState.PENDING,
                claimed_at=now,
            )
        elif entry.state is DigestState.FAILED or (
            entry.state is DigestState.PENDING
            and entry.claimed_at < now - timedelta(seconds=stale_after_s)
        ):
            claimed = attrs.evolve(
                entry, state=DigestState.PENDING, claimed_at=now, attempts=entry.attempts + 1
            )
        else:
            return False
        self._tx.put(DIGEST, key, claimed)
        return True

    async def mark(self, portal_id: int, user_id: int, local_day: date, state: DigestState) -> None:
        key = (portal_id, user_id, local_day)
        await self._tx.lock(("digest", *key))
        entry: DigestEntry | None = self._tx.get(DIGEST, key)
        if entry is not None:
            self._tx.put(DIGEST, key, attrs.evolve(entry, state=state))

    async def get(self, portal_id: int, user_id: int, local_day: date) -> DigestEntry | None:
        entry: DigestEntry | None = self._tx.get(DIGEST, (portal_id, user_id, local_day))
        return entry
