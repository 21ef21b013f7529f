"""Coalesced convergence of our touch-points to their CRM activities after events.

Bitrix24 sends one event per change and never retries (BITRIX24.md §9.3), and a burst of
1,000 changes means 1,000 calls. Fetching each activity on its own would spend the portal's
rate limit one request per event; instead the activity ids of a portal are gathered for a
moment and fetched together (the adapter packs up to 2,500 ids into one ``batch``). An
event handler waits a short while for its own id to be synced so a quiet portal sees the
change at once, and answers anyway when Bitrix24 is slow: the worker finishes the job.

With an ``EventInbox`` (Postgres), each event is recorded before it is answered and
forgotten once synced; whatever a crashed process leaves there, any process takes over
(``take_over``) once its lease runs out. Without one, reconciliation repairs what a crash
loses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

import attrs

from touchpoints.domain.crm import Activity
from touchpoints.domain.model import TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import Crm, CrmConnector, CrmError
from touchpoints.ports.event_inbox import EventInbox, InboxEntry
from touchpoints.ports.storage import ConcurrentUpdate, Storage, StorageError

log = logging.getLogger("touchpoints.events")

MAX_IDS_PER_FETCH = 2_500
GATHER_WINDOW_S = 0.02
WRITE_ATTEMPTS = 3
# How long the receiving process has an event to itself before any process may take it.
RECEIVED_LEASE_S = 5.0


@attrs.define
class _PortalQueue:
    portal: Portal
    waiting: dict[int, list[asyncio.Future[str]]] = attrs.field(factory=dict)
    worker: asyncio.Task[None] | None = None
    entries: dict[int, InboxEntry] = attrs.field(factory=dict)


class ActivitySync:
    """Per-portal queues of activity ids to converge, each drained by one worker task."""

    def __init__(
        self,
        storage: Storage,
        connector: CrmConnector,
        clock: Clock,
        *,
        gather_window_s: float = GATHER_WINDOW_S,
        inbox: EventInbox | None = None,
        received_lease_s: float = RECEIVED_LEASE_S,
    ) -> None:
        self._storage = storage
        self._connector = connector
        self._clock = clock
        self._window = gather_window_s
        self._queues: dict[int, _PortalQueue] = {}
        self._inbox = inbox
        self._lease_s = received_lease_s

    async def activity_changed(
        self, portal: Portal, activity_id: int, *, ours: bool | None = None
    ) -> asyncio.Future[str] | None:
        """Queue a fetch of ``activity_id`` if it backs one of our touch-points.

        Update and delete events alike: an event is a hint, the fetch decides. ``ours``:
        whether it does, when the caller read it already (None: look it up).

        Returns a future resolved with ``synced``/``unchanged``/``orphaned``/``failed`` once
        the worker is through, or None for activities that are not ours (no REST call).
        """
        if ours is None:
            async with self._storage.reading() as uow:
                ours = await uow.touch_points.by_activity(portal.id, activity_id) is not None
        if not ours:
            return None
        entry = None
        if self._inbox is not None:
            # Durable before the 2xx: a crash from here on loses nothing.
            entry = await self._inbox.record(portal.id, activity_id, lease_s=self._lease_s)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._enqueue(portal, activity_id, entry).append(future)
        return future

    async def take_over(self, entries: list[InboxEntry]) -> int:
        """Queue inbox entries another process (or an earlier life of this one) left.

        Returns how many were queued; entries of portals no longer stored are forgotten.
        """
        by_portal: dict[int, list[InboxEntry]] = {}
        for entry in entries:
            by_portal.setdefault(entry.portal_id, []).append(entry)
        queued, gone = 0, []
        for portal_id, portal_entries in by_portal.items():
            async with self._storage.unit_of_work() as uow:
                portal = await uow.portals.get(portal_id)
            if portal is None:
                gone.extend(portal_entries)
                continue
            for entry in portal_entries:
                self._enqueue(portal, entry.activity_id, entry)
                queued += 1
        if gone and self._inbox is not None:
            await self._inbox.done(gone)
        return queued

    def _enqueue(
        self, portal: Portal, activity_id: int, entry: InboxEntry | None
    ) -> list[asyncio.Future[str]]:
        queue = self._queues.get(portal.id)
        if queue is None:
            queue = self._queues[portal.id] = _PortalQueue(portal)
        if entry is not None:
            known = queue.entries.get(activity_id)
            if known is None or known.received_at < entry.received_at:
                queue.entries[activity_id] = entry
        waiting = queue.waiting.setdefault(activity_id, [])
        if queue.worker is None or queue.worker.done():
            queue.worker = asyncio.create_task(self._drain(queue))
        return waiting

    async def drained(self) -> None:
        """Wait until every queued activity has been synced (tests and shutdown)."""
        while workers := [q.worker for q in self._queues.values() if q.worker is not None]:
            await asyncio.wait(workers)
            if all(w.done() for w in workers) and not any(q.waiting for q in self._queues.values()):
                return

    async def close(self) -> None:
        """Finish queued work briefly, then stop every worker."""
        workers = [q.worker for q in self._queues.values() if q.worker is not None]
        if workers:
            await asyncio.wait(workers, timeout=5)
        for worker in workers:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _drain(self, queue: _PortalQueue) -> None:
        while queue.waiting:
            await asyncio.sleep(self._window)
            ids = list(queue.waiting)[:MAX_IDS_PER_FETCH]
            futures = {activity_id: queue.waiting.pop(activity_id) for activity_id in ids}
            entries = {i: e for i in ids if (e := queue.entries.pop(i, None)) is not None}
            outcomes = await self._sync(queue.portal, ids)
            await self._forget(entries, outcomes)
            for activity_id, waiting in futures.items():
                for future in waiting:
                    if not future.done():
                        future.set_result(outcomes.get(activity_id, "failed"))
        self._queues.pop(queue.portal.id, None)

    async def _forget(self, entries: dict[int, InboxEntry], outcomes: dict[int, str]) -> None:
        """Drop synced entries from the inbox; failed ones stay for a later attempt."""
        if self._inbox is None or not entries:
            return
        finished = [e for i, e in entries.items() if outcomes.get(i, "failed") != "failed"]
        try:
            await self._inbox.done(finished)
        except StorageError as exc:
            # They stay recorded; syncing them again later changes nothing.
            log.warning("event inbox could not forget synced events: %s", type(exc).__name__)

    async def _sync(self, portal: Portal, activity_ids: Sequence[int]) -> dict[int, str]:
        crm = self._connector.as_app(portal)
        try:
            activities = await crm.get_activities(activity_ids)
            absent = [i for i in activity_ids if i not in activities]
            # Deleted for sure only when Bitrix24 says so (DESIGN.md §4): an event, or
            # absence from a list, is a hint.
            gone = await crm.missing_activities(absent) if absent else set()
        except CrmError as exc:
            log.warning(
                "event sync could not read activities: %s",
                type(exc).__name__,
                extra={"portal_id": portal.id, "count": len(activity_ids)},
            )
            return {}
        # What each id converges to: its activity, or None once Bitrix24 confirmed it gone.
        targets: dict[int, Activity | None] = {i: activities.get(i) for i in activity_ids}
        for absent_id in set(absent) - gone:
            del targets[absent_id]
        outcomes: dict[int, str] = {}
        todo = list(activity_ids)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                raced = await self._store(portal, todo, targets, outcomes)
            except StorageError as exc:
                log.warning("event sync could not write: %s", type(exc).__name__)
                outcomes.update(dict.fromkeys(todo, "failed"))
                return outcomes
            if not raced or attempt == WRITE_ATTEMPTS - 1:
                outcomes.update(dict.fromkeys(raced, "failed"))
                return outcomes
            # Another writer got there between our read and our write: read the CRM again,
            # so racing handlers converge on its latest state, not on whoever wrote last.
            todo = await self._refetch(crm, raced, targets, outcomes)
        return outcomes  # pragma: no cover - the loop returns

    async def _store(
        self,
        portal: Portal,
        activity_ids: Sequence[int],
        targets: dict[int, Activity | None],
        outcomes: dict[int, str],
    ) -> list[int]:
        """Converge the batch's touch-points in one unit of work (one read, one write);
        returns the activity ids whose rows changed meanwhile."""
        now = self._clock.now()
        async with self._storage.unit_of_work() as uow:
            rows = await uow.touch_points.by_activities(portal.id, activity_ids)
            by_activity = {tp.activity_id: tp for tp in rows}
            changed: dict[int, TouchPoint] = {}
            for activity_id in activity_ids:
                current = by_activity.get(activity_id)
                if current is None:
                    outcomes[activity_id] = "ignored"
                    continue
                # Not in ``targets``: unreadable but not confirmed gone, so left as it is.
                after = current
                if activity_id in targets:
                    after = _converged(current, targets[activity_id], now)
                if after == current:
                    outcomes[activity_id] = "unchanged"
                else:
                    changed[activity_id] = after
            stored = await uow.touch_points.update_synced(portal.id, list(changed.values()))
        written = {tp.activity_id for tp in stored}
        for activity_id in written:
            outcomes[activity_id] = "orphaned" if targets[activity_id] is None else "synced"
        return [activity_id for activity_id in changed if activity_id not in written]

    async def _refetch(
        self,
        crm: Crm,
        raced: list[int],
        targets: dict[int, Activity | None],
        outcomes: dict[int, str],
    ) -> list[int]:
        """Read ``raced``'s activities again (a confirmed deletion stays one); returns the
        ids to write again, the unreadable ones marked failed."""
        readable = [i for i in raced if targets[i] is not None]
        try:
            fresh = await crm.get_activities(readable) if readable else {}
        except CrmError:
            fresh = {}
        again = []
        for activity_id in raced:
            if targets[activity_id] is None:
                again.append(activity_id)
            elif activity_id in fresh:
                targets[activity_id] = fresh[activity_id]
                again.append(activity_id)
            else:
                outcomes[activity_id] = "failed"  # unreadable now: the next event or pass decides
        return again


def _converged(touch_point: TouchPoint, activity: Activity | None, now: datetime) -> TouchPoint:
    if activity is None:
        # Bitrix24 answered that the activity does not exist (callers confirm it first).
        return touch_point.mark_orphaned(now=now)
    return touch_point.sync_from_crm(
        deadline=activity.deadline or touch_point.deadline,
        responsible_id=activity.responsible_id,
        completed=activity.completed,
        now=now,
    )


async def converge(
    *,
    storage: Storage,
    connector: CrmConnector,
    clock: Clock,
    portal: Portal,
    touch_point_id: int,
    activity: Activity | None,
) -> str:
    """Apply the CRM's state; on a concurrent write, fetch the activity again.

    ``activity`` None orphans the touch-point: pass it only for an activity that
    ``Crm.missing_activities`` confirmed as gone.

    Re-fetching (rather than re-applying what we read) makes two racing handlers
    converge on the CRM's latest state instead of the one that happened to write last.
    """
    for attempt in range(WRITE_ATTEMPTS):
        async with storage.unit_of_work() as uow:
            current = await uow.touch_points.get(portal.id, touch_point_id)
            if current is None:
                return "ignored"
            changed = _converged(current, activity, clock.now())
            if changed == current:
                return "unchanged"
            try:
                await uow.touch_points.update(changed)
                return "orphaned" if activity is None else "synced"
            except ConcurrentUpdate:
                if attempt == WRITE_ATTEMPTS - 1:
                    return "failed"
        if activity is not None:
            fresh = await connector.as_app(portal).get_activities([activity.id])
            if activity.id not in fresh:
                return "failed"  # unreadable now: the next event or pass decides
            activity = fresh[activity.id]
    return "failed"  # pragma: no cover - the loop returns
