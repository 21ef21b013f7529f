"""The list view, bulk actions and the overdue sweep (DESIGN §3.6).

Text search (``q``) runs over the to-dos' own subjects and descriptions, which we never
store (the privacy policy lists what we keep): they are read live from the CRM with the
user's token, like every card. The CRM cannot do the search for us: its to-do list filters
match activities of every app and none of it is documented for descriptions (BITRIX24.md
§11.4), and a search there would still have to be joined with our rows and visibility. So
the list reads its candidate rows in (deadline, id) order, reads their texts live in
batched rounds (``cards_for``: about one request per 2,500 ids), and keeps the matching
ones; it scans at most ``SEARCH_SCAN_MAX`` rows per request. A searching page may
therefore hold fewer than ``limit`` items and still have a ``next_cursor``: the next page
continues the scan where this one stopped.

The list also shows each record's stage by name and its amount, read live in the same rounds
(``cards_for(..., stages=True)``): the stage directories of leads and of the general deal
pipeline ride in the titles' batch, and those of other pipelines and of smart processes,
known only from the rows, cost one more request.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated

import attrs

from touchpoints.domain.constraints import Describe, Id, Length, Range, json_name
from touchpoints.domain.limits import (
    BULK_MAX,
    CURSOR_MAX,
    FIRST_YEAR,
    LAST_YEAR,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    NOTE_MAX,
    SEARCH_MAX,
)
from touchpoints.domain.listing import ListPosition, decode_cursor, encode_cursor, text_matches
from touchpoints.domain.model import EntityType, Status, TouchPoint, TouchPointType
from touchpoints.domain.scheduling import (
    Shift,
    SweepTarget,
    current_local_day,
    move_to_local_day,
    shift_deadline,
    start_of_local_day,
    sweep_day,
)
from touchpoints.domain.visibility import may_edit
from touchpoints.ports.crm import TodoChange
from touchpoints.ports.storage import BoardQuery, ListQuery
from touchpoints.services.changes import ItemFailure, Planned, apply
from touchpoints.services.context import Card, UseCase, cards_for
from touchpoints.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from touchpoints.services.touchpoints import (
    _Cancel,
    _check_assignee,
    _Complete,
    _Move,
    visible_responsibles,
)
from touchpoints.services.undo import Outcome, offer_undo

SEARCH_SCAN_MAX = 1_000
"""Rows a searching list request reads at most (texts read live, see the module docstring)."""
_SCAN_CHUNK = 250
_ONE_DAY = timedelta(days=1)


# ------------------------------------------------------------------ the list view


@attrs.frozen(kw_only=True)
class ListRequest:
    """A list page's filters; ``first``/``last`` (``from``/``to`` on the wire) are local days
    in the portal's zone, both included. No ``status`` means every status. It is the list
    route's query as it arrives: the constraints below are the API's."""

    status: Status | None = None
    responsible_id: Id | None = None
    owner_type: EntityType | None = None
    type: TouchPointType | None = None
    first: date | None = attrs.field(default=None, metadata=json_name("from"))
    last: date | None = attrs.field(default=None, metadata=json_name("to"))
    q: Annotated[
        str,
        Length(SEARCH_MAX),
        Describe("Text in the to-dos' titles and notes (read live; see the route)."),
    ] = ""
    limit: Annotated[int, Range(1, LIST_LIMIT_MAX)] = LIST_LIMIT_DEFAULT
    cursor: Annotated[str, Length(CURSOR_MAX), Describe("The previous page's next_cursor.")] = ""

    def problems(self) -> dict[str, str]:
        if self.first is not None and self.last is not None and self.last < self.first:
            return {"to": "must not be before 'from'"}
        return {}


@attrs.frozen(kw_only=True)
class ListPage:
    cards: tuple[Card, ...]
    next_cursor: str | None


def _scope(ctx: UseCase, request: ListRequest) -> str:
    """What a cursor is bound to: the caller and every filter (not the page size)."""
    parts = (
        ctx.actor.portal.id,
        ctx.actor.viewer.user_id,
        request.status.value if request.status else "",
        request.responsible_id or "",
        request.owner_type.value if request.owner_type else "",
        request.type.value if request.type else "",
        request.first or "",
        request.last or "",
        request.q.strip().casefold(),
    )
    return "\x1f".join(str(part) for part in parts)


async def list_touch_points(ctx: UseCase, request: ListRequest) -> ListPage:
    """One page of the list view, ordered by deadline then id (keyset paging).

    Raises: Forbidden (another's touch-points without team visibility), InvalidValue (a
    cursor of another list).
    """
    zone = ctx.settings.zone
    scope = _scope(ctx, request)
    after = decode_cursor(request.cursor, scope) if request.cursor else None
    query = ListQuery(
        responsible_ids=visible_responsibles(ctx, request.responsible_id),
        statuses=None if request.status is None else frozenset({request.status}),
        owner_type=request.owner_type,
        type=request.type,
        deadline_from=None if request.first is None else start_of_local_day(request.first, zone),
        deadline_before=(
            None if request.last is None else start_of_local_day(request.last + _ONE_DAY, zone)
        ),
        after=after,
        limit=request.limit + 1,
    )
    portal_id = ctx.actor.portal.id
    if not request.q.strip():
        async with ctx.storage.unit_of_work() as uow:
            rows = await uow.touch_points.page(portal_id, query)
        page = rows[: request.limit]
        cards = await cards_for(ctx.crm, page, stages=True)
        more = len(rows) > request.limit
        return ListPage(
            cards=tuple(cards), next_cursor=_cursor(page[-1], scope) if more and page else None
        )
    return await _search(ctx, query, request, scope)


def _cursor(last: TouchPoint, scope: str) -> str:
    return encode_cursor(ListPosition(deadline=last.deadline, id=last.id), scope)


async def _search(ctx: UseCase, query: ListQuery, request: ListRequest, scope: str) -> ListPage:
    """Scan candidates in order, reading their texts live, until ``limit`` match."""
    found: list[Card] = []
    scanned = 0
    position = query.after
    while scanned < SEARCH_SCAN_MAX:
        chunk_size = min(_SCAN_CHUNK, SEARCH_SCAN_MAX - scanned)
        async with ctx.storage.unit_of_work() as uow:
            rows = await uow.touch_points.page(
                ctx.actor.portal.id, attrs.evolve(query, after=position, limit=chunk_size)
            )
        if not rows:
            return ListPage(cards=tuple(found), next_cursor=None)
        for card in await cards_for(ctx.crm, rows, stages=True):
            scanned += 1
            tp = card.touch_point
            position = ListPosition(deadline=tp.deadline, id=tp.id)
            if text_matches(request.q, card.title, card.note):
                found.append(card)
                if len(found) == request.limit:
                    return ListPage(cards=tuple(found), next_cursor=_cursor(tp, scope))
        if len(rows) < chunk_size:
            return ListPage(cards=tuple(found), next_cursor=None)
    assert position is not None  # the loop scanned at least one row
    return ListPage(cards=tuple(found), next_cursor=encode_cursor(position, scope))


# ------------------------------------------------------------------ bulk actions


class BulkAction(enum.Enum):
    RESCHEDULE = "reschedule"
    REASSIGN = "reassign"
    COMPLETE = "complete"
    CANCEL = "cancel"


@attrs.frozen(kw_only=True)
class BulkRequest:
    """One action on many ids; which of the other fields count depends on the action."""

    ids: tuple[int, ...]
    action: BulkAction
    deadline: datetime | None = None
    day: date | None = None
    shift: Shift | None = None
    responsible_id: int | None = None
    result_note: str | None = None

    def problems(self) -> dict[str, str]:
        """What makes the request unusable, by field (DESIGN §3.6)."""
        errors: dict[str, str] = {}
        if not 1 <= len(self.ids) <= BULK_MAX:
            errors["ids"] = f"give 1 to {BULK_MAX} ids"
        targets = [
            name
            for name, value in (
                ("deadline", self.deadline),
                ("day", self.day),
                ("shift", self.shift),
            )
            if value is not None
        ]
        uses = {
            BulkAction.RESCHEDULE: {"deadline", "day", "shift"},
            BulkAction.REASSIGN: {"responsible_id"},
            BulkAction.COMPLETE: {"result_note"},
            BulkAction.CANCEL: set(),
        }[self.action]
        given = {*targets}
        if self.responsible_id is not None:
            given.add("responsible_id")
        if self.result_note is not None:
            given.add("result_note")
        for name in sorted(given - uses):
            errors[name] = f"is not used by the {self.action.value} action"
        if self.day is not None and not FIRST_YEAR <= self.day.year <= LAST_YEAR:
            errors["day"] = f"must be between the years {FIRST_YEAR} and {LAST_YEAR}"
        if self.action is BulkAction.RESCHEDULE and len(targets) != 1:
            errors["deadline"] = "give exactly one of deadline, day or shift"
        if self.action is BulkAction.REASSIGN and self.responsible_id is None:
            errors["responsible_id"] = "is required to reassign"
        if self.action is BulkAction.COMPLETE:
            note = (self.result_note or "").strip()
            if not note:
                errors["result_note"] = "is required to complete, and must not be empty"
            elif len(note) > NOTE_MAX:
                errors["result_note"] = f"must be at most {NOTE_MAX} characters"
        return errors


def _plan(ctx: UseCase, request: BulkRequest, current: TouchPoint, now: datetime) -> Planned:
    """One id's change, checked like the single call. Raises: Forbidden, Conflict."""
    actor, settings = ctx.actor, ctx.settings
    if not may_edit(actor.viewer, current, settings):
        raise Forbidden("this touch-point belongs to a colleague")
    activity_id, owner = current.activity_id, current.owner
    match request.action:
        case BulkAction.RESCHEDULE:
            if request.deadline is not None:
                deadline = request.deadline
            elif request.day is not None:
                deadline = move_to_local_day(current.deadline, request.day, now, settings)
            else:
                assert request.shift is not None  # BulkRequest.problems
                deadline = shift_deadline(current.deadline, request.shift, now, settings)
            move = _Move(deadline, None, now)
            after = move(current)
            crm = TodoChange(activity_id=activity_id, owner=owner, deadline=after.deadline)
            return Planned(
                before=current, after=after, crm=_written(after, current, crm), reapply=move
            )
        case BulkAction.REASSIGN:
            assert request.responsible_id is not None  # BulkRequest.problems
            if current.responsible_id != actor.viewer.user_id:
                _check_assignee(actor, settings, request.responsible_id)
            move = _Move(None, request.responsible_id, now)
            after = move(current)
            crm = TodoChange(
                activity_id=activity_id, owner=owner, responsible_id=after.responsible_id
            )
            return Planned(
                before=current, after=after, crm=_written(after, current, crm), reapply=move
            )
        case BulkAction.COMPLETE:
            complete = _Complete((request.result_note or "").strip(), now)
            after = complete(current)
            done = TodoChange(activity_id=activity_id, owner=owner, complete=True)
            return Planned(
                before=current, after=after, crm=done if current.is_open else None, reapply=complete
            )
    cancel = _Cancel(now)
    after = cancel(current)
    gone = TodoChange(activity_id=activity_id, owner=owner, delete=True)
    return Planned(
        before=current,
        after=after,
        crm=gone if current.is_open else None,
        reapply=cancel,
        gone_is_fine=True,
    )


