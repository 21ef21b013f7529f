"""Track a to-do made in Bitrix24 as a touch-point: read it as the user, record it as ours
(DESIGN.md §3.7, "Track as touch-point"); from then on it is a touch-point like any other."""

from __future__ import annotations

import attrs

from touchpoints.domain.crm import Activity
from touchpoints.domain.model import NewTouchPoint, TouchPoint, TouchPointType
from touchpoints.domain.visibility import may_view, sees_team
from touchpoints.ports.storage import DuplicateActivity
from touchpoints.services.context import Card, UseCase, cards_for
from touchpoints.services.errors import Conflict, Forbidden, InvalidInput, NotFound

TODO_PROVIDER = "CRM_TODO"
_COLLEAGUES = "only admins and team viewers may track a colleague's to-do"


@attrs.frozen(kw_only=True)
class ActivityStanding:
    """What a CRM activity is to the app: tracked (``card``), or why it cannot be tracked
    (``refusal``; ``None`` when it can) and its ``subject``, read live as the caller."""

    activity_id: int
    card: Card | None = None
    refusal: str | None = None
    subject: str | None = None

    @property
    def trackable(self) -> bool:
        return self.card is None and self.refusal is None


async def activity_standing(ctx: UseCase, *, activity_id: int) -> ActivityStanding:
    """Whether the activity is one of ours (and visible), or could be tracked by the caller.

    Raises: Forbidden (tracked, but a colleague's), NotFound (Bitrix24 shows the caller
    no such activity).
    """
    tracked = await _tracked(ctx, activity_id)
    if tracked is not None:
        return ActivityStanding(
            activity_id=activity_id, card=(await cards_for(ctx.crm, [tracked]))[0]
        )
    activity = await _read_activity(ctx, activity_id)
    refusal = _refusal(ctx, activity)
    if refusal is None and not _may_track_for(ctx, activity.responsible_id):
        refusal = _COLLEAGUES
    return ActivityStanding(activity_id=activity_id, refusal=refusal, subject=activity.subject)


async def track_activity(
    ctx: UseCase, *, activity_id: int, type_: TouchPointType | None = None
) -> Card:
    """Record an existing open to-do on an enabled record as a touch-point.

    The to-do is read with the caller's token, so Bitrix24 decides whether they may see it;
    users track their own to-dos, admins and team viewers anyone's. Tracking one that is
    already ours returns it unchanged.

    Raises: NotFound, Forbidden, Conflict (not an open to-do on an enabled record).
    """
    tracked = await _tracked(ctx, activity_id)
    if tracked is None:
        activity = await _read_activity(ctx, activity_id)
        refusal = _refusal(ctx, activity)
        if refusal is not None:
            raise Conflict(refusal)
        _check_responsible(ctx, activity.responsible_id)
        tracked = await _record(ctx, activity, type_ or TouchPointType.OTHER)
    return (await cards_for(ctx.crm, [tracked]))[0]


async def _tracked(ctx: UseCase, activity_id: int) -> TouchPoint | None:
    async with ctx.storage.unit_of_work() as uow:
        found = await uow.touch_points.by_activity(ctx.actor.portal.id, activity_id)
    if found is not None and not may_view(ctx.actor.viewer, found, ctx.settings):
        raise Forbidden("this to-do is a colleague's touch-point")
    return found


async def _read_activity(ctx: UseCase, activity_id: int) -> Activity:
    found = await ctx.crm.get_activities([activity_id])
    activity = found.get(activity_id)
    if activity is None:
        raise NotFound(f"activity {activity_id} is not there or you may not see it")
    return activity


def _refusal(ctx: UseCase, activity: Activity) -> str | None:
    if activity.provider_id != TODO_PROVIDER:
        return "only to-dos can be tracked as touch-points"
    if activity.completed:
        return "this to-do is already completed"
    if activity.deadline is None:
        return "this to-do has no deadline"
    if activity.owner is None or activity.owner.type not in ctx.settings.enabled_entities:
        return "touch-points are not enabled for this kind of record"
    if activity.responsible_id <= 0:
        return "this to-do has no responsible user"
    return None


def _may_track_for(ctx: UseCase, responsible_id: int) -> bool:
    viewer = ctx.actor.viewer
    return responsible_id == viewer.user_id or sees_team(viewer, ctx.settings)


def _check_responsible(ctx: UseCase, responsible_id: int) -> None:
    if not _may_track_for(ctx, responsible_id):
        raise Forbidden(_COLLEAGUES)


async def _record(ctx: UseCase, activity: Activity, type_: TouchPointType) -> TouchPoint:
    if activity.owner is None or activity.deadline is None:  # checked by _refusal
        raise InvalidInput({"activity_id": "not an open to-do"})
    new = NewTouchPoint(
        portal_id=ctx.actor.portal.id,
        activity_id=activity.id,
        owner=activity.owner,
        type=type_,
        deadline=activity.deadline,
        responsible_id=activity.responsible_id,
        created_by=ctx.actor.viewer.user_id,
        created_at=ctx.clock.now(),
    )
    try:
        async with ctx.storage.unit_of_work() as uow:
            return await uow.touch_points.add(new)
    except DuplicateActivity:
        # Tracked a moment ago (a double click, another tab): that row is the answer.
        tracked = await _tracked(ctx, activity.id)
        if tracked is None:  # pragma: no cover - the unique row cannot vanish in between
            raise
        return tracked
