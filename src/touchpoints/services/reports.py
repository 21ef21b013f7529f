"""Report use cases: the team's follow-up figures, CRM coverage and the rows of the CSV exports.

Team visibility applies as on the board: a user sees their own figures (and their own open
records' coverage) only, unless they are a portal admin or a listed team viewer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import attrs

from touchpoints.domain.crm import RecordCard
from touchpoints.domain.model import EntityType, OwnerRef, OwnerType, TouchPointType
from touchpoints.domain.reports import Report, ReportFilter, ReportPeriod
from touchpoints.domain.settings import PortalSettings
from touchpoints.domain.visibility import may_view_user, sees_team, visible_responsibles
from touchpoints.ports.crm import Crm
from touchpoints.ports.reports import PeriodListing, ReportQuery
from touchpoints.services.context import Actor, Card, UseCase, cards_for
from touchpoints.services.errors import Forbidden

T = TypeVar("T")

# Records whose closed state a report reads from the CRM: two batched requests at most
# (50 ids per list call, 50 calls per batch; DESIGN.md §5).
CLOSED_LOOKUP_LIMIT = 5_000
# Open deals (or leads) the coverage report reads per owner type.
COVERAGE_LIMIT = 500
COVERAGE_TYPES = (OwnerType.DEAL, OwnerType.LEAD)
# Rows of the raw touch-point export; the rest of a larger period is left out.
EXPORT_LIMIT = 50_000


@attrs.frozen(kw_only=True)
class ReportFilters:
    """What a caller narrows a report to, beyond what team visibility allows them."""

    owner_type: EntityType | None = None
    type: TouchPointType | None = None


@attrs.frozen(kw_only=True)
class TeamReport:
    """A period's figures with what the report page shows next to them.

    ``names`` maps user ids to names for every user row the CRM knows. ``closed_checked``
    is False when more completed touch-points lacked a follow-up than the CRM lookup of
    closed records covers (``CLOSED_LOOKUP_LIMIT``): chain discipline is then a lower bound.
    """

    report: Report
    names: Mapping[int, str]
    sees_team: bool
    generated_at: datetime
    closed_checked: bool


@attrs.frozen(kw_only=True)
class Coverage:
    """Open CRM records that have no open touch-point, read live with the caller's token.

    ``open_records`` counts the open records looked at per owner type; ``truncated`` is
    True when an owner type had more than ``COVERAGE_LIMIT`` of them (only that many were
    looked at).
    """

    items: tuple[RecordCard, ...]
    open_records: Mapping[OwnerType, int]
    truncated: bool


@attrs.frozen(kw_only=True)
class PeriodTouchPoints:
    """The raw touch-points of a period (CSV export), with live titles and users' names."""

    cards: tuple[Card, ...]
    names: Mapping[int, str]
    time_zone: str
    truncated: bool


def _responsibles(
    actor: Actor, settings: PortalSettings, user_filter: int | None
) -> frozenset[int] | None:
    """The responsible users a report may cover; None means everyone.

    Raises: Forbidden when a user without team visibility asks for a colleague.
    """
    if user_filter is not None and not may_view_user(actor.viewer, user_filter, settings):
        raise Forbidden("you may only see your own figures")
    return visible_responsibles(actor.viewer, settings, user_filter)


def _report_filter(filters: ReportFilters, responsibles: frozenset[int] | None) -> ReportFilter:
    return ReportFilter(
        owner_type=filters.owner_type, type=filters.type, responsible_ids=responsibles
    )


async def _closed_records(crm: Crm, refs: Sequence[OwnerRef]) -> frozenset[OwnerRef]:
    """Which of ``refs`` the caller can see closed in the CRM (hidden ones count as open)."""
    if not refs:
        return frozenset()
    lookup = await crm.read_records(refs)
    return frozenset(
        ref for ref, record in lookup.items() if isinstance(record, RecordCard) and record.closed
    )