def _written(after: TouchPoint, current: TouchPoint, crm: TodoChange) -> TodoChange | None:
    """No CRM write for an item that is already as asked."""
    return None if after == current else crm


async def _run(ctx: UseCase, ids: Sequence[int], plan: Callable[[TouchPoint], Planned]) -> Outcome:
    """Plan every id (refusals reported), apply the rest, offer an undo of what moved."""
    portal_id = ctx.actor.portal.id
    wanted = list(dict.fromkeys(ids))
    async with ctx.storage.unit_of_work() as uow:
        rows = {tp.id: tp for tp in await uow.touch_points.by_ids(portal_id, wanted)}
    failed: list[ItemFailure] = []
    planned: list[Planned] = []
    for touch_point_id in wanted:
        current = rows.get(touch_point_id)
        try:
            if current is None:
                raise NotFound(f"touch-point {touch_point_id} not found")
            planned.append(plan(current))
        except (Forbidden, Conflict, NotFound) as exc:
            failed.append(ItemFailure(id=touch_point_id, error=exc))
    applied = await apply(ctx, planned)
    ticket = None
    if applied.changed:
        async with ctx.storage.unit_of_work() as uow:
            ticket = await offer_undo(uow, ctx, applied.changed)
    order = {touch_point_id: n for n, touch_point_id in enumerate(wanted)}
    return Outcome(
        done=applied.done,
        failed=tuple(sorted([*failed, *applied.failed], key=lambda f: order[f.id])),
        undo=ticket,
    )


