"""Hand-over with return: one user's open touch-points of a period go to a colleague, and the
ones still open and still theirs go back when the period ends."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.limits import FIRST_YEAR, LAST_YEAR
from touchpoints.domain.model import TouchPoint, to_utc
from touchpoints.domain.scheduling import start_of_local_day

HANDOVER_MAX_DAYS = 366
"""The longest hand-over period, in days."""


def check_period(from_user_id: int, to_user_id: int, first_day: date, last_day: date) -> None:
    """Raises: InvalidValue for a hand-over to oneself or a period that is not one."""
    errors: dict[str, str] = {}
    for name, day in (("first_day", first_day), ("last_day", last_day)):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            errors[name] = f"must be between the years {FIRST_YEAR} and {LAST_YEAR}"
    if errors:
        raise InvalidValue(errors)
    if from_user_id == to_user_id:
        errors["to_user_id"] = "must be someone else"
    if last_day < first_day:
        errors["last_day"] = "must not be before first_day"
    elif (last_day - first_day).days + 1 > HANDOVER_MAX_DAYS:
        errors["last_day"] = f"the period must be at most {HANDOVER_MAX_DAYS} days long"
    if errors:
        raise InvalidValue(errors)


@attrs.frozen(kw_only=True)
class Handover:
    """``from_user_id``'s touch-points due from ``first_day`` to ``last_day`` (local days,
    both included) went to ``to_user_id``; ``touch_point_ids`` are the ones moved."""

    portal_id: int
    from_user_id: int
    to_user_id: int
    first_day: date
    last_day: date
    created_by: int
    created_at: datetime = attrs.field(converter=to_utc)
    touch_point_ids: tuple[int, ...] = ()
    returned_at: datetime | None = attrs.field(
        default=None, converter=attrs.converters.optional(to_utc)
    )
    id: int | None = None

    def __attrs_post_init__(self) -> None:
        check_period(self.from_user_id, self.to_user_id, self.first_day, self.last_day)

    def period(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The half-open instant range of the period's deadlines."""
        return (
            start_of_local_day(self.first_day, zone),
            start_of_local_day(self.last_day + timedelta(days=1), zone),
        )

    def is_due(self, now: datetime, zone: ZoneInfo) -> bool:
        """Open and past its last day: time to give back what is still open."""
        return self.returned_at is None and now >= self.period(zone)[1]

    def goes_back(self, touch_point: TouchPoint) -> bool:
        """Moved by this hand-over, still open and still with the colleague (one they
        completed, or that someone moved on, stays where it is)."""
        return (
            touch_point.id in self.touch_point_ids
            and touch_point.is_open
            and touch_point.responsible_id == self.to_user_id
        )
