"""Report queries: ``compute_report``'s figures as SQL aggregates, and the report listings.

The figures must be exactly the domain's (``touchpoints.domain.reports``), local days
included. So the local-day boundaries are not left to Postgres' ``AT TIME ZONE``: Python
computes them with the domain's rules (``start_of_local_day``: gaps, folds, skipped days)
and sends them as a sorted ``timestamptz[]``; ``width_bucket(instant, boundaries)`` is then
``bisect_right`` over them, the same lookup the domain does. The contract tests compare
this adapter with the in-memory one, which runs the domain itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from touchpoints.adapters.postgres.db import PostgresRepository
from touchpoints.adapters.postgres.rows import owner_from_row, touch_point_from_row
from touchpoints.domain.checks import require_aware
from touchpoints.domain.model import (
    EntityType,
    OwnerRef,
    OwnerType,
    TouchPoint,
    TouchPointType,
    entity_type,
)
from touchpoints.domain.reports import DailyPoint, Metrics, Report, ReportFilter
from touchpoints.domain.scheduling import local_date, start_of_local_day
from touchpoints.ports.reports import PeriodListing, ReportQuery

_ONE_DAY = timedelta(days=1)

# The counts a group row sums up, named as the ``Metrics`` fields they become.
_COUNTS = (
    "created",
    "completed",
    "completed_on_time",
    "completed_with_note",
    "completed_followed_up",
    "cancelled",
    "orphaned",
    "overdue",
)


# The characters ``str.isspace()`` accepts (Unicode 15, Python 3.11): what ``str.strip()``
# removes. Spelled out because computing them scans every code point (most of a second).
WHITESPACE = "".join(
    chr(code)
    for code in (
        0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
        *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
    )
)  # fmt: skip
# The domain counts a result note when ``note.strip()`` is not empty; Postgres' own
# ``[[:space:]]`` depends on the database's locale, so the class is spelled out.
NOT_BLANK = f"[^{WHITESPACE}]"


def _filter_sql(report_filter: ReportFilter, args: list[object]) -> list[str]:
    """``ReportFilter.matches`` as SQL conditions on ``t``, appending their parameters."""

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    where: list[str] = []
    if report_filter.owner_type is not None:
        where.append(f"t.owner_type = {param(report_filter.owner_type.value)}")
    if report_filter.type is not None:
        where.append(f"t.type = {param(report_filter.type.value)}")
    if report_filter.responsible_ids is not None:
        ids = sorted(report_filter.responsible_ids)
        where.append(f"t.responsible_id = ANY({param(ids)}::bigint[])")
    return where


def _listing_args(portal_id: int, listing: PeriodListing) -> list[object]:
    """A listing's parameters: ``$1`` the portal, ``$2``/``$3`` the period, ``$4`` the limit."""
    return [portal_id, listing.start, listing.end, listing.limit]


def _day_starts(first: date, last: date, zone: ZoneInfo) -> list[datetime]:
    """The first instant of every local day from ``first`` to ``last``, both included."""
    return [
        start_of_local_day(first + offset * _ONE_DAY, zone)
        for offset in range((last - first).days + 1)
    ]


def _empty_metrics() -> dict[str, Any]:
    figures: dict[str, Any] = dict.fromkeys(_COUNTS, 0)
    figures["days_late"] = []
    figures["by_type"] = dict.fromkeys(TouchPointType, 0)
    figures["by_owner_type"] = dict.fromkeys(OwnerType, 0)
    return figures


def _metrics(figures: dict[str, Any]) -> Metrics:
    return Metrics(
        **{name: figures[name] for name in _COUNTS},
        completed_late=len(figures["days_late"]),
        days_late=tuple(sorted(figures["days_late"])),
        by_type=figures["by_type"],
        by_owner_type=figures["by_owner_type"],
    )


def _add(figures: dict[str, Any], row: asyncpg.Record) -> None:
    for name in _COUNTS:
        figures[name] += row[name]
    figures["days_late"].extend(row["days_late"] or ())
    figures["by_type"][TouchPointType(row["type"])] += row["created"]
    kind = entity_type(row["owner_type"])
    figures["by_owner_type"][kind] = figures["by_owner_type"].get(kind, 0) + row["created"]


