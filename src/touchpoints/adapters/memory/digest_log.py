"""The digest log in memory: one entry per (portal, user, local day), claimed under a lock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import attrs

from touchpoints.adapters.memory.checks import checked_now, positive
from touchpoints.adapters.memory.transaction import (
    DIGEST,
    DIGEST_DAYS,
    PORTALS,
    MemoryRepository,
)
from touchpoints.domain.checks import require_not_negative
from touchpoints.domain.portal import Portal
from touchpoints.ports.digests import DigestEntry, DigestState, MessageKind, PortalDay


@attrs.frozen
class _Day:
    """A portal's digest schedule (``digest_days`` on Postgres)."""

    next_at: datetime | None = None
    leased_until: datetime | None = None


class MemoryDigestLog(MemoryRepository):
    async def claim(
        self, portal_id: int, user_id: int, local_day: date, *, now: datetime, stale_after_s: float
    ) -> bool:
        now = checked_now(now)
        positive("user_id", user_id)
        require_not_negative("stale_after_s", stale_after_s)
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

    async def claim_many(
        self, day: PortalDay, user_ids: Sequence[int], *, now: datetime, stale_after_s: float
    ) -> list[int]:
        won = []
        for user_id in sorted(set(user_ids)):
            if await self.claim(
                day.portal_id, user_id, day.local_day, now=now, stale_after_s=stale_after_s
            ):
                won.append(user_id)
        return won

    async def mark_many(
        self, day: PortalDay, states: Mapping[int, DigestState], *, max_attempts: int
    ) -> int:
        backed_off = 0
        for user_id in sorted(states):
            state = states[user_id]
            if state is DigestState.FAILED:
                entry = await self.get(day.portal_id, user_id, day.local_day)
                if entry is not None and entry.attempts >= max_attempts:
                    backed_off += 1
                    continue
            await self.mark(day.portal_id, user_id, day.local_day, state)
        return backed_off

    async def get(self, portal_id: int, user_id: int, local_day: date) -> DigestEntry | None:
        entry: DigestEntry | None = self._tx.get(DIGEST, (portal_id, user_id, local_day))
        return entry

    async def due_portals(self, *, now: datetime) -> list[int]:
        now = checked_now(now)
        due = []
        portal: Portal
        for portal in self._tx.values(PORTALS):
            day: _Day = self._tx.get(DIGEST_DAYS, portal.id) or _Day()
            if not portal.is_active or (day.next_at is not None and day.next_at > now):
                continue
            if day.leased_until is None or day.leased_until <= now:
                due.append(portal.id)
        return sorted(due)

    async def lease(self, portal_id: int, *, now: datetime, until: datetime) -> bool:
        now, until = checked_now(now), checked_now(until)
        await self._tx.lock(("digest_days", portal_id))
        self._tx.require_portal(portal_id)
        day: _Day = self._tx.get(DIGEST_DAYS, portal_id) or _Day()
        if day.leased_until is not None and day.leased_until > now:
            return False
        if day.next_at is not None and day.next_at > now:
            return False
        self._tx.put(DIGEST_DAYS, portal_id, attrs.evolve(day, leased_until=until))
        return True

    async def schedule(self, portal_id: int, *, next_at: datetime | None) -> None:
        if next_at is not None:
            next_at = checked_now(next_at)
        await self._tx.lock(("digest_days", portal_id))
        self._tx.require_portal(portal_id)
        self._tx.put(DIGEST_DAYS, portal_id, _Day(next_at=next_at))

    async def settle(self, day: PortalDay, *, next_at: datetime) -> bool:
        open_claims = any(
            entry.local_day == day.local_day and entry.state is not DigestState.SENT
            for entry in self._tx.values(DIGEST, day.portal_id)
        )
        if open_claims:
            current: _Day = self._tx.get(DIGEST_DAYS, day.portal_id) or _Day()
            await self.schedule(day.portal_id, next_at=current.next_at)
            return False
        await self.schedule(day.portal_id, next_at=next_at)
        return True

    async def set_messages(
        self, day: PortalDay, messages: Mapping[int, int], *, kind: MessageKind = MessageKind.DIGEST
    ) -> None:
        for user_id in sorted(messages):
            key = (day.portal_id, user_id, day.local_day)
            await self._tx.lock(("digest", *key))
            entry: DigestEntry | None = self._tx.get(DIGEST, key)
            if entry is not None:
                kept = messages[user_id]
                positive(kind.field, kept)
                if kind is MessageKind.DIGEST:
                    entry = attrs.evolve(entry, message_id=kept)
                else:
                    entry = attrs.evolve(entry, rollup_message_id=kept)
                self._tx.put(DIGEST, key, entry)

    async def latest_messages(
        self, portal_id: int, user_ids: Sequence[int], *, through: date
    ) -> dict[int, tuple[date, int]]:
        wanted = set(user_ids)
        latest: dict[int, tuple[date, int]] = {}
        for entry in self._tx.values(DIGEST, portal_id):
            if entry.user_id not in wanted or entry.message_id is None:
                continue
            if entry.local_day > through:
                continue
            if entry.user_id not in latest or latest[entry.user_id][0] < entry.local_day:
                latest[entry.user_id] = (entry.local_day, entry.message_id)
        return latest

    async def rollup_messages(self, day: PortalDay, user_ids: Sequence[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for user_id in user_ids:
            key = (day.portal_id, user_id, day.local_day)
            entry: DigestEntry | None = self._tx.get(DIGEST, key)
            if entry is not None and entry.rollup_message_id is not None:
                found[user_id] = entry.rollup_message_id
        return found
