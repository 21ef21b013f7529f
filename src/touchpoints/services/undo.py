"""Undo (DESIGN §3.6): tokens offered by moves, reassignments, bulk actions and sweeps, and
their one redemption, which puts deadlines and responsibles back in our rows and the CRM.

A token is 32 random bytes (URL-safe text) handed to the user once; storage keeps only its
SHA-256, the user it belongs to, its expiry (``UNDO_TTL``) and what it restores, so any
replica can redeem it. Redeeming claims the record first (exactly one caller wins), then
restores every item that nobody changed since; the others are reported ``CHANGED_SINCE``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, datetime

import attrs

from touchpoints.domain.errors import InvalidTransition
from touchpoints.domain.model import TouchPoint
from touchpoints.domain.undo import UNDO_TTL, UndoItem, UndoRecord, hash_token
from touchpoints.domain.visibility import may_edit
from touchpoints.ports.crm import TodoChange
from touchpoints.ports.storage import UnitOfWork
from touchpoints.services.changes import ItemFailure, Planned, apply
from touchpoints.services.context import Card, UseCase, visible_touch_point
from touchpoints.services.errors import Conflict, Forbidden, NotFound
from touchpoints.services.touchpoints import move_touch_point


class ChangedSince(Conflict):
    """The touch-point was moved, handed over, completed or cancelled after the action."""


class UndoUsed(Conflict):
    """The token was redeemed already: an undo works once."""


class UndoExpired(Conflict):
    """The token is older than ``UNDO_TTL``."""


@attrs.frozen(kw_only=True)
class UndoTicket:
    """What the user gets to undo with: the token (shown once) and until when it works."""

    token: str
    expires_at: datetime


@attrs.frozen(kw_only=True)
class Outcome:
    """What a bulk action, sweep or undo did: ids changed, ids refused, the undo offered."""

    done: tuple[int, ...]
    failed: tuple[ItemFailure, ...]
    undo: UndoTicket | None


async def offer_undo(
    uow: UnitOfWork, ctx: UseCase, changed: Sequence[tuple[TouchPoint, TouchPoint]]
) -> UndoTicket | None:
    """Store an undo record for the deadline and responsible changes in ``changed``
    (before, after); None when nothing of that kind changed."""
    items = tuple(
        UndoItem.of(before, after)
        for before, after in changed
        if (before.deadline, before.responsible_id) != (after.deadline, after.responsible_id)
    )
    if not items:
        return None
    now = ctx.clock.now()
    token = secrets.token_urlsafe(32)
    record = await uow.undo.add(
        UndoRecord(
            portal_id=ctx.actor.portal.id,
            user_id=ctx.actor.viewer.user_id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + UNDO_TTL,
            items=items,
        )
    )
    return UndoTicket(token=token, expires_at=record.expires_at)


async def move_with_undo(
    ctx: UseCase,
    *,
    touch_point_id: int,
    deadline: datetime | None,
    responsible_id: int | None,
    day: date | None = None,
) -> tuple[Card, UndoTicket | None]:
    """``move_touch_point``, and an undo of it (None when nothing moved)."""
    async with ctx.storage.unit_of_work() as uow:
        before = await visible_touch_point(uow, ctx.actor, touch_point_id, ctx.settings)
    card = await move_touch_point(
        ctx,
        touch_point_id=touch_point_id,
        deadline=deadline,
        responsible_id=responsible_id,
        day=day,
    )
    async with ctx.storage.unit_of_work() as uow:
        ticket = await offer_undo(uow, ctx, [(before, card.touch_point)])
    return card, ticket


def _plan_restore(ctx: UseCase, item: UndoItem, current: TouchPoint) -> Planned:
    """Restore ``current`` as ``item`` says. Raises: Forbidden, ChangedSince."""
    if not may_edit(ctx.actor.viewer, current, ctx.settings):
        raise Forbidden("this touch-point belongs to a colleague")
    if item.changed_since(current):
        raise ChangedSince("the touch-point changed since; it was left as it is")
    now = ctx.clock.now()

    def restore(row: TouchPoint) -> TouchPoint:
        if row.is_open and (row.deadline, row.responsible_id) == (
            item.before_deadline,
            item.before_responsible_id,
        ):
            return row  # the CRM's event of our own write got there first
        if item.changed_since(row):
            raise ChangedSince("the touch-point changed since; it was left as it is")
        try:
            return item.restore(row, now=now)
        except InvalidTransition as exc:  # pragma: no cover - changed_since covers it
            raise ChangedSince(str(exc)) from exc

    after = restore(current)
    return Planned(
        before=current,
        after=after,
        crm=TodoChange(
            activity_id=current.activity_id,
            owner=current.owner,
            deadline=after.deadline if after.deadline != current.deadline else None,
            responsible_id=(
                after.responsible_id if after.responsible_id != current.responsible_id else None
            ),
        ),
        reapply=restore,
    )


async def redeem_undo(ctx: UseCase, *, token: str) -> Outcome:
    """Undo what the token's action changed, once.

    Raises: NotFound (no such token on this portal), Forbidden (another user's token),
    UndoUsed (redeemed before, or by a concurrent request), UndoExpired.
    """
    now = ctx.clock.now()
    portal_id = ctx.actor.portal.id
    async with ctx.storage.unit_of_work() as uow:
        record = await uow.undo.get(portal_id, hash_token(token))
        if record is None or record.id is None:
            raise NotFound("no such undo; it may have expired long ago")
        if record.user_id != ctx.actor.viewer.user_id:
            raise Forbidden("this undo belongs to another user")
        if record.used_at is not None:
            raise UndoUsed("this was undone already")
        if record.is_expired(now):
            raise UndoExpired("this can no longer be undone")
        if not await uow.undo.use(portal_id, record.id, now=now):
            raise UndoUsed("this was undone already")
        rows = {
            tp.id: tp
            for tp in await uow.touch_points.by_ids(
                portal_id, [item.touch_point_id for item in record.items]
            )
        }
    failed: list[ItemFailure] = []
    planned: list[Planned] = []
    for item in record.items:
        current = rows.get(item.touch_point_id)
        try:
            if current is None:
                raise NotFound(f"touch-point {item.touch_point_id} not found")
            planned.append(_plan_restore(ctx, item, current))
        except (Forbidden, NotFound, Conflict) as exc:
            failed.append(ItemFailure(id=item.touch_point_id, error=exc))
    applied = await apply(ctx, planned)
    order = {item.touch_point_id: n for n, item in enumerate(record.items)}
    return Outcome(
        done=applied.done,
        failed=tuple(sorted([*failed, *applied.failed], key=lambda f: order.get(f.id, 0))),
        undo=None,
    )
