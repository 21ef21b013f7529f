"""Creating a CRM to-do with a trace: the pending-attempt protocol (DESIGN.md §3.5).

Every to-do the app creates is first written down as a pending attempt, so a to-do never
exists only in the CRM: reconciliation adopts or removes what an interrupted creation left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import attrs

from touchpoints.domain.crm import TodoSpec
from touchpoints.domain.errors import ChainError
from touchpoints.domain.model import NewTouchPoint, TouchPoint
from touchpoints.ports.crm import Crm, CrmError, CrmRateLimited, CrmTimeout, CrmUnavailable
from touchpoints.ports.storage import PendingTodo, Storage, StorageError, UnitOfWork
from touchpoints.services.errors import Conflict, NotFound

T = TypeVar("T")


def new_from_attempt(attempt: PendingTodo, activity_id: int) -> NewTouchPoint:
    """The touch-point an attempt becomes once its CRM to-do ``activity_id`` exists: the
    attempt's planned fields (not its own id)."""
    planned = attrs.asdict(
        attempt, recurse=False, filter=attrs.filters.exclude("id", "activity_id")
    )
    return NewTouchPoint(activity_id=activity_id, **planned)


def _may_have_run(exc: CrmError) -> bool:
    """A timeout or a 5xx may hide a to-do that was created; refusals before running do not."""
    if isinstance(exc, CrmRateLimited):
        return False  # QUERY_LIMIT_EXCEEDED / OPERATION_TIME_LIMIT refuse before running
    return isinstance(exc, CrmTimeout | CrmUnavailable)


async def create_recorded_todo(
    storage: Storage,
    crm: Crm,
    attempt: PendingTodo,
    spec: TodoSpec,
    record: Callable[[UnitOfWork, int], Awaitable[T]],
) -> T:
    """Create a CRM to-do so that it never exists only in the CRM without a trace.

    The attempt is written before the call and removed in the transaction that records
    the touch-point. When the call's outcome is unknown (timeout, 5xx) or recording fails
    and the to-do cannot be deleted again, the attempt stays for reconciliation to adopt
    the to-do or forget the attempt (DESIGN.md §3.5).
    """
    async with storage.unit_of_work() as uow:
        logged = await uow.pending.add(attempt)
    assert logged.id is not None
    try:
        activity_id = await crm.create_todo(spec)
    except CrmError as exc:
        if not _may_have_run(exc):
            await _forget_attempt(storage, logged)
        raise
    try:
        async with storage.unit_of_work() as uow:
            result = await record(uow, activity_id)
            await uow.pending.delete(logged.portal_id, logged.id)
    except Exception:
        try:
            await crm.delete_activity(activity_id)
        except CrmError:
            with contextlib.suppress(StorageError):
                async with storage.unit_of_work() as uow:
                    await uow.pending.set_activity(logged.portal_id, logged.id, activity_id)
        else:
            await _forget_attempt(storage, logged)
        raise
    return result


async def _forget_attempt(storage: Storage, attempt: PendingTodo) -> None:
    assert attempt.id is not None
    # If the database is down too, reconciliation finds no to-do and drops the attempt.
    with contextlib.suppress(StorageError):
        async with storage.unit_of_work() as uow:
            await uow.pending.delete(attempt.portal_id, attempt.id)


async def record_follow_up(
    uow: UnitOfWork, attempt: PendingTodo, activity_id: int, *, now: datetime
) -> tuple[TouchPoint, TouchPoint]:
    """Store a follow-up and link its predecessor to it; returns (previous, follow-up).

    Raises: NotFound (the predecessor is gone), Conflict (it already has a follow-up).
    """
    assert attempt.previous_id is not None
    previous = await uow.touch_points.get_for_update(attempt.portal_id, attempt.previous_id)
    if previous is None:
        raise NotFound(f"touch-point {attempt.previous_id} not found")
    added = await uow.touch_points.add(new_from_attempt(attempt, activity_id))
    try:
        linked = await uow.touch_points.update(previous.link_follow_up(added.id, now=now))
    except ChainError as exc:
        raise Conflict(str(exc)) from exc
    return linked, added
