"""The report queries in memory: the domain's ``compute_report`` over the stored touch-points."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from touchpoints.adapters.memory.checks import checked_now
from touchpoints.adapters.memory.transaction import TOUCH_POINTS, MemoryRepository
from touchpoints.domain.model import EntityType, OwnerRef, Status, TouchPoint
from touchpoints.domain.reports import Metrics, Report, compute_report
from touchpoints.ports.reports import PeriodListing, ReportQuery


def _has_figures(metrics: Metrics) -> bool:
    """Every other figure counts a subset of these."""
    return any(
        (metrics.created, metrics.completed, metrics.cancelled, metrics.orphaned, metrics.overdue)
    )


class MemoryReports(MemoryRepository):
    """``ReportRepository``: what ``PostgresReports`` computes in SQL, here by the domain."""

    def _of(self, portal_id: int) -> list[TouchPoint]:
        rows: list[TouchPoint] = self._tx.values(TOUCH_POINTS, portal_id)
        return rows

    async def report(self, portal_id: int, query: ReportQuery) -> Report:
        checked_now(query.now)
        report = compute_report(
            self._of(portal_id),
            period=query.period,
            now=query.now,
            time_zone=query.time_zone,
            report_filter=query.report_filter,
            users=query.users,
            closed_records=query.closed_records,
        )
        # The domain gives a row to every responsible user of the touch-points it is given;
        # the port promises rows only for requested users and those with a figure.
        users = {
            user_id: metrics
            for user_id, metrics in report.users.items()
            if user_id in query.users or _has_figures(metrics)
        }
        return attrs.evolve(report, users=users)

    async def unfollowed_owners(self, portal_id: int, listing: PeriodListing) -> list[OwnerRef]:
        low, high, report_filter = listing.start, listing.end, listing.report_filter
        latest: dict[OwnerRef, datetime] = {}
        for tp in self._of(portal_id):
            if (
                tp.status is Status.DONE
                and tp.completed_at is not None
                and low <= tp.completed_at < high
                and tp.next_id is None
                and report_filter.matches(tp)
            ):
                latest[tp.owner] = max(latest.get(tp.owner, tp.completed_at), tp.completed_at)
        ordered = sorted(latest, key=lambda ref: (-latest[ref].timestamp(), ref.type.value, ref.id))
        return ordered[: listing.limit]

    async def owners_with_open(
        self, portal_id: int, owner_type: EntityType, owner_ids: Sequence[int]
    ) -> set[int]:
        wanted = set(owner_ids)
        return {
            tp.owner.id
            for tp in self._of(portal_id)
            if tp.is_open and tp.owner.type == owner_type and tp.owner.id in wanted
        }

    async def in_period_matching(self, portal_id: int, listing: PeriodListing) -> list[TouchPoint]:
        low, high, report_filter = listing.start, listing.end, listing.report_filter

        def within(moment: datetime | None) -> bool:
            return moment is not None and low <= moment < high

        rows = [
            tp
            for tp in self._of(portal_id)
            if report_filter.matches(tp)
            and (
                within(tp.created_at)
                or within(tp.deadline)
                or within(tp.completed_at)
                or (tp.status in (Status.CANCELLED, Status.ORPHANED) and within(tp.updated_at))
            )
        ]
        return sorted(rows, key=lambda tp: (tp.deadline, tp.id))[: listing.limit]
