"""Hand-over with return (issue 16, item 6): ``/api/v1/handovers``, its wire and replies."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.constraints import Id
from touchpoints.domain.handover import Handover
from touchpoints.entrypoints.bulk_replies import FailedItem
from touchpoints.entrypoints.replies import copied
from touchpoints.entrypoints.routes import Call, Route
from touchpoints.entrypoints.wire import IN_PATH, Empty
from touchpoints.services import handover
from touchpoints.services.handover import HandoverResult


@attrs.frozen(kw_only=True)
class HandoverRequestBody:
    """Hand ``from_user_id``'s open touch-points due from ``first_day`` to ``last_day``
    (local days, both included) to ``to_user_id`` until the period ends."""

    from_user_id: Id
    to_user_id: Id
    first_day: date
    last_day: date


@attrs.frozen(kw_only=True)
class HandoverPath:
    id: Id = attrs.field(metadata=IN_PATH)


@attrs.frozen(kw_only=True)
class HandoverReply:
    """A hand-over; ``touch_point_ids`` went to the colleague, ``returned_at`` is when the
    ones still open went back (null: not yet)."""

    id: Id
    from_user_id: Id
    to_user_id: Id
    first_day: date
    last_day: date
    created_by: Id
    created_at: datetime
    touch_point_ids: list[Id]
    returned_at: datetime | None

    @classmethod
    def of(cls, found: Handover, zone: ZoneInfo) -> HandoverReply:
        assert found.id is not None
        return copied(cls, found, zone, touch_point_ids=list(found.touch_point_ids))


@attrs.frozen(kw_only=True)
class HandoverOutcome:
    """The hand-over, and the ids moved (``done``) or left where they were (``failed``)."""

    handover: HandoverReply
    done: list[Id]
    failed: list[FailedItem]

    @classmethod
    def of(cls, result: HandoverResult, zone: ZoneInfo) -> HandoverOutcome:
        return cls(
            handover=HandoverReply.of(result.handover, zone),
            done=list(result.done),
            failed=[FailedItem.of(failure) for failure in result.failed],
        )


@attrs.frozen(kw_only=True)
class Handovers:
    items: list[HandoverReply]


async def start(call: Call[Empty, HandoverRequestBody]) -> HandoverOutcome:
    """Hand a user's touch-points of a period to a colleague, with return.

    Each touch-point is reassigned as a single call would be. When the period ends a
    background pass gives back the ones still open and still the colleague's.
    """
    ctx, body = call.ctx, call.body
    result = await handover.start_handover(
        ctx.use_case,
        from_user_id=body.from_user_id,
        to_user_id=body.to_user_id,
        first_day=body.first_day,
        last_day=body.last_day,
    )
    return HandoverOutcome.of(result, ctx.zone)


async def listing(call: Call[Empty, Empty]) -> Handovers:
    """The open hand-overs the caller gives or takes (all for team viewers)."""
    ctx = call.ctx
    found = await handover.list_handovers(ctx.use_case)
    return Handovers(items=[HandoverReply.of(h, ctx.zone) for h in found])


async def end(call: Call[HandoverPath, Empty]) -> HandoverOutcome:
    """End a hand-over now: what is still open goes back."""
    ctx = call.ctx
    result = await handover.end_handover(ctx.use_case, handover_id=call.params.id)
    return HandoverOutcome.of(result, ctx.zone)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/v1/handovers", start, status=201),
    Route("GET", "/api/v1/handovers", listing),
    Route("DELETE", "/api/v1/handovers/{id}", end),
)