class PostgresReports(PostgresRepository):
    """``ReportRepository``: the report queries of one unit of work."""

    async def report(self, portal_id: int, query: ReportQuery) -> Report:
        require_aware("now", query.now)
        zone = ZoneInfo(query.time_zone)
        period, now = query.period, query.now
        start, end = period.bounds(zone)
        # Every figure needs an event at or after the period's start, or an open status
        # (see ``Metrics`` and ``DailyPoint``): older closed rows are never read.
        relevant = (
            "(t.status = 'open' OR t.created_at >= $2 OR t.completed_at >= $2"
            " OR t.updated_at >= $2)"
        )
        args: list[object] = [portal_id, start, end]
        where = " AND ".join(
            ["t.portal_id = $1", relevant, *_filter_sql(query.report_filter, args)]
        )
        groups = await self._groups(where, list(args), query=query, zone=zone, end=end)
        daily = await self._daily(where, list(args), period.days(), zone, now)
        return self._assemble(query, groups, daily)

    async def _groups(
        self,
        where: str,
        args: list[object],
        *,
        query: ReportQuery,
        zone: ZoneInfo,
        end: datetime,
    ) -> list[asyncpg.Record]:
        # Days late and on-time need the local day of deadlines that may lie long before
        # the period: the boundaries reach back to the earliest such deadline.
        # Only enum literals, fixed fragments and $n placeholders are joined into the SQL.
        earliest = await self._db.fetchval(
            f"SELECT min(t.deadline) FROM touchpoints t WHERE {where}"  # noqa: S608
            " AND t.status = 'done' AND t.completed_at >= $2 AND t.completed_at < $3",
            *args,
        )
        first_day = query.period.start_day
        if earliest is not None:
            first_day = min(first_day, local_date(earliest, zone) - _ONE_DAY)
        boundaries = _day_starts(first_day, query.period.end_day + _ONE_DAY, zone)
        closed = sorted(query.closed_records, key=lambda ref: (ref.type.value, ref.id))

        def param(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        days = param(boundaries)
        closed_types = param([ref.type.value for ref in closed])
        closed_ids = param([ref.id for ref in closed])
        not_blank = param(NOT_BLANK)
        overdue_before = param(min(query.now, end))
        sql = f"""
            WITH base AS (
                SELECT t.responsible_id, t.type, t.owner_type, t.status, t.created_at,
                       t.deadline, t.completed_at, t.updated_at,
                       (t.status = 'done' AND t.completed_at >= $2 AND t.completed_at < $3)
                           AS done_in,
                       (t.next_id IS NOT NULL OR c.owner_id IS NOT NULL) AS followed,
                       coalesce(t.result_note ~ {not_blank}, false) AS noted
                FROM touchpoints t
                LEFT JOIN unnest({closed_types}::text[], {closed_ids}::bigint[])
                    AS c (owner_type, owner_id)
                    ON c.owner_type = t.owner_type AND c.owner_id = t.owner_id
                WHERE {where}
            ), graded AS (
                SELECT *,
                       done_in AND completed_at < coalesce(
                           ({days}::timestamptz[])[width_bucket(deadline, {days}::timestamptz[]) + 1],
                           'infinity'
                       ) AS on_time
                FROM base
            )
            SELECT responsible_id, type, owner_type,
                   count(*) FILTER (WHERE created_at >= $2 AND created_at < $3) AS created,
                   count(*) FILTER (WHERE done_in) AS completed,
                   count(*) FILTER (WHERE on_time) AS completed_on_time,
                   array_agg(
                       width_bucket(completed_at, {days}::timestamptz[])
                       - width_bucket(deadline, {days}::timestamptz[])
                   ) FILTER (WHERE done_in AND NOT on_time) AS days_late,
                   count(*) FILTER (WHERE done_in AND noted) AS completed_with_note,
                   count(*) FILTER (WHERE done_in AND followed) AS completed_followed_up,
                   count(*) FILTER (
                       WHERE status = 'cancelled' AND updated_at >= $2 AND updated_at < $3
                   ) AS cancelled,
                   count(*) FILTER (
                       WHERE status = 'orphaned' AND updated_at >= $2 AND updated_at < $3
                   ) AS orphaned,
                   count(*) FILTER (WHERE status = 'open' AND deadline < {overdue_before})
                       AS overdue
            FROM graded
            GROUP BY responsible_id, type, owner_type
        """  # noqa: S608
        return await self._db.fetch(sql, *args)

    async def _daily(
        self,
        where: str,
        args: list[object],
        days: list[date],
        zone: ZoneInfo,
        now: datetime,
    ) -> tuple[list[int], list[int], list[int], int]:
        """Created and completed per day, and the overdue difference array of ``DailyPoint``."""
        starts = _day_starts(days[0], days[-1] + _ONE_DAY, zone)
        # Overdue is sampled at each begun day's end, today's at ``now`` (``DailyPoint``).
        samples = [
            min(starts[index + 1], now) for index in range(len(days)) if starts[index] <= now
        ]

        def param(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        period_days = param(starts)
        sample_list = param(samples)
        sample_count = param(len(samples))
        sql = f"""
            WITH base AS (
                SELECT t.created_at, t.deadline, t.status, t.completed_at, t.updated_at
                FROM touchpoints t
                WHERE {where}
            )
            SELECT 0 AS kind, width_bucket(created_at, {period_days}::timestamptz[]) AS first,
                   0 AS stop, count(*) AS n
            FROM base WHERE created_at >= $2 AND created_at < $3
            GROUP BY 2
            UNION ALL
            SELECT 1, width_bucket(completed_at, {period_days}::timestamptz[]), 0, count(*)
            FROM base WHERE status = 'done' AND completed_at >= $2 AND completed_at < $3
            GROUP BY 2
            UNION ALL
            SELECT 2, first, stop, count(*)
            FROM (
                SELECT width_bucket(greatest(created_at, deadline), {sample_list}::timestamptz[])
                           AS first,
                       CASE status
                           WHEN 'open' THEN {sample_count}::int
                           WHEN 'done' THEN width_bucket(completed_at, {sample_list}::timestamptz[])
                           ELSE width_bucket(updated_at, {sample_list}::timestamptz[])
                       END AS stop
                FROM base
            ) spans
            WHERE first < stop
            GROUP BY 2, 3
        """  # noqa: S608
        created = [0] * len(days)
        completed = [0] * len(days)
        changes = [0] * (len(samples) + 1)
        for row in await self._db.fetch(sql, *args):
            if row["kind"] == 0:
                created[row["first"] - 1] += row["n"]
            elif row["kind"] == 1:
                completed[row["first"] - 1] += row["n"]
            else:
                changes[row["first"]] += row["n"]
                changes[row["stop"]] -= row["n"]
        return created, completed, changes, len(samples)

    def _assemble(
        self,
        query: ReportQuery,
        groups: list[asyncpg.Record],
        daily: tuple[list[int], list[int], list[int], int],
    ) -> Report:
        team = _empty_metrics()
        per_user: dict[int, dict[str, Any]] = defaultdict(_empty_metrics)
        for row in groups:
            _add(team, row)
            _add(per_user[row["responsible_id"]], row)
        wanted = query.report_filter.responsible_ids
        users = {
            user_id: _metrics(figures)
            for user_id, figures in per_user.items()
            if any(
                figures[name]
                for name in ("created", "completed", "cancelled", "orphaned", "overdue")
            )
        }
        for user_id in query.users:
            if (wanted is None or user_id in wanted) and user_id not in users:
                users[user_id] = _metrics(per_user.get(user_id) or _empty_metrics())
        created, completed, changes, sample_count = daily
        points: list[DailyPoint] = []
        running = 0
        for index, day in enumerate(query.period.days()):
            overdue: int | None = None
            if index < sample_count:
                running += changes[index]
                overdue = running
            points.append(
                DailyPoint(
                    day=day, created=created[index], completed=completed[index], overdue=overdue
                )
            )
        return Report(
            period=query.period,
            time_zone=query.time_zone,
            team=_metrics(team),
            users={user_id: users[user_id] for user_id in sorted(users)},
            daily=tuple(points),
        )

    async def unfollowed_owners(self, portal_id: int, listing: PeriodListing) -> list[OwnerRef]:
        args = _listing_args(portal_id, listing)
        where = " AND ".join(
            [
                "t.portal_id = $1",
                "t.status = 'done'",
                "t.completed_at >= $2",
                "t.completed_at < $3",
                "t.next_id IS NULL",
                *_filter_sql(listing.report_filter, args),
            ]
        )
        rows = await self._db.fetch(
            f"""
            SELECT t.owner_type, t.owner_id, max(t.completed_at) AS latest
            FROM touchpoints t
            WHERE {where}
            GROUP BY t.owner_type, t.owner_id
            ORDER BY latest DESC, t.owner_type, t.owner_id
            LIMIT $4
            """,  # noqa: S608
            *args,
        )
        return [owner_from_row(row) for row in rows]

    async def owners_with_open(
        self, portal_id: int, owner_type: EntityType, owner_ids: Sequence[int]
    ) -> set[int]:
        if not owner_ids:
            return set()
        rows = await self._db.fetch(
            """
            SELECT DISTINCT owner_id FROM touchpoints
            WHERE portal_id = $1 AND owner_type = $2 AND owner_id = ANY($3::bigint[])
              AND status = 'open'
            """,
            portal_id,
            owner_type.value,
            list(owner_ids),
        )
        return {row["owner_id"] for row in rows}

    async def in_period_matching(self, portal_id: int, listing: PeriodListing) -> list[TouchPoint]:
        args = _listing_args(portal_id, listing)
        where = " AND ".join(["t.portal_id = $1", *_filter_sql(listing.report_filter, args)])
        rows = await self._db.fetch(
            f"""
            SELECT t.* FROM touchpoints t
            WHERE {where}
              AND ((t.created_at >= $2 AND t.created_at < $3)
                   OR (t.deadline >= $2 AND t.deadline < $3)
                   OR (t.completed_at >= $2 AND t.completed_at < $3)
                   OR (t.status IN ('cancelled', 'orphaned')
                       AND t.updated_at >= $2 AND t.updated_at < $3))
            ORDER BY t.deadline, t.id
            LIMIT $4
            """,  # noqa: S608
            *args,
        )
        return [touch_point_from_row(row) for row in rows]
