"""Replies of the list view, bulk actions, the sweep and undo (DESIGN §3.6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.constraints import Count, Describe, Id
from touchpoints.entrypoints.http import to_api_error
from touchpoints.entrypoints.replies import TouchPointReply
from touchpoints.services.bulk import ListPage, SweepOutcome
from touchpoints.services.changes import ItemFailure
from touchpoints.services.undo import ChangedSince, Outcome, UndoTicket


@attrs.frozen(kw_only=True)
class TouchPointList:
    items: list[TouchPointReply]
    next_cursor: Annotated[str | None, Describe("Pass as `cursor` for the next page; null: none.")]

    @classmethod
    def of(cls, page: ListPage, zone: ZoneInfo) -> TouchPointList:
        return cls(
            items=[TouchPointReply.of(card, zone) for card in page.cards],
            next_cursor=page.next_cursor,
        )


@attrs.frozen(kw_only=True)
class UndoOffer:
    """Send ``token`` to ``POST /api/v1/undo`` before ``expires_at``; it works once."""

    token: str
    expires_at: datetime

    @classmethod
    def of(cls, ticket: UndoTicket | None, zone: ZoneInfo) -> UndoOffer | None:
        if ticket is None:
            return None
        return cls(token=ticket.token, expires_at=ticket.expires_at.astimezone(zone))


@attrs.frozen(kw_only=True)
class FailedItem:
    """An id left unchanged, with the code and message a single call would have answered
    (``CHANGED_SINCE`` for an undo of something changed since)."""

    id: Id
    code: str
    message: str

    @classmethod
    def of(cls, failure: ItemFailure) -> FailedItem:
        if isinstance(failure.error, ChangedSince):
            return cls(id=failure.id, code="CHANGED_SINCE", message=str(failure.error))
        mapped = to_api_error(failure.error)
        if mapped is None:  # pragma: no cover - every ItemFailure error is a mapped kind
            return cls(id=failure.id, code="ERROR", message="it could not be changed")
        return cls(id=failure.id, code=mapped.code, message=mapped.message)


@attrs.frozen(kw_only=True)
class BulkOutcome:
    done: list[Id]
    failed: list[FailedItem]
    undo: UndoOffer | None

    @classmethod
    def of(cls, outcome: Outcome, zone: ZoneInfo) -> BulkOutcome:
        return cls(
            done=list(outcome.done),
            failed=[FailedItem.of(failure) for failure in outcome.failed],
            undo=UndoOffer.of(outcome.undo, zone),
        )


@attrs.frozen(kw_only=True)
class SweepResult:
    """As a bulk action's reply, plus how many it moved (or would move) and their ids."""

    done: list[Id]
    failed: list[FailedItem]
    undo: UndoOffer | None
    count: Count
    ids: list[Id]

    @classmethod
    def of(cls, result: SweepOutcome, zone: ZoneInfo) -> SweepResult:
        bulk = BulkOutcome.of(result.outcome, zone)
        return cls(
            done=bulk.done,
            failed=bulk.failed,
            undo=bulk.undo,
            count=len(result.ids),
            ids=list(result.ids),
        )
