"""The report port's contract: Postgres' SQL aggregates give exactly the domain's figures.

The in-memory adapter runs ``domain.reports.compute_report`` itself, so every test here runs
against both adapters (``uow.reports``), and the property feeds both the same random data
across DST changes.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.strategies import existing_local, transition_days
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.postgres.reports import WHITESPACE
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.model import NewTouchPoint, OwnerRef, OwnerType, Status, TouchPointType
from touchpoints.domain.portal import OAuthTokens, PortalInstall
from touchpoints.domain.reports import ReportFilter, ReportPeriod
from touchpoints.domain.secrets import Secret
from touchpoints.ports.reports import PeriodListing, ReportQuery
from touchpoints.ports.storage import Storage

BERLIN = "Europe/Berlin"
_NUMBERS = itertools.count(1)


@attrs.frozen(kw_only=True)
class Row:
    """A touch-point to store: local (day offset from the period start, wall time) points."""

    user: int
    type: TouchPointType
    owner: OwnerRef
    created: tuple[int, time]
    deadline: tuple[int, time]
    status: Status = Status.OPEN
    closed: tuple[int, time] | None = None
    note: str | None = None
    followed: bool = False


def _at(start: date, point: tuple[int, time], zone: ZoneInfo) -> datetime | None:
    return existing_local(start + timedelta(days=point[0]), point[1], zone)


async def new_portal(storage: Storage) -> int:
    n = next(_NUMBERS)
    install = PortalInstall(
        member_id=f"reports-{n}-{id(storage)}",
        client_endpoint=f"https://reports{n}.bitrix24.example/rest/",
        domain=f"reports{n}.bitrix24.example",
        application_token=Secret(f"app-{n}"),
        tokens=OAuthTokens(
            access_token=Secret(f"access-{n}"),
            refresh_token=Secret(f"refresh-{n}"),
            expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        ),
        installed_by=1,
    )
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.create(install, now=datetime(2020, 1, 1, tzinfo=UTC))
    return portal.id


async def store(storage: Storage, portal_id: int, rows: list[Row], start: date, zone: str) -> bool:
    """Store ``rows`` in order; False (nothing stored) when a wall time does not exist."""
    local = ZoneInfo(zone)
    placed = []
    for row in rows:
        created = _at(start, row.created, local)
        deadline = _at(start, row.deadline, local)
        closed = _at(start, row.closed, local) if row.closed is not None else created
        if created is None or deadline is None or closed is None:
            return False
        placed.append((row, created, deadline, closed))
    async with storage.unit_of_work() as uow:
        stored = []
        for row, created, deadline, _closed in placed:
            stored.append(
                await uow.touch_points.add(
                    NewTouchPoint(
                        portal_id=portal_id,
                        activity_id=next(_NUMBERS),
                        owner=row.owner,
                        type=row.type,
                        deadline=deadline,
                        responsible_id=row.user,
                        created_by=row.user,
                        created_at=created,
                    )
                )
            )
        for index, (row, _created, _deadline, closed) in enumerate(placed):
            if row.status is Status.OPEN:
                continue
            done = row.status is Status.DONE
            # Each follows the next one stored: an injective, never self-referencing link.
            follower = stored[(index + 1) % len(stored)].id
            await uow.touch_points.update(
                attrs.evolve(
                    stored[index],
                    status=row.status,
                    updated_at=closed,
                    completed_at=closed if done else None,
                    result_note=row.note if done else None,
                    next_id=follower if done and row.followed and len(stored) > 1 else None,
                )
            )
    return True


# ------------------------------------------------------------------ the property

_WALL = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
_OWNERS = st.builds(OwnerRef, st.sampled_from(OwnerType), st.integers(1, 4))
_ZONES = ("Europe/Berlin", "America/New_York", "America/Santiago", "America/St_Johns")
_ROWS = st.builds(
    lambda user, kind, owner, created, due, status, closed, note, followed: Row(
        user=user,
        type=kind,
        owner=owner,
        created=created,
        deadline=(created[0] + due[0], due[1]),
        status=status,
        # Closing days count from the deadline's, so completions land on, just before and
        # just after it (on time versus late) as often as far from it.
        closed=(max(created[0], created[0] + due[0] + closed[0]), closed[1]),
        note=note,
        followed=followed,
    ),
    st.integers(1, 4),
    st.sampled_from(TouchPointType),
    _OWNERS,
    st.tuples(st.integers(-30, 20), _WALL),
    st.tuples(st.one_of(st.integers(0, 6), st.integers(-45, 12)), _WALL),
    st.sampled_from(Status),
    st.tuples(st.one_of(st.integers(-1, 2), st.integers(-5, 30)), _WALL),
    st.sampled_from([None, "", "done", "  ", "\u00a0", "\u3000ok"]),
    st.booleans(),
)
_FILTERS = st.builds(
    ReportFilter,
    owner_type=st.none() | st.sampled_from(OwnerType),
    type=st.none() | st.sampled_from(TouchPointType),
    responsible_ids=st.none() | st.frozensets(st.integers(1, 5), max_size=3),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, date, int, list[Row], tuple[int, time], ReportQuery]:
    zone = draw(st.sampled_from(_ZONES))
    start = draw(st.sampled_from(transition_days(zone))) - timedelta(days=draw(st.integers(0, 9)))
    length = draw(st.integers(1, 40))
    rows = draw(st.lists(_ROWS, min_size=2, max_size=25))
    now = draw(st.tuples(st.integers(-3, 45), _WALL))
    query = ReportQuery(
        period=ReportPeriod(start, start + timedelta(days=length - 1)),
        now=datetime(2000, 1, 1, tzinfo=UTC),  # placed by the test
        time_zone=zone,
        report_filter=draw(_FILTERS),
        users=draw(st.frozensets(st.integers(1, 6), max_size=3)),
        closed_records=draw(st.frozensets(_OWNERS, max_size=4)),
    )
    return zone, start, length, rows, now, query


@pytest.mark.slow
@pytest.mark.postgres
@settings(
    max_examples=80,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
async def test_postgres_aggregates_equal_the_domains_report_on_any_data(
    pg_storage: PostgresStorage,
    case: tuple[str, date, int, list[Row], tuple[int, time], ReportQuery],
) -> None:
    zone, start, _length, rows, now_point, query = case
    now = _at(start, now_point, ZoneInfo(zone))
    if now is None:
        return
    # Each stored data set answers an unfiltered query and the drawn one.
    queries = [
        attrs.evolve(query, now=now, report_filter=ReportFilter()),
        attrs.evolve(query, now=now),
    ]
    reports = []
    for storage in (MemoryStorage(), pg_storage):
        portal_id = await new_portal(storage)
        if not await store(storage, portal_id, rows, start, zone):
            return
        async with storage.unit_of_work() as uow:
            reports.append([await uow.reports.report(portal_id, q) for q in queries])
    assert reports[1] == reports[0]


# ------------------------------------------------------------------ examples, both adapters

WEEK_START = date(2026, 3, 23)  # Monday; Berlin springs forward on Sunday the 29th
WEEK = ReportPeriod(WEEK_START, WEEK_START + timedelta(days=6))
DEAL = OwnerRef(OwnerType.DEAL, 1)
LEAD = OwnerRef(OwnerType.LEAD, 2)
NOON = time(12)


def _now(day_offset: int, wall: time = NOON) -> datetime:
    instant = _at(WEEK_START, (day_offset, wall), ZoneInfo(BERLIN))
    assert instant is not None
    return instant


async def test_old_touch_points_closed_or_still_overdue_in_the_period_count(
    storage: Storage,
) -> None:
    portal_id = await new_portal(storage)
    rows = [
        # created and due weeks before, cancelled in the week: counts as cancelled
        Row(user=1, type=TouchPointType.CALL, owner=DEAL, created=(-30, NOON),
            deadline=(-29, NOON), status=Status.CANCELLED, closed=(2, NOON)),
        # overdue all week and completed after it: in the daily series only
        Row(user=2, type=TouchPointType.CALL, owner=DEAL, created=(-30, NOON),
            deadline=(-20, NOON), status=Status.DONE, closed=(9, NOON), note="late"),
        # closed long before the week: nowhere
        Row(user=3, type=TouchPointType.CALL, owner=LEAD, created=(-30, NOON),
            deadline=(-29, NOON), status=Status.DONE, closed=(-28, NOON), note="ok"),
        # still open and overdue now
        Row(user=1, type=TouchPointType.EMAIL, owner=LEAD, created=(-3, NOON),
            deadline=(1, NOON)),
    ]  # fmt: skip
    assert await store(storage, portal_id, rows, WEEK_START, BERLIN)
    query = ReportQuery(period=WEEK, now=_now(10), time_zone=BERLIN)
    async with storage.unit_of_work() as uow:
        report = await uow.reports.report(portal_id, query)
    assert report.team.cancelled == 1
    assert report.team.overdue == 1
    assert report.team.created == report.team.completed == 0
    assert list(report.users) == [1]
    assert [point.overdue for point in report.daily] == [2, 3, 2, 2, 2, 2, 2]


async def test_requested_users_get_a_row_even_with_nothing_to_count(storage: Storage) -> None:
    portal_id = await new_portal(storage)
    rows = [Row(user=1, type=TouchPointType.CALL, owner=DEAL, created=(0, NOON),
                deadline=(1, NOON))]  # fmt: skip
    assert await store(storage, portal_id, rows, WEEK_START, BERLIN)
    query = ReportQuery(
        period=WEEK,
        now=_now(3),
        time_zone=BERLIN,
        report_filter=ReportFilter(responsible_ids=frozenset({1, 7})),
        users=frozenset({7, 8}),
    )
    async with storage.unit_of_work() as uow:
        report = await uow.reports.report(portal_id, query)
    assert list(report.users) == [1, 7]
    assert report.users[7].created == 0
    assert report.users[1].created == 1


async def test_unfollowed_owners_are_distinct_newest_completion_first_and_limited(
    storage: Storage,
) -> None:
    portal_id = await new_portal(storage)
    other = OwnerRef(OwnerType.DEAL, 9)
    rows = [
        Row(user=1, type=TouchPointType.CALL, owner=DEAL, created=(0, NOON), deadline=(1, NOON),
            status=Status.DONE, closed=(1, NOON), note="a"),
        Row(user=1, type=TouchPointType.CALL, owner=DEAL, created=(0, NOON), deadline=(1, NOON),
            status=Status.DONE, closed=(4, NOON), note="b"),
        Row(user=2, type=TouchPointType.CALL, owner=LEAD, created=(0, NOON), deadline=(1, NOON),
            status=Status.DONE, closed=(3, NOON), note="c"),
        # followed up: not asked about
        Row(user=1, type=TouchPointType.CALL, owner=other, created=(0, NOON), deadline=(1, NOON),
            status=Status.DONE, closed=(5, NOON), note="d", followed=True),
        # completed after the week
        Row(user=1, type=TouchPointType.CALL, owner=other, created=(0, NOON), deadline=(1, NOON),
            status=Status.DONE, closed=(8, NOON), note="e"),
    ]  # fmt: skip
    assert await store(storage, portal_id, rows, WEEK_START, BERLIN)
    start, end = WEEK.bounds(ZoneInfo(BERLIN))
    async with storage.unit_of_work() as uow:
        everyone = await uow.reports.unfollowed_owners(
            portal_id, PeriodListing(start=start, end=end, limit=10)
        )
        first = await uow.reports.unfollowed_owners(
            portal_id, PeriodListing(start=start, end=end, limit=1)
        )
        user_two = await uow.reports.unfollowed_owners(
            portal_id,
            PeriodListing(
                start=start,
                end=end,
                report_filter=ReportFilter(responsible_ids=frozenset({2})),
                limit=10,
            ),
        )
    assert everyone == [DEAL, LEAD]
    assert first == [DEAL]
    assert user_two == [LEAD]


def test_a_listing_refuses_naive_instants_and_negative_limits() -> None:
    start, end = WEEK.bounds(ZoneInfo(BERLIN))
    with pytest.raises(InvalidValue) as naive:
        PeriodListing(start=start.replace(tzinfo=None), end=end, limit=1)
    assert "start" in naive.value.errors
    with pytest.raises(InvalidValue) as negative:
        PeriodListing(start=start, end=end, limit=-1)
    assert "limit" in negative.value.errors


async def test_owners_with_open_names_only_records_with_an_open_touch_point(
    storage: Storage,
) -> None:
    portal_id = await new_portal(storage)
    done_deal = OwnerRef(OwnerType.DEAL, 5)
    rows = [
        Row(user=1, type=TouchPointType.CALL, owner=DEAL, created=(0, NOON), deadline=(1, NOON)),
        Row(user=1, type=TouchPointType.CALL, owner=done_deal, created=(0, NOON),
            deadline=(1, NOON), status=Status.DONE, closed=(1, NOON), note="x"),
        Row(user=1, type=TouchPointType.CALL, owner=OwnerRef(OwnerType.LEAD, 1),
            created=(0, NOON), deadline=(1, NOON)),
    ]  # fmt: skip
    assert await store(storage, portal_id, rows, WEEK_START, BERLIN)
    async with storage.unit_of_work() as uow:
        deals = await uow.reports.owners_with_open(portal_id, OwnerType.DEAL, [1, 5, 6])
        none = await uow.reports.owners_with_open(portal_id, OwnerType.DEAL, [])
    assert deals == {1}
    assert none == set()


async def test_the_export_lists_what_was_created_due_completed_or_closed_in_the_period(
    storage: Storage,
) -> None:
    portal_id = await new_portal(storage)
    rows = [
        Row(user=1, type=TouchPointType.CALL, owner=DEAL, created=(-9, NOON), deadline=(2, NOON)),
        Row(user=1, type=TouchPointType.CALL, owner=DEAL, created=(-9, NOON),
            deadline=(-8, NOON), status=Status.CANCELLED, closed=(3, NOON)),
        Row(user=1, type=TouchPointType.CALL, owner=DEAL, created=(-9, NOON),
            deadline=(-8, NOON), status=Status.DONE, closed=(-7, NOON), note="old"),
        Row(user=2, type=TouchPointType.MEETING, owner=LEAD, created=(1, NOON),
            deadline=(9, NOON)),
        Row(user=1, type=TouchPointType.CALL, owner=DEAL, created=(-9, NOON),
            deadline=(-8, NOON), status=Status.DONE, closed=(4, NOON), note="now"),
    ]  # fmt: skip
    assert await store(storage, portal_id, rows, WEEK_START, BERLIN)
    start, end = WEEK.bounds(ZoneInfo(BERLIN))
    async with storage.unit_of_work() as uow:
        listed = await uow.reports.in_period_matching(
            portal_id, PeriodListing(start=start, end=end, limit=10)
        )
        calls = await uow.reports.in_period_matching(
            portal_id,
            PeriodListing(
                start=start, end=end, report_filter=ReportFilter(type=TouchPointType.CALL), limit=10
            ),
        )
        capped = await uow.reports.in_period_matching(
            portal_id, PeriodListing(start=start, end=end, limit=2)
        )
    assert [tp.status for tp in listed] == [
        Status.CANCELLED,
        Status.DONE,
        Status.OPEN,
        Status.OPEN,
    ]
    assert [tp.deadline for tp in listed] == sorted(tp.deadline for tp in listed)
    assert {tp.type for tp in calls} == {TouchPointType.CALL}
    assert len(calls) == 3
    assert capped == listed[:2]


def test_the_blank_characters_sql_skips_are_exactly_those_python_strips() -> None:
    every = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())
    assert every == WHITESPACE