async def user_names(crm: Crm, user_ids: Iterable[int]) -> dict[int, str]:
    """Names of the given users as the CRM knows them (one batched read)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    return {user.id: user.name for user in await crm.users(wanted)}


async def get_report(
    ctx: UseCase,
    *,
    period: ReportPeriod,
    filters: ReportFilters,
    user_filter: int | None,
) -> TeamReport:
    """The period's figures for the team (as far as the caller may see it), per user and day.

    Computed by storage (SQL aggregates on Postgres; see bench/README.md). Completed
    touch-points without a follow-up count as followed up when their CRM record is
    closed, read live with the caller's token.

    Raises: Forbidden (a colleague's figures without team visibility).
    """
    actor, settings, crm = ctx.actor, ctx.settings, ctx.crm
    now = ctx.clock.now()
    portal_id = actor.portal.id
    responsibles = _responsibles(actor, settings, user_filter)
    report_filter = _report_filter(filters, responsibles)
    start, end = period.bounds(settings.zone)
    async with ctx.storage.unit_of_work() as uow:
        candidates = await uow.reports.unfollowed_owners(
            portal_id,
            PeriodListing(
                start=start, end=end, report_filter=report_filter, limit=CLOSED_LOOKUP_LIMIT + 1
            ),
        )
    closed = await _closed_records(crm, candidates[:CLOSED_LOOKUP_LIMIT])
    query = ReportQuery(
        period=period,
        now=now,
        time_zone=settings.time_zone,
        report_filter=report_filter,
        # Whoever the report is narrowed to gets a row even with nothing to count.
        users=responsibles or frozenset(),
        closed_records=closed,
    )
    async with ctx.storage.unit_of_work() as uow:
        report = await uow.reports.report(portal_id, query)
    return TeamReport(
        report=report,
        names=await user_names(crm, report.users),
        sees_team=sees_team(actor.viewer, settings),
        generated_at=now,
        closed_checked=len(candidates) <= CLOSED_LOOKUP_LIMIT,
    )


async def _all_or_nothing(calls: Sequence[Awaitable[T]]) -> list[T]:
    """Run ``calls`` concurrently; on the first failure cancel the rest and re-raise it."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def get_coverage(
    ctx: UseCase,
    *,
    owner_types: Sequence[OwnerType] = COVERAGE_TYPES,
    user_filter: int | None = None,
) -> Coverage:
    """Open deals and leads without an open touch-point, counted live from the CRM.

    The CRM answers with the records the caller may read; a user without team visibility
    is further limited to the records assigned to them (``user_filter`` narrows a team
    viewer's view the same way). Owner types the portal has not enabled are skipped.

    Raises: Forbidden (a colleague's records without team visibility).
    """
    actor, settings, crm = ctx.actor, ctx.settings, ctx.crm
    portal_id = actor.portal.id
    responsibles = _responsibles(actor, settings, user_filter)
    chosen = [
        kind
        for kind in dict.fromkeys(owner_types)
        if kind in COVERAGE_TYPES and kind in settings.enabled_entities
    ]
    fetched = await _all_or_nothing(
        [crm.open_records(kind, limit=COVERAGE_LIMIT + 1) for kind in chosen]
    )
    truncated = any(len(cards) > COVERAGE_LIMIT for cards in fetched)
    looked_at: dict[OwnerType, list[RecordCard]] = {}
    for kind, cards in zip(chosen, fetched, strict=True):
        looked_at[kind] = [
            card
            for card in cards[:COVERAGE_LIMIT]
            if responsibles is None or card.assigned_by_id in responsibles
        ]
    items: list[RecordCard] = []
    async with ctx.storage.unit_of_work() as uow:
        for kind, cards in looked_at.items():
            covered = await uow.reports.owners_with_open(
                portal_id, kind, [card.ref.id for card in cards]
            )
            items.extend(card for card in cards if card.ref.id not in covered)
    return Coverage(
        items=tuple(items),
        open_records={kind: len(cards) for kind, cards in looked_at.items()},
        truncated=truncated,
    )


async def list_period_touch_points(
    ctx: UseCase,
    *,
    period: ReportPeriod,
    filters: ReportFilters,
    user_filter: int | None,
) -> PeriodTouchPoints:
    """Touch-points created, due, completed, cancelled or orphaned in the period.

    At most ``EXPORT_LIMIT`` of them (by deadline), with their records' live titles (None
    where the caller may not see the record) and the names of their users.

    Raises: Forbidden (a colleague's touch-points without team visibility).
    """
    actor, settings, crm = ctx.actor, ctx.settings, ctx.crm
    portal_id = actor.portal.id
    responsibles = _responsibles(actor, settings, user_filter)
    start, end = period.bounds(settings.zone)
    async with ctx.storage.unit_of_work() as uow:
        rows = await uow.reports.in_period_matching(
            portal_id,
            PeriodListing(
                start=start,
                end=end,
                report_filter=_report_filter(filters, responsibles),
                limit=EXPORT_LIMIT + 1,
            ),
        )
    kept = rows[:EXPORT_LIMIT]
    cards = await cards_for(crm, kept)
    people = {tp.responsible_id for tp in kept} | {tp.created_by for tp in kept}
    return PeriodTouchPoints(
        cards=tuple(cards),
        names=await user_names(crm, people),
        time_zone=settings.time_zone,
        truncated=len(rows) > EXPORT_LIMIT,
    )