async def bulk_action(ctx: UseCase, request: BulkRequest) -> Outcome:
    """One action on many touch-points; each id is checked like a single call and one that
    fails does not stop the others. Reschedules and reassignments offer an undo; completing
    and cancelling do not (Bitrix24 cannot reopen a to-do, and a cancelled one is deleted).

    Raises: InvalidInput (``BulkRequest.problems``).
    """
    problems = request.problems()
    if problems:
        raise InvalidInput(problems)
    now = ctx.clock.now()
    return await _run(ctx, request.ids, lambda current: _plan(ctx, request, current, now))


# ------------------------------------------------------------------ the overdue sweep


@attrs.frozen(kw_only=True)
class SweepOutcome:
    outcome: Outcome
    ids: tuple[int, ...]


async def sweep(
    ctx: UseCase,
    *,
    to: SweepTarget | date,
    responsible_id: int | None = None,
    dry_run: bool = False,
) -> SweepOutcome:
    """Move every overdue open touch-point the caller may see (of one responsible when
    given; at most ``BULK_MAX``, the most overdue first) to a local day, each keeping its
    local time of day (``move_to_local_day``: a time already past today moves to the next
    full hour). ``dry_run``: the ids it would move, changing nothing.

    Raises: Forbidden (a colleague's without team visibility), InvalidInput (a day in the past).
    """
    settings = ctx.settings
    now = ctx.clock.now()
    responsibles = visible_responsibles(ctx, responsible_id)
    if isinstance(to, date) and to < current_local_day(now, settings.zone):
        raise InvalidInput({"to": "must not be a day before today"})
    day = sweep_day(to, now, settings)
    async with ctx.storage.unit_of_work() as uow:
        overdue = await uow.touch_points.board(
            ctx.actor.portal.id,
            BoardQuery(responsible_ids=responsibles, deadline_before=now, limit=BULK_MAX),
        )
    targets = {tp.id: move_to_local_day(tp.deadline, day, now, settings) for tp in overdue}
    moving = [tp for tp in overdue if targets[tp.id] != tp.deadline]
    if dry_run:
        ids = tuple(tp.id for tp in moving)
        return SweepOutcome(outcome=Outcome(done=(), failed=(), undo=None), ids=ids)

    def plan(current: TouchPoint) -> Planned:
        if not may_edit(ctx.actor.viewer, current, settings):
            raise Forbidden("this touch-point belongs to a colleague")
        deadline = targets.get(current.id) or current.deadline
        move = _Move(deadline, None, now)
        after = move(current)
        crm = TodoChange(activity_id=current.activity_id, owner=current.owner, deadline=deadline)
        return Planned(before=current, after=after, crm=_written(after, current, crm), reapply=move)

    outcome = await _run(ctx, [tp.id for tp in moving], plan)
    return SweepOutcome(outcome=outcome, ids=outcome.done)
