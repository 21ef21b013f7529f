"""The JSON routes behind the timeline menu (DESIGN.md §3.7): what a CRM to-do is to the app,
and tracking one made in Bitrix24 as a touch-point."""

from __future__ import annotations

from typing import Annotated

import attrs

from touchpoints.domain.constraints import Describe, Id
from touchpoints.domain.model import TouchPointType
from touchpoints.entrypoints.replies import TouchPointReply
from touchpoints.entrypoints.routes import Call, Route
from touchpoints.entrypoints.wire import IN_PATH, Empty
from touchpoints.services import adopt


@attrs.frozen(kw_only=True)
class ActivityPath:
    id: Annotated[Id, Describe("The CRM activity's id.")] = attrs.field(metadata=IN_PATH)


@attrs.frozen(kw_only=True)
class TrackBody:
    type: Annotated[
        TouchPointType | None, Describe("Our type code for it; `other` when left out.")
    ] = None


@attrs.frozen(kw_only=True)
class ActivityReply:
    """A CRM activity as the app sees it: its touch-point, or whether it can become one."""

    activity_id: Id
    touch_point: Annotated[
        TouchPointReply | None, Describe("The touch-point this to-do backs; null when none.")
    ]
    trackable: Annotated[bool, Describe("Whether the caller can track it as a touch-point.")]
    reason: Annotated[str | None, Describe("Why it cannot be tracked; null when it can.")]
    subject: Annotated[
        str | None,
        Describe("An untracked to-do's subject, read live from the CRM (never stored)."),
    ] = None


async def activity(call: Call[ActivityPath, Empty]) -> ActivityReply:
    """What a CRM to-do is to the app (timeline menu)."""
    ctx = call.ctx
    standing = await adopt.activity_standing(ctx.use_case, activity_id=call.params.id)
    return ActivityReply(
        activity_id=standing.activity_id,
        touch_point=TouchPointReply.of(standing.card, ctx.zone) if standing.card else None,
        trackable=standing.trackable,
        reason=standing.refusal,
        subject=standing.subject,
    )


async def track(call: Call[ActivityPath, TrackBody]) -> TouchPointReply:
    """Track a to-do made in Bitrix24 as a touch-point.

    Reads the to-do with the caller's token; an open to-do on an enabled record becomes a
    touch-point (the caller's own, or anyone's for admins and team viewers). Tracking one
    that is already tracked returns it.
    """
    ctx = call.ctx
    card = await adopt.track_activity(
        ctx.use_case, activity_id=call.params.id, type_=call.body.type
    )
    return TouchPointReply.of(card, ctx.zone)


_ACTIVITY = "/api/v1/activities/{id}"

ROUTES: tuple[Route, ...] = (
    Route("GET", _ACTIVITY, activity),
    Route("POST", _ACTIVITY + "/track", track, status=201),
)
