"""Reconciliation: settle unfinished to-do creations, repair drift from the CRM, confirm
uninstalls (DESIGN.md §4)."""

from __future__ import annotations

import contextlib
import functools
import logging
from datetime import datetime, timedelta

import attrs

from touchpoints.domain.crm import Activity
from touchpoints.domain.model import TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import Crm, CrmConnector, CrmError, CrmNotFound, PortalGone
from touchpoints.ports.storage import PendingTodo, Storage
from touchpoints.services.errors import Conflict, NotFound
from touchpoints.services.event_sync import converge_rows
from touchpoints.services.installation import Installation, uninstall_portal
from touchpoints.services.todos import new_from_attempt, record_follow_up

log = logging.getLogger("touchpoints.lifecycle")

RECONCILE_PAGE = 500
ORPHAN_GUARD_SHARE = 0.10
ORPHAN_GUARD_MIN = 10
# An attempt younger than this may still be in flight in some request.
ATTEMPT_GRACE = timedelta(minutes=2)
ATTEMPT_CLOCK_SKEW = timedelta(minutes=5)


def _same_plan(attempt: PendingTodo, deadline: datetime | None, responsible_id: int) -> bool:
    # Bitrix24 stores deadlines to the second; our attempt may carry microseconds.
    return (
        deadline is not None
        and abs((deadline - attempt.deadline).total_seconds()) < 1
        and responsible_id == attempt.responsible_id
    )


async def _find_created(crm: Crm, storage: Storage, attempt: PendingTodo) -> Activity | None:
    """The CRM to-do an unfinished attempt created, if any and not recorded yet."""
    if attempt.activity_id is not None:
        return (await crm.get_activities([attempt.activity_id])).get(attempt.activity_id)
    candidates = await crm.find_todos(
        owner=attempt.owner, created_after=attempt.created_at - ATTEMPT_CLOCK_SKEW
    )
    matching = [c for c in candidates if _same_plan(attempt, c.deadline, c.responsible_id)]
    if not matching:
        return None
    async with storage.unit_of_work() as uow:
        recorded = await uow.touch_points.by_activities(attempt.portal_id, [c.id for c in matching])
    known = {tp.activity_id for tp in recorded}
    return next((c for c in matching if c.id not in known), None)


async def adopt_attempts(
    *, storage: Storage, connector: CrmConnector, clock: Clock, portal: Portal
) -> dict[str, int]:
    """Settle to-do creations that never finished (timeouts, crashes, database failures).

    A to-do the CRM did create is adopted as the touch-point the user asked for, unless the
    user already retried and got one for the same plan: then the stray to-do is removed.
    An attempt the CRM never acted on is forgotten.
    """
    now = clock.now()
    counts = {"adopted": 0, "removed": 0, "forgotten": 0}
    async with storage.unit_of_work() as uow:
        attempts = await uow.pending.older_than(portal.id, now - ATTEMPT_GRACE, limit=200)
    if not attempts:
        return counts
    crm = connector.as_app(portal)
    for attempt in attempts:
        assert attempt.id is not None
        created = await _find_created(crm, storage, attempt)
        outcome = "forgotten"
        if created is not None:
            async with storage.unit_of_work() as uow:
                siblings = await uow.touch_points.for_owner(portal.id, attempt.owner)
            retried = any(
                tp.created_at >= attempt.created_at
                and tp.type is attempt.type
                and _same_plan(attempt, tp.deadline, tp.responsible_id)
                for tp in siblings
            )
            if retried:
                with contextlib.suppress(CrmNotFound):
                    await crm.delete_activity(created.id)
                outcome = "removed"
            else:
                await _adopt(storage, attempt, created.id, now=now)
                outcome = "adopted"
        async with storage.unit_of_work() as uow:
            await uow.pending.delete(portal.id, attempt.id)
        counts[outcome] += 1
        log.info(
            "settled an unfinished to-do creation",
            extra={"portal_id": portal.id, "outcome": outcome},
        )
    return counts


async def _adopt(
    storage: Storage, attempt: PendingTodo, activity_id: int, *, now: datetime
) -> None:
    if attempt.previous_id is not None:
        try:
            async with storage.unit_of_work() as uow:
                await record_follow_up(uow, attempt, activity_id, now=now)
            return
        except (Conflict, NotFound):
            pass  # the predecessor moved on: keep the to-do as a plain touch-point
    async with storage.unit_of_work() as uow:
        if await uow.touch_points.by_activity(attempt.portal_id, activity_id) is None:
            await uow.touch_points.add(
                new_from_attempt(attrs.evolve(attempt, previous_id=None), activity_id)
            )


