"""The reports port: figures and listings computed where the data is (``uow.reports``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from touchpoints.domain.checks import require_aware, require_not_negative
from touchpoints.domain.model import EntityType, OwnerRef, TouchPoint
from touchpoints.domain.reports import Report, ReportFilter, ReportPeriod


@attrs.frozen(kw_only=True)
class ReportQuery:
    """A report to compute where the data is: ``domain.reports.compute_report``'s arguments."""

    period: ReportPeriod
    now: datetime
    time_zone: str
    report_filter: ReportFilter = attrs.field(factory=ReportFilter)
    users: frozenset[int] = frozenset()
    closed_records: frozenset[OwnerRef] = frozenset()


@attrs.frozen(kw_only=True)
class PeriodListing:
    """What a report listing asks for: the touch-points of the instant range ``[start, end)``
    that pass ``report_filter``, at most ``limit``.

    Raises: InvalidValue for a naive instant (asyncpg would read it as UTC) or a negative
    limit.
    """

    start: datetime
    end: datetime
    report_filter: ReportFilter = attrs.field(factory=ReportFilter)
    limit: int

    def __attrs_post_init__(self) -> None:
        require_aware("start", self.start)
        require_aware("end", self.end)
        require_not_negative("limit", self.limit)


class ReportRepository(Protocol):
    """The report queries: figures and listings computed next to the touch-points.

    Kept apart from ``TouchPointRepository`` so an adapter may answer them its own way
    (SQL aggregates on Postgres, the domain's ``compute_report`` in memory) with exactly
    the same results.
    """

    async def report(self, portal_id: int, query: ReportQuery) -> Report:
        """``compute_report`` over every touch-point of the portal, computed next to the data.

        The figures are exactly the domain's. User rows: ``query.users`` (within the
        filter's ``responsible_ids``) and every responsible user with a non-zero figure.
        """
        ...

    async def unfollowed_owners(self, portal_id: int, listing: PeriodListing) -> list[OwnerRef]:
        """Records of touch-points completed within the listing's period with no follow-up.

        Distinct, the most recent completion first, at most ``limit``: the records whose
        closed state a report asks the CRM about (chain discipline).
        """
        ...

    async def owners_with_open(
        self, portal_id: int, owner_type: EntityType, owner_ids: Sequence[int]
    ) -> set[int]:
        """Which of ``owner_ids`` have at least one open touch-point (coverage report)."""
        ...

    async def in_period_matching(self, portal_id: int, listing: PeriodListing) -> list[TouchPoint]:
        """Touch-points matching the listing's filter that were created, due, completed,
        cancelled or orphaned within its period (CSV export), by deadline then id.
        """
        ...
