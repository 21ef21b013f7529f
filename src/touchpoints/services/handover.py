"""Hand-over with return (issue 16, item 6): a user's open touch-points due in a period go to a
colleague (a bulk reassignment, each id checked like a single call), and the ones still open
and still the colleague's go back when the period ends (``return_due``, a background pass with
the portal's stored tokens) or when the hand-over is ended early (as the user who ends it).
"""

from __future__ import annotations

import logging
from datetime import date

import attrs

from touchpoints.domain.handover import Handover, check_period
from touchpoints.domain.limits import BULK_MAX
from touchpoints.domain.model import TouchPoint
from touchpoints.domain.visibility import Viewer, sees_team
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmConnector, CrmError, CrmUnavailable, TodoChange
from touchpoints.ports.storage import BoardQuery, Storage
from touchpoints.services.bulk import BulkAction, BulkRequest, bulk_action
from touchpoints.services.changes import ItemFailure, Planned, apply
from touchpoints.services.context import Actor, UseCase, load_settings
from touchpoints.services.errors import Forbidden, NotFound
from touchpoints.services.touchpoints import _Move

log = logging.getLogger("touchpoints")

# More than one bulk action's worth is handed over in several; beyond this the period is too
# big to hand over at once.
HANDOVER_MAX_ITEMS = 10 * BULK_MAX


@attrs.frozen(kw_only=True)
class HandoverResult:
    handover: Handover
    done: tuple[int, ...]
    failed: tuple[ItemFailure, ...]


def _may_manage(actor: Actor, ctx: UseCase, handover_from: int) -> None:
    if actor.viewer.user_id != handover_from and not sees_team(actor.viewer, ctx.settings):
        raise Forbidden("only admins and team viewers hand over a colleague's touch-points")


async def start_handover(
    ctx: UseCase, *, from_user_id: int, to_user_id: int, first_day: date, last_day: date
) -> HandoverResult:
    """Hand ``from_user_id``'s open touch-points due from ``first_day`` to ``last_day`` over.

    Raises: InvalidValue (the period, or oneself), Forbidden (a colleague's touch-points
    without team visibility).
    """
    check_period(from_user_id, to_user_id, first_day, last_day)
    actor, now = ctx.actor, ctx.clock.now()
    _may_manage(actor, ctx, from_user_id)
    draft = Handover(
        portal_id=actor.portal.id,
        from_user_id=from_user_id,
        to_user_id=to_user_id,
        first_day=first_day,
        last_day=last_day,
        created_by=actor.viewer.user_id,
        created_at=now,
    )
    start, end = draft.period(ctx.settings.zone)
    async with ctx.storage.unit_of_work() as uow:
        due = await uow.touch_points.board(
            actor.portal.id,
            BoardQuery(
                responsible_ids=frozenset({from_user_id}),
                deadline_from=start,
                deadline_before=end,
                limit=HANDOVER_MAX_ITEMS,
            ),
        )
    ids = [tp.id for tp in due]
    done: list[int] = []
    failed: list[ItemFailure] = []
    for offset in range(0, len(ids), BULK_MAX):
        outcome = await bulk_action(
            ctx,
            BulkRequest(
                ids=tuple(ids[offset : offset + BULK_MAX]),
                action=BulkAction.REASSIGN,
                responsible_id=to_user_id,
            ),
        )
        done.extend(outcome.done)
        failed.extend(outcome.failed)
    async with ctx.storage.unit_of_work() as uow:
        stored = await uow.handovers.add(attrs.evolve(draft, touch_point_ids=tuple(done)))
    return HandoverResult(handover=stored, done=tuple(done), failed=tuple(failed))


async def list_handovers(ctx: UseCase, *, open_only: bool = True) -> list[Handover]:
    """The hand-overs the caller gives or takes (every one for admins and team viewers)."""
    async with ctx.storage.unit_of_work() as uow:
        found = await uow.handovers.for_portal(ctx.actor.portal.id, open_only=open_only)
    if sees_team(ctx.actor.viewer, ctx.settings):
        return found
    me = ctx.actor.viewer.user_id
    return [h for h in found if me in (h.from_user_id, h.to_user_id, h.created_by)]


