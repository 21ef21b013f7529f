"""Many touch-points changed at once: the CRM writes batched, then our rows, each id on its own.

Shared by bulk actions, the overdue sweep and undo. Each item is planned from its stored row
(visibility and transitions checked as a single call would), the planned CRM writes go out
together (``Crm.change_todos``: ``batch`` requests of up to 50 commands), and our rows are
then stored in one unit of work, an item that raced an event re-applied once to the fresher
row. An item that fails is reported with its error and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from touchpoints.domain.model import TouchPoint
from touchpoints.ports.crm import CrmError, CrmNotFound, TodoChange
from touchpoints.ports.storage import ConcurrentUpdate, InvalidReference, TouchPointRepository
from touchpoints.services.context import UseCase
from touchpoints.services.errors import Conflict, NotFound, ServiceError

Reapply = Callable[[TouchPoint], TouchPoint]


@attrs.frozen(kw_only=True)
class ItemFailure:
    """Why one id was not changed: a service refusal or a CRM or storage failure, which the
    API reports with the same code and message as a single call would."""

    id: int
    error: ServiceError | CrmError


@attrs.frozen(kw_only=True)
class Planned:
    """One item's change: the row as read, the row as it should become, the CRM write that
    gets it there (None: nothing to write), and how to apply it again to a fresher row."""

    before: TouchPoint
    after: TouchPoint
    crm: TodoChange | None
    reapply: Reapply
    # Cancelling a to-do that is already gone in the CRM is what the user wants anyway.
    gone_is_fine: bool = False


@attrs.frozen(kw_only=True)
class Applied:
    """What ``apply`` did: the ids changed (in request order) with their rows before and
    after, and the failures."""

    done: tuple[int, ...]
    changed: tuple[tuple[TouchPoint, TouchPoint], ...]
    failed: tuple[ItemFailure, ...]


async def apply(ctx: UseCase, planned: Sequence[Planned]) -> Applied:
    """Write ``planned`` to the CRM (batched), then to our rows; see the module docstring."""
    writes = [item.crm for item in planned if item.crm is not None]
    crm_failures = await ctx.crm.change_todos(writes) if writes else {}
    failed: dict[int, ItemFailure] = {}
    ready: list[Planned] = []
    for item in planned:
        error = crm_failures.get(item.before.activity_id) if item.crm is not None else None
        if error is not None and not (item.gone_is_fine and isinstance(error, CrmNotFound)):
            failed[item.before.id] = ItemFailure(id=item.before.id, error=error)
        else:
            ready.append(item)
    stored: dict[int, TouchPoint] = {}
    if ready:
        async with ctx.storage.unit_of_work() as uow:
            for item in ready:
                try:
                    stored[item.before.id] = await _store(uow.touch_points, item)
                except (Conflict, NotFound) as exc:
                    failed[item.before.id] = ItemFailure(id=item.before.id, error=exc)
    done = tuple(item.before.id for item in planned if item.before.id in stored)
    changed = tuple(
        (item.before, stored[item.before.id])
        for item in planned
        if item.before.id in stored and stored[item.before.id] != item.before
    )
    order = {item.before.id: n for n, item in enumerate(planned)}
    return Applied(
        done=done,
        changed=changed,
        failed=tuple(sorted(failed.values(), key=lambda f: order.get(f.id, 0))),
    )


async def _store(repository: TouchPointRepository, item: Planned) -> TouchPoint:
    """Store ``item.after``; re-read and re-apply once when an event changed the row meanwhile."""
    if item.after == item.before:
        return item.before
    try:
        return await repository.update(item.after)
    except ConcurrentUpdate:
        fresh = await repository.get(item.before.portal_id, item.before.id)
        if fresh is None:
            raise NotFound(f"touch-point {item.before.id} not found") from None
        again = item.reapply(fresh)
        if again == fresh:
            return fresh
        try:
            return await repository.update(again)
        except ConcurrentUpdate:
            raise Conflict("the touch-point changed meanwhile; reload and try again") from None
    except InvalidReference:
        raise NotFound(f"touch-point {item.before.id} not found") from None
