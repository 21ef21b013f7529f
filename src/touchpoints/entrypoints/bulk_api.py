"""The list view, bulk actions, the overdue sweep and undo (DESIGN §3.6): handlers and ``ROUTES``."""

from __future__ import annotations

from touchpoints.entrypoints.bulk_replies import BulkOutcome, SweepResult, TouchPointList
from touchpoints.entrypoints.bulk_wire import BulkBody, SweepBody, UndoBody
from touchpoints.entrypoints.http import ApiError
from touchpoints.entrypoints.routes import Call, Route
from touchpoints.entrypoints.wire import Empty
from touchpoints.services import bulk, undo
from touchpoints.services.bulk import SEARCH_SCAN_MAX, ListRequest

UNDO_HEADER = "X-Undo-Token"
UNDO_HEADER_DOC = (
    {"type": "string"},
    "The undo token of this move (POST /api/v1/undo); absent when nothing changed.",
)


async def list_view(call: Call[ListRequest, Empty]) -> TouchPointList:
    """The list view: touch-points by deadline, keyset paged."""
    ctx = call.ctx
    page = await bulk.list_touch_points(ctx.use_case, call.params)
    return TouchPointList.of(page, ctx.zone)


async def bulk_action(call: Call[Empty, BulkBody]) -> BulkOutcome:
    """One action on many touch-points.

    Each id is checked like a single call; one that fails is listed in `failed` and does not
    stop the others. CRM writes go in `batch` requests of up to 50 commands. Reschedules and
    reassignments offer an `undo`; completing and cancelling do not (Bitrix24 cannot reopen a
    to-do).
    """
    ctx = call.ctx
    outcome = await bulk.bulk_action(ctx.use_case, call.body.to_request())
    return BulkOutcome.of(outcome, ctx.zone)


async def sweep(call: Call[Empty, SweepBody]) -> SweepResult:
    """Move the overdue touch-points to a day.

    Every overdue open touch-point the caller may see (at most 500, the most overdue first)
    moves to the day, keeping its local time of day; a time already past today moves to the
    next full hour (in the day's last hour to 23:59). With `dry_run` nothing changes.
    """
    ctx, body = call.ctx, call.body
    result = await bulk.sweep(
        ctx.use_case, to=body.target(), responsible_id=body.responsible_id, dry_run=body.dry_run
    )
    return SweepResult.of(result, ctx.zone)


async def redeem(call: Call[Empty, UndoBody]) -> BulkOutcome:
    """Undo a move, reassignment, bulk action or sweep.

    Restores the previous deadline and responsible of each touch-point (in the CRM too),
    except those changed since (`CHANGED_SINCE` in `failed`). A token works once (then 409
    `UNDO_USED`), for its own user (403), for 15 minutes (then 409 `UNDO_EXPIRED`).
    """
    ctx = call.ctx
    try:
        outcome = await undo.redeem_undo(ctx.use_case, token=call.body.token.strip())
    except undo.UndoUsed as exc:
        raise ApiError(409, "UNDO_USED", str(exc)) from None
    except undo.UndoExpired as exc:
        raise ApiError(409, "UNDO_EXPIRED", str(exc)) from None
    return BulkOutcome.of(outcome, ctx.zone)


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/touchpoints",
        list_view,
        description=(
            "The touch-points the caller may see (others' only for admins and team viewers),"
            " ordered by deadline then id. `q` matches the to-dos' titles and notes, which"
            " are read live from the CRM and never stored: the server reads candidate rows"
            f" in order and keeps the matching ones, scanning at most {SEARCH_SCAN_MAX} rows"
            " per request, so a searching page may hold fewer than `limit` items and still"
            " have a `next_cursor`. A cursor belongs to its user and filters; any other is a"
            " 400."
        ),
    ),
    Route("POST", "/api/v1/touchpoints/bulk", bulk_action),
    Route("POST", "/api/v1/touchpoints/sweep", sweep),
    Route("POST", "/api/v1/undo", redeem),
)
