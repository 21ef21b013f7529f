"""The bodies of bulk actions, the sweep and undo (DESIGN §3.6); the list view's query is the
use case's own ``services.bulk.ListRequest``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import attrs

from touchpoints.domain.constraints import (
    Constraint,
    Describe,
    Id,
    Length,
    NotBlank,
    Range,
)
from touchpoints.domain.limits import (
    BULK_MAX,
    FIRST_YEAR,
    LAST_YEAR,
    NOTE_MAX,
    SHIFT_MAX,
)
from touchpoints.domain.scheduling import Shift, SweepTarget
from touchpoints.domain.settings import IntervalUnit
from touchpoints.services.bulk import BulkAction, BulkRequest
from touchpoints.services.errors import InvalidInput

_TOKEN_MAX = 128
_SWEEP_TO_MAX = 16


@attrs.frozen
class ItemCount(Constraint):
    """A list of ``minimum`` to ``maximum`` items."""

    minimum: int
    maximum: int

    def problem(self, value: Any) -> str | None:
        if isinstance(value, list) and not self.minimum <= len(value) <= self.maximum:
            return f"must hold {self.minimum} to {self.maximum} items"
        return None

    def schema(self) -> dict[str, Any]:
        return {"minItems": self.minimum, "maxItems": self.maximum}


_Steps = Annotated[int, Range(-SHIFT_MAX, SHIFT_MAX)]


@attrs.frozen(kw_only=True)
class ShiftBody:
    """Exactly one of ``working_days`` or ``days``; negative moves earlier."""

    working_days: _Steps | None = None
    days: _Steps | None = None

    def to_shift(self) -> Shift:
        """Raises: InvalidInput unless exactly one is given."""
        if (self.working_days is None) == (self.days is None):
            raise InvalidInput({"shift": "give exactly one of working_days or days"})
        if self.working_days is not None:
            return Shift(self.working_days, IntervalUnit.WORKING_DAYS)
        assert self.days is not None
        return Shift(self.days, IntervalUnit.DAYS)


@attrs.frozen(kw_only=True)
class BulkBody:
    """One action on many touch-points. By action: ``reschedule`` takes one of ``deadline``,
    ``day`` (keeping each one's local time of day) or ``shift``; ``reassign`` takes
    ``responsible_id``; ``complete`` takes ``result_note`` (no follow-ups in bulk);
    ``cancel`` takes nothing."""

    ids: Annotated[list[Id], ItemCount(1, BULK_MAX)]
    action: BulkAction
    deadline: datetime | None = None
    day: date | None = None
    shift: ShiftBody | None = None
    responsible_id: Id | None = None
    result_note: Annotated[str, Length(NOTE_MAX)] | None = None

    def to_request(self) -> BulkRequest:
        return BulkRequest(
            ids=tuple(self.ids),
            action=self.action,
            deadline=self.deadline,
            day=self.day,
            shift=None if self.shift is None else self.shift.to_shift(),
            responsible_id=self.responsible_id,
            result_note=self.result_note,
        )


@attrs.frozen(kw_only=True)
class SweepBody:
    """Move the overdue open touch-points the caller may see (of ``responsible_id`` when
    given) to ``to``; ``dry_run``: only say which."""

    to: Annotated[
        str,
        Length(_SWEEP_TO_MAX),
        Describe("`today`, `next_working_day` or a local day `YYYY-MM-DD`."),
    ]
    responsible_id: Id | None = None
    dry_run: bool = False

    def target(self) -> SweepTarget | date:
        """Raises: InvalidInput (``to``)."""
        for target in SweepTarget:
            if self.to == target.value:
                return target
        try:
            if len(self.to) == 10 and self.to.isascii():
                day = date.fromisoformat(self.to)
                if FIRST_YEAR <= day.year <= LAST_YEAR:
                    return day
        except ValueError:
            pass
        raise InvalidInput({"to": "must be today, next_working_day or a YYYY-MM-DD date"})


@attrs.frozen(kw_only=True)
class UndoBody:
    token: Annotated[str, Length(_TOKEN_MAX), NotBlank()]
