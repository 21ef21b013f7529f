"""Touch-point use cases: board, create, move, complete with follow-up, cancel, chain, record tab."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta

import attrs

from touchpoints.domain.constraints import Id, Note, Title
from touchpoints.domain.crm import TodoSpec
from touchpoints.domain.errors import InvalidTransition
from touchpoints.domain.limits import NOTE_MAX, TITLE_MAX
from touchpoints.domain.model import (
    EntityType,
    OwnerRef,
    Status,
    TouchPoint,
    TouchPointType,
)
from touchpoints.domain.scheduling import (
    BUCKET_ORDER,
    Bucket,
    BucketEdges,
    current_local_day,
    days_off,
    follow_up_deadline,
    move_to_local_day,
    week_start,
)
from touchpoints.domain.settings import PortalSettings
from touchpoints.domain.visibility import may_edit, may_view, sees_team
from touchpoints.ports.crm import CrmNotFound
from touchpoints.ports.storage import (
    BoardQuery,
    ConcurrentUpdate,
    PendingTodo,
    Storage,
    UnitOfWork,
)
from touchpoints.services.context import (
    Actor,
    Card,
    UseCase,
    card_for,
    cards_for,
    load_settings,
    visible_touch_point,
)
from touchpoints.services.errors import Conflict, Forbidden, InvalidInput
from touchpoints.services.todos import create_recorded_todo, new_from_attempt, record_follow_up

# A board never lists more cards than this; filters narrow it further.
BOARD_LIMIT = 5_000
_TYPE_TITLES = {
    TouchPointType.CALL: "Call",
    TouchPointType.MEETING: "Meeting",
    TouchPointType.EMAIL: "E-mail",
    TouchPointType.MESSAGE: "Message",
    TouchPointType.VISIT: "Visit",
    TouchPointType.OTHER: "Follow-up",
}


@attrs.frozen(kw_only=True)
class Board:
    today: date
    time_zone: str
    columns: tuple[tuple[Bucket, tuple[Card, ...]], ...]
    # The days off from today to the end of next week: the columns' "day off" hints.
    days_off: frozenset[date] = frozenset()


@attrs.frozen(kw_only=True)
class BoardRequest:
    """The board's filters: one responsible (only team viewers ask for a colleague's),
    one kind of record, one kind of contact."""

    responsible_id: Id | None = None
    owner_type: EntityType | None = None
    type: TouchPointType | None = None


@attrs.frozen(kw_only=True)
class CreateRequest:
    """A new touch-point: the CRM record, the kind of contact, when and whose."""

    owner: OwnerRef
    type: TouchPointType
    deadline: datetime
    responsible_id: Id | None = None
    title: Title | None = None
    note: Note | None = None


@attrs.frozen(kw_only=True)
class FollowUpRequest:
    """The next touch-point of a chain; fields left out fall back to the default interval,
    the same type and the same responsible."""

    deadline: datetime | None = None
    type: TouchPointType | None = None
    responsible_id: Id | None = None


@attrs.frozen(kw_only=True)
class Completion:
    completed: Card
    follow_up: Card | None


def visible_responsibles(ctx: UseCase, responsible_id: int | None) -> frozenset[int] | None:
    """Whose touch-points a board, list or sweep shows (None: everyone's): one's own,
    everyone's for admins and team viewers, or the one responsible asked for.

    Raises: Forbidden (a colleague's, asked for by someone who may not see them).
    """
    actor = ctx.actor
    team = sees_team(actor.viewer, ctx.settings)
    if responsible_id is not None:
        if responsible_id != actor.viewer.user_id and not team:
            raise Forbidden("you may only see your own touch-points")
        return frozenset({responsible_id})
    return None if team else frozenset({actor.viewer.user_id})


def _check_assignee(
    actor: Actor, settings: PortalSettings, assignee: int, *, also: int | None = None
) -> None:
    """Users plan for themselves (and hand their own work on); team viewers plan for anyone."""
    if assignee in (actor.viewer.user_id, also) or sees_team(actor.viewer, settings):
        return
    raise Forbidden("only admins and team viewers may plan touch-points for colleagues")


async def _editable(ctx: UseCase, touch_point_id: int) -> TouchPoint:
    """The stored touch-point, when the caller may change it. Raises: NotFound, Forbidden."""
    async with ctx.storage.unit_of_work() as uow:
        current = await visible_touch_point(uow, ctx.actor, touch_point_id, ctx.settings)
    if not may_edit(ctx.actor.viewer, current, ctx.settings):
        raise Forbidden("this touch-point belongs to a colleague")
    return current


async def get_board(ctx: UseCase, request: BoardRequest | None = None) -> Board:
    """Open touch-points in due-date columns in the portal's time zone, with live titles.

    Raises: Forbidden (a colleague's, without team visibility).
    """
    request = request or BoardRequest()
    storage, crm, clock, settings = ctx.storage, ctx.crm, ctx.clock, ctx.settings
    now = clock.now()
    responsibles = visible_responsibles(ctx, request.responsible_id)
    async with storage.reading() as uow:
        touch_points = await uow.touch_points.board(
            ctx.actor.portal.id,
            BoardQuery(
                responsible_ids=responsibles,
                owner_type=request.owner_type,
                type=request.type,
                limit=BOARD_LIMIT,
            ),
        )
    zone = settings.zone
    cards = await cards_for(crm, touch_points)
    edges = BucketEdges.at(now, zone)
    grouped: dict[Bucket, list[Card]] = {bucket: [] for bucket in BUCKET_ORDER}
    for card in cards:
        grouped[edges.bucket_of(card.touch_point.deadline)].append(card)
    today = current_local_day(now, zone)
    return Board(
        today=today,
        time_zone=settings.time_zone,
        columns=tuple((bucket, tuple(grouped[bucket])) for bucket in BUCKET_ORDER),
        days_off=frozenset(days_off(today, week_start(today) + timedelta(days=13), settings)),
    )


async def get_touch_point(
    ctx: UseCase,
    *,
    touch_point_id: int,
) -> Card:
    storage, crm, actor, settings = ctx.storage, ctx.crm, ctx.actor, ctx.settings
    async with storage.unit_of_work() as uow:
        touch_point = await visible_touch_point(uow, actor, touch_point_id, settings)
    return await card_for(crm, touch_point)


def _todo_title(title: str | None, type_: TouchPointType) -> str:
    return title.strip() if title and title.strip() else _TYPE_TITLES[type_]


def _validate_texts(title: str | None, note: str | None) -> None:
    errors: dict[str, str] = {}
    if title is not None and len(title) > TITLE_MAX:
        errors["title"] = f"must be at most {TITLE_MAX} characters"
    if note is not None and len(note) > NOTE_MAX:
        errors["note"] = f"must be at most {NOTE_MAX} characters"
    if errors:
        raise InvalidInput(errors)


async def create_touch_point(
    ctx: UseCase,
    *,
    request: CreateRequest,
) -> Card:
    """Create the CRM to-do with the user's token, then record our metadata.

    The CRM call comes first so Bitrix24 enforces the user's permissions; if recording
    fails afterwards the to-do is deleted again (best effort; reconciliation adopts or
    removes what is left).
    """
    storage, crm, clock, actor, settings = ctx.storage, ctx.crm, ctx.clock, ctx.actor, ctx.settings
    _validate_texts(request.title, request.note)
    now = clock.now()
    responsible_id = request.responsible_id or actor.viewer.user_id
    if request.owner.type not in settings.enabled_entities:
        raise InvalidInput(
            {"owner.type": f"{request.owner.type.value} is not enabled on this portal"}
        )
    _check_assignee(actor, settings, responsible_id)
    spec = TodoSpec(
        owner=request.owner,
        type=request.type,
        deadline=request.deadline,
        responsible_id=responsible_id,
        title=_todo_title(request.title, request.type),
        description=request.note or "",
        ping_offsets=settings.reminder_minutes,
    )
    attempt = PendingTodo(
        portal_id=actor.portal.id,
        owner=request.owner,
        type=request.type,
        deadline=request.deadline,
        responsible_id=responsible_id,
        created_by=actor.viewer.user_id,
        created_at=now,
    )

    async def record(uow: UnitOfWork, activity_id: int) -> TouchPoint:
        return await uow.touch_points.add(new_from_attempt(attempt, activity_id))

    stored = await create_recorded_todo(storage, crm, attempt, spec, record)
    return await card_for(crm, stored)


async def _update_with_retry(
    storage: Storage,
    actor: Actor,
    touch_point_id: int,
    change: _Change,
) -> TouchPoint:
    """Apply ``change`` to the freshest row; one re-read when an event raced us."""
    for attempt in range(2):
        async with storage.unit_of_work() as uow:
            settings = await load_settings(uow, actor.portal.id)
            current = await visible_touch_point(uow, actor, touch_point_id, settings)
            changed = change(current)
            if changed == current:
                return current
            try:
                return await uow.touch_points.update(changed)
            except ConcurrentUpdate:
                if attempt == 1:
                    raise Conflict(
                        "the touch-point changed meanwhile; reload and try again"
                    ) from None
    raise AssertionError("unreachable")  # pragma: no cover


class _Change:
    """A pure edit of a touch-point, re-appliable after a concurrent update."""

    def __call__(self, touch_point: TouchPoint) -> TouchPoint:  # pragma: no cover - protocol
        raise NotImplementedError


@attrs.frozen
class _Move(_Change):
    deadline: datetime | None
    responsible_id: int | None
    now: datetime

    def __call__(self, touch_point: TouchPoint) -> TouchPoint:
        if not touch_point.is_open:
            raise Conflict(f"a {touch_point.status.value} touch-point cannot be moved")
        try:
            if self.deadline is not None and self.deadline != touch_point.deadline:
                touch_point = touch_point.reschedule(self.deadline, now=self.now)
            if (
                self.responsible_id is not None
                and self.responsible_id != touch_point.responsible_id
            ):
                touch_point = touch_point.reassign(self.responsible_id, now=self.now)
        except InvalidTransition as exc:
            raise Conflict(str(exc)) from exc
        return touch_point


async def move_touch_point(
    ctx: UseCase,
    *,
    touch_point_id: int,
    deadline: datetime | None,
    responsible_id: int | None,
    day: date | None = None,
) -> Card:
    """Reschedule (to ``deadline``, or to a local ``day`` keeping the local time of day)
    and/or reassign: the CRM to-do first, then our row."""
    storage, crm, clock, actor, settings = ctx.storage, ctx.crm, ctx.clock, ctx.actor, ctx.settings
    if deadline is None and day is None and responsible_id is None:
        raise InvalidInput({"body": "give a deadline (or a day), a responsible_id, or both"})
    now = clock.now()
    current = await _editable(ctx, touch_point_id)
    if day is not None:
        deadline = move_to_local_day(current.deadline, day, now, settings)
    if responsible_id is not None and current.responsible_id != actor.viewer.user_id:
        _check_assignee(actor, settings, responsible_id)
    change = _Move(deadline, responsible_id, now)
    planned = change(current)  # refuses moving a done touch-point before touching the CRM
    if planned.deadline != current.deadline:
        await crm.update_deadline(current.activity_id, current.owner, planned.deadline)
    if planned.responsible_id != current.responsible_id:
        await crm.update_responsible(current.activity_id, current.owner, planned.responsible_id)
    stored = await _update_with_retry(storage, actor, touch_point_id, change)
    return await card_for(crm, stored)


@attrs.frozen
class _Complete(_Change):
    note: str
    now: datetime

    def __call__(self, touch_point: TouchPoint) -> TouchPoint:
        # A retry of the same completion, or one the CRM event already recorded without
        # its note, is not a second completion.
        if touch_point.status is Status.DONE and touch_point.result_note in (None, self.note):
            if touch_point.result_note == self.note:
                return touch_point
            return attrs.evolve(touch_point, result_note=self.note, updated_at=self.now)
        try:
            return touch_point.complete(self.note, now=self.now)
        except InvalidTransition as exc:
            raise Conflict(str(exc)) from exc


async def complete_touch_point(
    ctx: UseCase,
    *,
    touch_point_id: int,
    result_note: str,
    follow_up: FollowUpRequest | None,
) -> Completion:
    """Complete with a result note and, optionally, schedule the linked follow-up.

    Order: complete the CRM activity, record it, then create the follow-up to-do and link
    both rows. Repeating the same request after a failure finishes what is missing
    (the completion is idempotent for the same note), so nothing is done twice.
    """
    storage, crm, clock, actor, settings = ctx.storage, ctx.crm, ctx.clock, ctx.actor, ctx.settings
    note = result_note.strip()
    if not note:
        raise InvalidInput({"result_note": "must not be empty"})
    if len(note) > NOTE_MAX:
        raise InvalidInput({"result_note": f"must be at most {NOTE_MAX} characters"})
    now = clock.now()
    current = await _editable(ctx, touch_point_id)
    change = _Complete(note, now)
    change(current)  # refuses completing a cancelled one before touching the CRM
    if follow_up is not None and follow_up.responsible_id is not None:
        _check_assignee(actor, settings, follow_up.responsible_id, also=current.responsible_id)
    if current.is_open:
        await crm.complete(current.activity_id)
    stored = await _update_with_retry(storage, actor, touch_point_id, change)
    if follow_up is None or stored.next_id is not None:
        completed_cards = await cards_for(crm, [stored])
        next_card = None
        if stored.next_id is not None and follow_up is not None:
            async with storage.unit_of_work() as uow:
                existing = await uow.touch_points.get(actor.portal.id, stored.next_id)
            if existing is not None:
                next_card = await card_for(crm, existing)
        return Completion(completed=completed_cards[0], follow_up=next_card)

    deadline = follow_up.deadline or follow_up_deadline(now, stored.deadline, settings)
    type_ = follow_up.type or stored.type
    responsible_id = follow_up.responsible_id or stored.responsible_id
    spec = TodoSpec(
        owner=stored.owner,
        type=type_,
        deadline=deadline,
        responsible_id=responsible_id,
        title=_TYPE_TITLES[type_],
        description=f"Follow-up. Last result: {note}"[:NOTE_MAX],
        parent_activity_id=stored.activity_id,
        ping_offsets=settings.reminder_minutes,
    )
    attempt = PendingTodo(
        portal_id=actor.portal.id,
        owner=stored.owner,
        type=type_,
        deadline=deadline,
        responsible_id=responsible_id,
        created_by=actor.viewer.user_id,
        created_at=now,
        previous_id=stored.id,
    )

    async def record(uow: UnitOfWork, activity_id: int) -> tuple[TouchPoint, TouchPoint]:
        return await record_follow_up(uow, attempt, activity_id, now=now)

    linked, added = await create_recorded_todo(storage, crm, attempt, spec, record)
    cards = await cards_for(crm, [linked, added])
    return Completion(completed=cards[0], follow_up=cards[1])


@attrs.frozen
class _Cancel(_Change):
    now: datetime

    def __call__(self, touch_point: TouchPoint) -> TouchPoint:
        if touch_point.status is Status.CANCELLED:
            return touch_point
        try:
            return touch_point.cancel(now=self.now)
        except InvalidTransition as exc:
            raise Conflict(str(exc)) from exc


async def cancel_touch_point(
    ctx: UseCase,
    *,
    touch_point_id: int,
) -> Card:
    """Cancel an open touch-point and delete its CRM to-do (it will not happen)."""
    crm, now = ctx.crm, ctx.clock.now()
    current = await _editable(ctx, touch_point_id)
    change = _Cancel(now)
    change(current)  # refuses cancelling a done touch-point before touching the CRM
    if current.is_open:
        # Already gone in the CRM: cancelling is what the user wants anyway.
        with contextlib.suppress(CrmNotFound):
            await crm.delete_activity(current.activity_id)
    stored = await _update_with_retry(ctx.storage, ctx.actor, touch_point_id, change)
    return await card_for(crm, stored)


async def get_chain(
    ctx: UseCase,
    *,
    touch_point_id: int,
) -> list[Card]:
    actor = ctx.actor
    async with ctx.storage.unit_of_work() as uow:
        await visible_touch_point(uow, actor, touch_point_id, ctx.settings)
        chain = await uow.touch_points.chain(actor.portal.id, touch_point_id)
    return await _visible_cards(ctx, chain)


async def record_touch_points(
    ctx: UseCase,
    *,
    owner: OwnerRef,
) -> list[Card]:
    """A CRM record's touch-points (the card tab), as far as the caller may see them."""
    async with ctx.storage.unit_of_work() as uow:
        touch_points = await uow.touch_points.for_owner(ctx.actor.portal.id, owner)
    # Open ones first, the most overdue on top; then the finished ones, newest first.
    opened = sorted((tp for tp in touch_points if tp.is_open), key=lambda tp: (tp.deadline, tp.id))
    closed = sorted(
        (tp for tp in touch_points if not tp.is_open),
        key=lambda tp: (tp.deadline, tp.id),
        reverse=True,
    )
    return await _visible_cards(ctx, [*opened, *closed])


async def _visible_cards(ctx: UseCase, touch_points: list[TouchPoint]) -> list[Card]:
    """The cards of those of ``touch_points`` the caller may see, in the same order."""
    viewer, settings = ctx.actor.viewer, ctx.settings
    return await cards_for(ctx.crm, [tp for tp in touch_points if may_view(viewer, tp, settings)])