async def reconcile_portal(
    *, storage: Storage, connector: CrmConnector, clock: Clock, portal: Portal
) -> int:
    """Compare every open touch-point with its CRM activity and repair drift.

    Returns the number of touch-points changed. A touch-point is orphaned only when
    Bitrix24 answers that its activity does not exist, and never in bulk: a pass that would
    orphan more than ``ORPHAN_GUARD_SHARE`` of the portal's open touch-points (and more than
    ``ORPHAN_GUARD_MIN``) orphans none and logs instead (DESIGN.md §4). A portal whose
    tokens are dead raises ``PortalGone`` for the caller to skip.
    """
    settled = await adopt_attempts(storage=storage, connector=connector, clock=clock, portal=portal)
    changed = settled["adopted"] + settled["removed"]
    after_id = 0
    crm = connector.as_app(portal)
    apply = functools.partial(converge_rows, storage=storage, crm=crm, clock=clock)
    open_count = 0
    absent: list[TouchPoint] = []
    while True:
        async with storage.unit_of_work() as uow:
            page = await uow.touch_points.open_page(
                portal.id, after_id=after_id, limit=RECONCILE_PAGE
            )
        if not page:
            break
        open_count += len(page)
        after_id = page[-1].id
        # The page was read before its activities: ``converge_rows`` relies on that order.
        activities = await crm.get_activities([tp.activity_id for tp in page])
        absent.extend(tp for tp in page if tp.activity_id not in activities)
        outcomes = await apply(rows=page, targets=activities)
        changed += sum(outcome == "synced" for outcome in outcomes.values())
        if len(page) < RECONCILE_PAGE:
            break
    if not absent:
        return changed
    gone = await crm.missing_activities([tp.activity_id for tp in absent])
    if len(gone) > ORPHAN_GUARD_MIN and len(gone) > ORPHAN_GUARD_SHARE * open_count:
        log.warning(
            "reconciliation would orphan too many touch-points at once; orphaned none",
            extra={"portal_id": portal.id, "gone": len(gone), "open": open_count},
        )
        return changed
    orphans = [tp for tp in absent if tp.activity_id in gone]
    outcomes = await apply(rows=orphans, targets=dict.fromkeys(gone))
    return changed + sum(outcome == "orphaned" for outcome in outcomes.values())


async def reconcile_all(
    *, storage: Storage, connector: CrmConnector, clock: Clock
) -> dict[str, int]:
    """One reconciliation pass over every active portal; a dead portal does not stop it.

    Uninstalls waiting for confirmation are settled first.
    """
    summary = {
        "portals": 0,
        "changed": 0,
        "skipped": 0,
        "failed": 0,
        "busy": 0,
        "uninstalled": 0,
    }
    async with storage.exclusive("reconciliation") as mine:
        if not mine:
            summary["busy"] = 1  # another replica is reconciling right now
            return summary
        summary["uninstalled"] = await confirm_uninstalls(
            storage=storage, connector=connector, clock=clock
        )
        await _reconcile_portals(storage, connector, clock, summary)
    return summary


async def confirm_uninstalls(*, storage: Storage, connector: CrmConnector, clock: Clock) -> int:
    """Ask Bitrix24 again about every uninstall event still waiting; returns how many were
    confirmed (and deleted)."""
    async with storage.unit_of_work() as uow:
        waiting = await uow.portals.uninstall_requested()
    deleted = 0
    for portal_id in waiting:
        async with storage.unit_of_work() as uow:
            portal = await uow.portals.get(portal_id)
        if portal is None:
            continue
        state = await uninstall_portal(
            storage=storage, connector=connector, clock=clock, portal=portal
        )
        deleted += state is Installation.GONE
    return deleted


async def _reconcile_portals(
    storage: Storage, connector: CrmConnector, clock: Clock, summary: dict[str, int]
) -> None:
    async with storage.unit_of_work() as uow:
        portal_ids = await uow.portals.list_ids(active_only=True)
    for portal_id in portal_ids:
        async with storage.unit_of_work() as uow:
            portal = await uow.portals.get(portal_id)
        if portal is None or not portal.is_active:
            summary["skipped"] += 1
            continue
        try:
            summary["changed"] += await reconcile_portal(
                storage=storage, connector=connector, clock=clock, portal=portal
            )
            summary["portals"] += 1
        except PortalGone:
            summary["skipped"] += 1
        except CrmError:
            log.warning("reconciliation failed for a portal", extra={"portal_id": portal_id})
            summary["failed"] += 1
