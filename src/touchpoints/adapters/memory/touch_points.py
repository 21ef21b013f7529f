"""Touch-points in memory: unique activities, unforked chains, optimistic versions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs

from touchpoints.adapters.memory.checks import text, utc, utc_or_none
from touchpoints.adapters.memory.transaction import TOUCH_POINTS, MemoryRepository
from touchpoints.domain.checks import require_not_negative
from touchpoints.domain.errors import ChainError
from touchpoints.domain.model import NewTouchPoint, OwnerRef, Status, TouchPoint
from touchpoints.ports.storage import (
    BoardQuery,
    ConcurrentUpdate,
    DuplicateActivity,
    InvalidReference,
    ListQuery,
)


def _sorted(rows: list[TouchPoint], key: Callable[[TouchPoint], Any]) -> list[TouchPoint]:
    return sorted(rows, key=key)


class MemoryTouchPoints(MemoryRepository):
    def _of(self, portal_id: int) -> list[TouchPoint]:
        rows: list[TouchPoint] = self._tx.values(TOUCH_POINTS, portal_id)
        return rows

    def _in_portal(self, portal_id: int, touch_point_id: int) -> TouchPoint | None:
        tp: TouchPoint | None = self._tx.get(TOUCH_POINTS, touch_point_id)
        return tp if tp is not None and tp.portal_id == portal_id else None

    async def _check_links(self, tp: TouchPoint | NewTouchPoint, self_id: int | None) -> None:
        """Chain links name touch-points of the same portal; no two share a link (no fork)."""
        links = {"previous_id": tp.previous_id}
        if isinstance(tp, TouchPoint):
            links["next_id"] = tp.next_id
        for field, linked in links.items():
            if linked is None:
                continue
            await self._tx.lock((field, tp.portal_id, linked))
            if self._in_portal(tp.portal_id, linked) is None:
                raise InvalidReference(f"{field} {linked} is not a touch-point of this portal")
            taken = any(
                getattr(other, field) == linked and other.id != self_id
                for other in self._of(tp.portal_id)
            )
            if taken:
                raise ChainError(self_id or linked, "the linked touch-point is already chained")

    def _check_text(self, tp: TouchPoint) -> None:
        text("result_note", tp.result_note)

    async def add(self, new: NewTouchPoint) -> TouchPoint:
        self._tx.require_portal(new.portal_id)
        await self._tx.lock(("activity", new.portal_id, new.activity_id))
        if await self.by_activity(new.portal_id, new.activity_id) is not None:
            raise DuplicateActivity("a touch-point for this activity is already stored")
        await self._check_links(new, None)
        tp = TouchPoint.from_new(new, next(self._tx.committed.touch_point_ids))
        self._tx.put(TOUCH_POINTS, tp.id, tp)
        return tp

    async def get(self, portal_id: int, touch_point_id: int) -> TouchPoint | None:
        return self._in_portal(portal_id, touch_point_id)

    async def get_for_update(self, portal_id: int, touch_point_id: int) -> TouchPoint | None:
        await self._tx.lock(("touch_point", touch_point_id))
        return self._in_portal(portal_id, touch_point_id)

    async def by_activity(self, portal_id: int, activity_id: int) -> TouchPoint | None:
        return next((tp for tp in self._of(portal_id) if tp.activity_id == activity_id), None)

    async def by_activities(self, portal_id: int, activity_ids: Sequence[int]) -> list[TouchPoint]:
        wanted = set(activity_ids)
        return _sorted(
            [tp for tp in self._of(portal_id) if tp.activity_id in wanted], lambda tp: tp.id
        )

    async def update(self, touch_point: TouchPoint) -> TouchPoint:
        tp = touch_point
        self._check_text(tp)
        await self._tx.lock(("touch_point", tp.id))
        current = self._in_portal(tp.portal_id, tp.id)
        if current is None:
            raise InvalidReference(f"no touch-point {tp.id} in portal {tp.portal_id}")
        if current.version != tp.version:
            raise ConcurrentUpdate(f"touch-point {tp.id} changed since version {tp.version}")
        if tp.activity_id != current.activity_id:
            await self._tx.lock(("activity", tp.portal_id, tp.activity_id))
            other = await self.by_activity(tp.portal_id, tp.activity_id)
            if other is not None and other.id != tp.id:
                raise DuplicateActivity("a touch-point for this activity is already stored")
        await self._check_links(tp, tp.id)
        stored = attrs.evolve(
            tp,
            created_by=current.created_by,
            created_at=current.created_at,
            version=current.version + 1,
        )
        self._tx.put(TOUCH_POINTS, tp.id, stored)
        return stored

    async def update_synced(
        self, portal_id: int, touch_points: Sequence[TouchPoint]
    ) -> list[TouchPoint]:
        stored: list[TouchPoint] = []
        for tp in sorted(touch_points, key=lambda tp: tp.id):
            if tp.portal_id != portal_id:
                continue
            utc("deadline", tp.deadline)
            utc("updated_at", tp.updated_at)
            utc_or_none("completed_at", tp.completed_at)
            await self._tx.lock(("touch_point", tp.id))
            current = self._in_portal(portal_id, tp.id)
            if current is None or current.version != tp.version:
                continue
            synced = attrs.evolve(
                current,
                status=tp.status,
                deadline=tp.deadline,
                responsible_id=tp.responsible_id,
                completed_at=tp.completed_at,
                updated_at=tp.updated_at,
                version=current.version + 1,
            )
            self._tx.put(TOUCH_POINTS, tp.id, synced)
            stored.append(synced)
        return stored

    async def board(self, portal_id: int, query: BoardQuery) -> list[TouchPoint]:
        return self._filtered(portal_id, query)

    async def for_owner(self, portal_id: int, owner: OwnerRef) -> list[TouchPoint]:
        rows = [tp for tp in self._of(portal_id) if tp.owner == owner]
        return _sorted(rows, lambda tp: (tp.deadline, tp.id))[::-1]

    async def chain(self, portal_id: int, touch_point_id: int) -> list[TouchPoint]:
        start = self._in_portal(portal_id, touch_point_id)
        if start is None:
            return []
        rows = self._of(portal_id)
        found = {start.id: start}
        frontier = [start]
        while frontier:
            current = frontier.pop()
            for tp in rows:
                linked = tp.id in (current.previous_id, current.next_id) or current.id in (
                    tp.previous_id,
                    tp.next_id,
                )
                if linked and tp.id not in found:
                    found[tp.id] = tp
                    frontier.append(tp)
        return _sorted(list(found.values()), lambda tp: (tp.created_at, tp.id))

    async def open_page(self, portal_id: int, *, after_id: int, limit: int) -> list[TouchPoint]:
        require_not_negative("limit", limit)
        rows = [tp for tp in self._of(portal_id) if tp.status is Status.OPEN and tp.id > after_id]
        return _sorted(rows, lambda tp: tp.id)[:limit]

    async def in_period(self, portal_id: int, start: datetime, end: datetime) -> list[TouchPoint]:
        low, high = utc("start", start), utc("end", end)

        def within(moment: datetime | None) -> bool:
            return moment is not None and low <= moment < high

        rows = [
            tp
            for tp in self._of(portal_id)
            if within(tp.created_at) or within(tp.deadline) or within(tp.completed_at)
        ]
        return _sorted(rows, lambda tp: (tp.deadline, tp.id))

    async def all(self, portal_id: int) -> list[TouchPoint]:
        return _sorted(self._of(portal_id), lambda tp: tp.id)

    async def page(self, portal_id: int, query: ListQuery) -> list[TouchPoint]:
        return self._filtered(portal_id, query)

    def _filtered(self, portal_id: int, query: BoardQuery | ListQuery) -> list[TouchPoint]:
        """A board's or a list page's rows, by deadline then id."""
        start = utc_or_none("deadline_from", query.deadline_from)
        end = utc_or_none("deadline_before", query.deadline_before)
        after = None
        if isinstance(query, ListQuery) and query.after is not None:
            after = (utc("after", query.after.deadline), query.after.id)
        require_not_negative("limit", query.limit)
        rows = [
            tp
            for tp in self._of(portal_id)
            if (query.statuses is None or tp.status in query.statuses)
            and (query.responsible_ids is None or tp.responsible_id in query.responsible_ids)
            and (start is None or tp.deadline >= start)
            and (end is None or tp.deadline < end)
            and (query.owner_type is None or tp.owner.type == query.owner_type)
            and (query.type is None or tp.type is query.type)
            and (after is None or (tp.deadline, tp.id) > after)
        ]
        return _sorted(rows, lambda tp: (tp.deadline, tp.id))[: query.limit]

    async def by_ids(self, portal_id: int, touch_point_ids: Sequence[int]) -> list[TouchPoint]:
        found = (self._in_portal(portal_id, tp_id) for tp_id in set(touch_point_ids))
        return _sorted([tp for tp in found if tp is not None], lambda tp: tp.id)
