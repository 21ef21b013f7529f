"""The report routes' JSON replies (``/api/v1/reports/summary`` and ``coverage``) as attrs
classes, written by ``replies.unstructure`` and described by ``openapi``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.constraints import Count, EveryKey, Id, OneOf, Range, Rate, json_name
from touchpoints.domain.model import EntityType, OwnerType, TouchPointType
from touchpoints.domain.reports import MAX_PERIOD_DAYS, Metrics
from touchpoints.services.reports import COVERAGE_TYPES, Coverage, TeamReport


@attrs.frozen(kw_only=True)
class ReportMetrics:
    created: Count
    completed: Count
    completed_on_time: Count
    completed_late: Count
    median_days_late: Annotated[float, Range(1)] | None
    completed_with_note: Count
    completed_followed_up: Count
    cancelled: Count
    orphaned: Count
    overdue: Count
    on_time_rate: Rate | None
    note_rate: Rate | None
    follow_up_rate: Rate | None

    @staticmethod
    def values(metrics: Metrics) -> dict[str, Any]:
        return {field.name: getattr(metrics, field.name) for field in attrs.fields(ReportMetrics)}


@attrs.frozen(kw_only=True)
class ReportUserRow(ReportMetrics):
    user_id: Id
    name: str | None


@attrs.frozen(kw_only=True)
class ReportDay:
    day: date
    created: Count
    completed: Count
    overdue: Count | None


@attrs.frozen(kw_only=True)
class ReportPeriodReply:
    from_: date = attrs.field(metadata=json_name("from"))
    to: date
    days: Annotated[int, Range(1, MAX_PERIOD_DAYS)]


@attrs.frozen(kw_only=True)
class ReportMix:
    by_type: Annotated[dict[TouchPointType, Count], EveryKey()]
    by_owner_type: Annotated[dict[EntityType, Count], EveryKey()]


@attrs.frozen(kw_only=True)
class ReportSummary:
    period: ReportPeriodReply
    time_zone: str
    generated_at: datetime
    sees_team: bool
    closed_checked: bool
    team: ReportMetrics
    users: list[ReportUserRow]
    daily: list[ReportDay]
    mix: ReportMix

    @classmethod
    def of(cls, result: TeamReport) -> ReportSummary:
        report = result.report
        return cls(
            period=ReportPeriodReply(
                from_=report.period.start_day, to=report.period.end_day, days=report.period.length
            ),
            time_zone=report.time_zone,
            generated_at=result.generated_at.astimezone(ZoneInfo(report.time_zone)),
            sees_team=result.sees_team,
            closed_checked=result.closed_checked,
            team=ReportMetrics(**ReportMetrics.values(report.team)),
            users=[
                ReportUserRow(
                    user_id=user_id, name=result.names.get(user_id), **ReportMetrics.values(m)
                )
                for user_id, m in report.users.items()
            ],
            daily=[
                ReportDay(
                    day=point.day,
                    created=point.created,
                    completed=point.completed,
                    overdue=point.overdue,
                )
                for point in report.daily
            ],
            mix=ReportMix(
                by_type=dict(report.team.by_type), by_owner_type=dict(report.team.by_owner_type)
            ),
        )


_CoverageType = Annotated[OwnerType, OneOf.of(COVERAGE_TYPES)]


@attrs.frozen(kw_only=True)
class CoverageItem:
    type: _CoverageType
    id: Id
    title: str
    assigned_by_id: Id | None
    stage_id: str | None
    amount: float | None
    currency: str | None


@attrs.frozen(kw_only=True)
class CoverageReply:
    items: list[CoverageItem]
    open_records: dict[_CoverageType, Count]
    without_touch_point: dict[_CoverageType, Count]
    truncated: bool

    @classmethod
    def of(cls, coverage: Coverage) -> CoverageReply:
        uncovered = dict.fromkeys(coverage.open_records, 0)
        # Coverage reads leads and deals only (COVERAGE_TYPES), never a smart process.
        items = [
            (kind, card) for card in coverage.items if isinstance(kind := card.ref.type, OwnerType)
        ]
        for kind, _card in items:
            uncovered[kind] += 1
        return cls(
            items=[
                CoverageItem(
                    type=kind,
                    id=card.ref.id,
                    title=card.title,
                    assigned_by_id=card.assigned_by_id,
                    stage_id=card.stage_id,
                    amount=card.amount,
                    currency=card.currency,
                )
                for kind, card in items
            ],
            open_records=dict(coverage.open_records),
            without_touch_point=uncovered,
            truncated=coverage.truncated,
        )