async def end_handover(ctx: UseCase, *, handover_id: int) -> HandoverResult:
    """End a hand-over now: what is still open and still the colleague's goes back.

    Raises: NotFound (no such open hand-over on the portal), Forbidden.
    """
    async with ctx.storage.unit_of_work() as uow:
        handover = await uow.handovers.get(ctx.actor.portal.id, handover_id)
    if handover is None or handover.returned_at is not None:
        raise NotFound(f"no open hand-over {handover_id}")
    me = ctx.actor.viewer.user_id
    if me not in (handover.from_user_id, handover.created_by):
        _may_manage(ctx.actor, ctx, handover.from_user_id)
    return await _give_back(ctx, handover)


async def _give_back(ctx: UseCase, handover: Handover) -> HandoverResult:
    """Reassign what goes back (``Handover.goes_back``), then close the hand-over.

    Giving back twice is harmless (what went back is no longer the colleague's), so the
    writes come first; a hand-over stays open when Bitrix24 was unavailable for some of
    them, for the next pass (or a second "end now") to finish.
    """
    assert handover.id is not None
    now = ctx.clock.now()
    portal_id = handover.portal_id
    async with ctx.storage.unit_of_work() as uow:
        rows = await uow.touch_points.by_ids(portal_id, handover.touch_point_ids)
    move = _Move(None, handover.from_user_id, now)

    def reapply(current: TouchPoint) -> TouchPoint:
        return move(current) if handover.goes_back(current) else current

    planned = [
        Planned(
            before=tp,
            after=move(tp),
            crm=TodoChange(
                activity_id=tp.activity_id, owner=tp.owner, responsible_id=handover.from_user_id
            ),
            reapply=reapply,
        )
        for tp in rows
        if handover.goes_back(tp)
    ]
    applied = await apply(ctx, planned)
    returned = handover
    if not any(isinstance(f.error, CrmUnavailable) for f in applied.failed):
        async with ctx.storage.unit_of_work() as uow:
            await uow.handovers.mark_returned(portal_id, handover.id, now=now)
        returned = attrs.evolve(handover, returned_at=now)
    return HandoverResult(handover=returned, done=applied.done, failed=applied.failed)


async def return_due(*, storage: Storage, connector: CrmConnector, clock: Clock) -> int:
    """The background pass: give back every due hand-over of every portal, with the
    portal's stored tokens. Returns how many hand-overs it closed; one replica at a time."""
    closed = 0
    async with storage.exclusive("handover-returns") as mine:
        if not mine:
            return 0
        async with storage.unit_of_work() as uow:
            portal_ids = await uow.portals.list_ids()
        for portal_id in portal_ids:
            async with storage.unit_of_work() as uow:
                portal = await uow.portals.get(portal_id)
                settings = await load_settings(uow, portal_id)
                handovers = await uow.handovers.for_portal(portal_id, open_only=True)
            now = clock.now()
            due = [h for h in handovers if h.is_due(now, settings.zone)]
            if portal is None or not due:
                continue
            ctx = UseCase(
                actor=Actor(portal, Viewer(portal.installed_by or 1, is_admin=True)),
                settings=settings,
                crm=connector.as_app(portal),
                storage=storage,
                clock=clock,
                connector=connector,
            )
            for handover in due:
                try:
                    result = await _give_back(ctx, handover)
                except (CrmError, NotFound) as exc:
                    log.warning("hand-over return failed: %s", type(exc).__name__)
                    continue
                if result.handover.returned_at is not None:
                    closed += 1
                if result.failed:
                    log.info(
                        "hand-over returned with failures",
                        extra={"returned": len(result.done), "failed": len(result.failed)},
                    )
    return closed
