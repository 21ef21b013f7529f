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
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from touchpoints.domain.crm import Activity
from touchpoints.domain.model import TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import Crm, CrmConnector, CrmError
from touchpoints.ports.event_inbox import EventInbox, InboxEntry
from touchpoints.ports.storage import Storage, StorageError

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
        # Our rows first, then the CRM: a write then never rests on a CRM read older than
        # the row it overwrites (``converge_rows``).
        try:
            async with self._storage.reading() as uow:
                rows = await uow.touch_points.by_activities(portal.id, activity_ids)
        except StorageError as exc:
            log.warning("event sync could not read: %s", type(exc).__name__)
            return {}
        outcomes = dict.fromkeys(activity_ids, "ignored")
        ours = [tp.activity_id for tp in rows]
        if not ours:
            return outcomes
        crm = self._connector.as_app(portal)
        try:
            activities = await crm.get_activities(ours)
            absent = [i for i in ours if i not in activities]
            # Deleted for sure only when Bitrix24 says so (DESIGN.md §4): an event, or
            # absence from a list, is a hint.
            gone = await crm.missing_activities(absent) if absent else set()
        except CrmError as exc:
            log.warning(
                "event sync could not read activities: %s",
                type(exc).__name__,
                extra={"portal_id": portal.id, "count": len(ours)},
            )
            return {}
        # What each id converges to: its activity, or None once Bitrix24 confirmed it gone;
        # one absent but not confirmed gone is left as it is.
        targets: dict[int, Activity | None] = {
            i: activities.get(i) for i in ours if i in activities or i in gone
        }
        try:
            outcomes.update(
                await converge_rows(
                    storage=self._storage, crm=crm, clock=self._clock, rows=rows, targets=targets
                )
            )
        except StorageError as exc:
            log.warning("event sync could not write: %s", type(exc).__name__)
            outcomes.update(dict.fromkeys(ours, "failed"))
        return outcomes


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


async def converge_rows(
    *,
    storage: Storage,
    crm: Crm,
    clock: Clock,
    rows: Sequence[TouchPoint],
    targets: Mapping[int, Activity | None],
) -> dict[int, str]:
    """Converge ``rows`` to their activities in one write; outcome per activity id.

    ``rows`` must have been read *before* ``targets`` (the activities by id; None for one
    that ``Crm.missing_activities`` confirmed gone; a row whose id is missing is left as it
    is). A row that changed since it was read is read again, and its activity after it, so
    that racing writers converge on the CRM's latest state rather than on whoever wrote
    last: a write never rests on a CRM read older than the row it replaces.

    Outcomes: ``synced``, ``orphaned``, ``unchanged``, ``ignored`` (the row is gone) or
    ``failed`` (still racing, or the activity unreadable now: the next event or pass
    decides). Raises StorageError.
    """
    targets = dict(targets)
    outcomes: dict[int, str] = {}
    pending = {tp.activity_id: tp for tp in rows}
    for attempt in range(WRITE_ATTEMPTS):
        now = clock.now()
        changed: dict[int, TouchPoint] = {}
        for activity_id, current in pending.items():
            after = current
            if activity_id in targets:
                after = _converged(current, targets[activity_id], now)
            if after == current:
                outcomes[activity_id] = "unchanged"
            else:
                changed[activity_id] = after
        if not changed:
            return outcomes
        portal_id = next(iter(changed.values())).portal_id
        async with storage.unit_of_work() as uow:
            stored = await uow.touch_points.update_synced(portal_id, list(changed.values()))
        for tp in stored:
            outcomes[tp.activity_id] = "orphaned" if targets[tp.activity_id] is None else "synced"
        raced = [i for i in changed if i not in outcomes]
        if not raced:
            return outcomes
        if attempt == WRITE_ATTEMPTS - 1:
            break
        pending = await _read_again(
            storage, crm, portal_id=portal_id, raced=raced, targets=targets, outcomes=outcomes
        )
    outcomes.update({i: "failed" for i in pending if i not in outcomes})
    return outcomes


async def _read_again(
    storage: Storage,
    crm: Crm,
    *,
    portal_id: int,
    raced: list[int],
    targets: dict[int, Activity | None],
    outcomes: dict[int, str],
) -> dict[int, TouchPoint]:
    """The rows of ``raced`` read again, then their activities (a confirmed deletion stays
    one); returns the rows to converge again, the others given their outcome."""
    async with storage.reading() as uow:
        rows = {tp.activity_id: tp for tp in await uow.touch_points.by_activities(portal_id, raced)}
    outcomes.update({i: "ignored" for i in raced if i not in rows})
    readable = [i for i in rows if targets.get(i) is not None]
    try:
        fresh = await crm.get_activities(readable) if readable else {}
    except CrmError:
        fresh = {}
    again: dict[int, TouchPoint] = {}
    for activity_id, row in rows.items():
        if targets[activity_id] is not None:
            if activity_id not in fresh:
                outcomes[activity_id] = "failed"
                continue
            targets[activity_id] = fresh[activity_id]
        again[activity_id] = row
    return again
