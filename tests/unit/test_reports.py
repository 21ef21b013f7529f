"""Report metrics: hand-computed figures for one week, and properties over any data."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.strategies import NAMED_ZONES, existing_local, transition_days, zone_names
from tests.unit.factories import touch_point
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPoint, TouchPointType
from touchpoints.domain.reports import (
    MAX_PERIOD_DAYS,
    DailyPoint,
    Metrics,
    Report,
    ReportFilter,
    ReportPeriod,
    compute_report,
)
from touchpoints.domain.scheduling import resolve_local

ZONE = "Europe/Berlin"
BERLIN = ZoneInfo(ZONE)
# Monday 23 to Sunday 29 March 2026; Berlin springs forward on the Sunday.
WEEK = ReportPeriod(date(2026, 3, 23), date(2026, 3, 29))
DEAL = OwnerRef(OwnerType.DEAL, 7)
CLOSED_DEAL = OwnerRef(OwnerType.DEAL, 99)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant on ``day`` March 2026, Berlin wall time."""
    return resolve_local(datetime.combine(date(2026, 3, day), time(hour, minute)), BERLIN)


NOW = at(27, 12)  # Friday noon


def tp(
    tp_id: int,
    user: int,
    *,
    created: datetime,
    deadline: datetime,
    status: Status = Status.OPEN,
    closed: datetime | None = None,
    **overrides: object,
) -> TouchPoint:
    return touch_point(
        id=tp_id,
        activity_id=100 + tp_id,
        responsible_id=user,
        created_by=user,
        created_at=created,
        deadline=deadline,
        status=status,
        updated_at=closed or created,
        completed_at=closed if status is Status.DONE else None,
        **overrides,
    )


def week_data() -> list[TouchPoint]:
    """Ten touch-points of users 5 and 6; each comment says what it should count as."""
    return [
        # on time, note, follow-up
        tp(1, 5, created=at(23, 9), deadline=at(24, 10), status=Status.DONE, closed=at(24, 18),
           result_note="ok", next_id=11, owner=DEAL),
        # two days late, no note
        tp(2, 5, created=at(23, 10), deadline=at(23, 15), status=Status.DONE, closed=at(25, 9),
           type=TouchPointType.MEETING, owner=OwnerRef(OwnerType.LEAD, 3)),
        # open and overdue now
        tp(3, 5, created=at(24, 8), deadline=at(25, 12), owner=DEAL),
        # one day late, note, follow-up
        tp(4, 6, created=at(25, 9), deadline=at(26, 9), status=Status.DONE, closed=at(27, 10),
           result_note="sent", next_id=14, type=TouchPointType.EMAIL,
           owner=OwnerRef(OwnerType.COMPANY, 4)),
        # open, due tomorrow
        tp(5, 6, created=at(26, 9), deadline=at(28, 10), owner=OwnerRef(OwnerType.CONTACT, 5)),
        # created before the period, cancelled in it
        tp(6, 6, created=at(20, 9), deadline=at(23, 9), status=Status.CANCELLED,
           closed=at(24, 11), owner=DEAL),
        # created before the period, orphaned in it
        tp(7, 5, created=at(19, 9), deadline=at(20, 9), status=Status.ORPHANED,
           closed=at(26, 8), type=TouchPointType.VISIT, owner=DEAL),
        # backlog: open and overdue since before the period
        tp(8, 6, created=at(18, 9), deadline=at(19, 10), owner=DEAL),
        # six days late, completed in the period; its deal is closed, so no follow-up needed
        tp(9, 5, created=at(16, 9), deadline=at(17, 10), status=Status.DONE, closed=at(23, 8),
           result_note="late", owner=CLOSED_DEAL),
        # open, due after the period
        tp(10, 5, created=at(27, 11, 30), deadline=at(30, 10), owner=DEAL),
    ]  # fmt: skip


def week_report(**options: object) -> Report:
    return compute_report(
        week_data(),
        period=WEEK,
        now=NOW,
        time_zone=ZONE,
        closed_records=frozenset({CLOSED_DEAL}),
        **options,  # type: ignore[arg-type]
    )


def counts(**by_type: int) -> dict[TouchPointType, int]:
    return {kind: by_type.get(kind.value, 0) for kind in TouchPointType}


def owners(**by_owner: int) -> dict[OwnerType, int]:
    return {owner: by_owner.get(owner.value, 0) for owner in OwnerType}


def test_the_team_figures_of_a_week_are_as_hand_computed() -> None:
    team = week_report().team
    assert team == Metrics(
        created=6,
        completed=4,
        completed_on_time=1,
        completed_late=3,
        completed_with_note=3,
        completed_followed_up=3,
        cancelled=1,
        orphaned=1,
        overdue=2,
        days_late=(1, 2, 6),
        by_type=counts(call=4, meeting=1, email=1),
        by_owner_type=owners(deal=3, lead=1, company=1, contact=1),
    )
    assert team.on_time_rate == 0.25
    assert team.note_rate == 0.75
    assert team.follow_up_rate == 0.75
    assert team.median_days_late == 2.0


def test_each_user_gets_their_own_row() -> None:
    report = week_report()
    assert list(report.users) == [5, 6]
    five, six = report.users[5], report.users[6]
    assert (five.created, five.completed, five.completed_on_time, five.completed_late) == (
        4,
        3,
        1,
        2,
    )
    assert (five.completed_with_note, five.completed_followed_up) == (2, 2)
    assert (five.cancelled, five.orphaned, five.overdue) == (0, 1, 1)
    assert five.median_days_late == 4.0
    assert (six.created, six.completed, six.completed_on_time, six.completed_late) == (2, 1, 0, 1)
    assert (six.cancelled, six.orphaned, six.overdue) == (1, 0, 1)
    assert six.median_days_late == 1.0
    assert six.on_time_rate == 0.0


def test_the_daily_series_counts_each_local_day_and_stops_at_now() -> None:
    assert week_report().daily == (
        DailyPoint(day=date(2026, 3, 23), created=2, completed=1, overdue=4),
        DailyPoint(day=date(2026, 3, 24), created=1, completed=1, overdue=3),
        DailyPoint(day=date(2026, 3, 25), created=1, completed=1, overdue=3),
        DailyPoint(day=date(2026, 3, 26), created=1, completed=0, overdue=3),
        DailyPoint(day=date(2026, 3, 27), created=1, completed=1, overdue=2),
        DailyPoint(day=date(2026, 3, 28), created=0, completed=0, overdue=None),
        DailyPoint(day=date(2026, 3, 29), created=0, completed=0, overdue=None),
    )


def test_a_past_period_counts_overdue_at_each_days_end_and_at_its_end() -> None:
    report = compute_report(
        week_data(), period=ReportPeriod(date(2026, 3, 23), date(2026, 3, 24)), now=NOW,
        time_zone=ZONE,
    )  # fmt: skip
    assert [point.overdue for point in report.daily] == [4, 3]
    # Still open now and due before the period ended: the backlog (3 is due on the 25th).
    assert report.team.overdue == 1


def test_filters_narrow_the_touch_points_counted() -> None:
    deals = week_report(report_filter=ReportFilter(owner_type=OwnerType.DEAL)).team
    assert (deals.created, deals.completed, deals.cancelled, deals.orphaned) == (3, 2, 1, 1)
    calls = week_report(report_filter=ReportFilter(type=TouchPointType.CALL)).team
    assert calls.created == 4
    assert calls.by_type == counts(call=4)
    six_only = week_report(report_filter=ReportFilter(responsible_ids=frozenset({6})))
    assert list(six_only.users) == [6]
    assert six_only.team == six_only.users[6]


def test_team_members_with_nothing_to_count_still_get_a_row() -> None:
    report = week_report(users=[7, 5])
    assert list(report.users) == [5, 6, 7]
    idle = report.users[7]
    assert (idle.created, idle.completed, idle.overdue) == (0, 0, 0)
    assert idle.on_time_rate is None
    assert idle.note_rate is None
    assert idle.follow_up_rate is None
    assert idle.median_days_late is None
    limited = week_report(users=[7], report_filter=ReportFilter(responsible_ids=frozenset({5})))
    assert list(limited.users) == [5]


def test_completion_exactly_at_the_end_of_the_deadlines_day_is_late() -> None:
    data = [
        tp(1, 5, created=at(23, 9), deadline=at(23, 10), status=Status.DONE,
           closed=at(23, 23, 59), result_note="x"),
        tp(2, 5, created=at(23, 9), deadline=at(23, 10), status=Status.DONE,
           closed=at(24, 0), result_note="x"),
    ]  # fmt: skip
    team = compute_report(data, period=WEEK, now=NOW, time_zone=ZONE).team
    assert (team.completed_on_time, team.completed_late, team.days_late) == (1, 1, (1,))


def test_the_period_is_whole_local_days_including_a_short_dst_day() -> None:
    start, end = WEEK.bounds(BERLIN)
    assert start == at(23, 0)
    assert end - start == timedelta(days=7, hours=-1)
    assert WEEK.length == 7
    assert WEEK.days()[-1] == date(2026, 3, 29)


def test_a_period_must_not_end_before_it_starts_nor_exceed_a_year() -> None:
    with pytest.raises(InvalidValue) as caught:
        ReportPeriod(date(2026, 3, 2), date(2026, 3, 1))
    assert caught.value.errors == {"period": "must end on or after its first day"}
    with pytest.raises(InvalidValue) as caught:
        ReportPeriod(date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=MAX_PERIOD_DAYS))
    assert caught.value.errors == {"period": f"must be at most {MAX_PERIOD_DAYS} days long"}
    assert ReportPeriod(date(2026, 1, 1), date(2026, 1, 1)).length == 1


# ------------------------------------------------------------------ properties


@attrs.frozen
class Spec:
    """A touch-point in local terms: day offsets from the period start and wall times."""

    user: int
    type: TouchPointType
    owner_type: OwnerType
    created: tuple[int, time]
    deadline: tuple[int, time]
    status: Status
    closed: tuple[int, time]
    note: str | None
    followed: bool


# Built once at import: strategies made inside a composite are re-validated on every draw.
_WALL = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


def _spec(
    *,
    user: int,
    kind: TouchPointType,
    owner_type: OwnerType,
    created: tuple[int, time],
    deadline: tuple[int, time],
    status: Status,
    closed: tuple[int, time],
    note: str | None,
    followed: bool,
) -> Spec:
    """Deadline and closing days count from the creation day."""
    return Spec(
        user=user,
        type=kind,
        owner_type=owner_type,
        created=created,
        deadline=(created[0] + deadline[0], deadline[1]),
        status=status,
        closed=(created[0] + closed[0], closed[1]),
        note=note,
        followed=followed,
    )


SPECS = st.builds(
    _spec,
    user=st.integers(1, 4),
    kind=st.sampled_from(TouchPointType),
    owner_type=st.sampled_from(OwnerType),
    created=st.tuples(st.integers(-10, 25), _WALL),
    deadline=st.tuples(st.integers(-1, 10), _WALL),
    status=st.sampled_from(Status),
    closed=st.tuples(st.integers(1, 10), _WALL),
    note=st.sampled_from([None, "", "done"]),
    followed=st.booleans(),
)
REPORT_ZONES = zone_names((*NAMED_ZONES, "America/Santiago", "Pacific/Chatham"))


def _instant(start: date, point: tuple[int, time], zone: ZoneInfo) -> datetime | None:
    return existing_local(start + timedelta(days=point[0]), point[1], zone)


def build(specs_: list[Spec], start: date, zone: ZoneInfo) -> list[TouchPoint] | None:
    """Touch-points from specs placed after ``start``; None if a wall time does not exist."""
    built = []
    for index, spec in enumerate(specs_, start=1):
        created = _instant(start, spec.created, zone)
        deadline = _instant(start, spec.deadline, zone)
        closed = _instant(start, spec.closed, zone)
        if created is None or deadline is None or closed is None:
            return None
        done = spec.status is Status.DONE
        built.append(
            touch_point(
                id=index,
                activity_id=index,
                responsible_id=spec.user,
                created_by=spec.user,
                type=spec.type,
                owner=OwnerRef(spec.owner_type, index),
                created_at=created,
                deadline=deadline,
                status=spec.status,
                updated_at=created if spec.status is Status.OPEN else closed,
                completed_at=closed if done else None,
                result_note=spec.note if done else None,
                next_id=1000 + index if done and spec.followed else None,
            )
        )
    return built


@st.composite
def report_cases(draw: st.DrawFn) -> tuple[str, date, int, list[Spec], tuple[int, time], int]:
    """A zone, a period start shortly before one of its DST jumps, length, data, now, shift."""
    name = draw(REPORT_ZONES)
    jumps = transition_days(name) or (date(2026, 3, 29),)
    start = draw(st.sampled_from(jumps)) - timedelta(days=draw(st.integers(0, 20)))
    length = draw(st.integers(1, 21))
    data = draw(st.lists(SPECS, max_size=15))
    now = draw(st.tuples(st.integers(-2, 30), _WALL))
    shift = draw(st.integers(-45, 45))
    return name, start, length, data, now, shift


def _report(
    case: tuple[str, date, int, list[Spec], tuple[int, time], int], shift: int
) -> Report | None:
    name, start, length, data, now_point, _ = case
    zone = ZoneInfo(name)
    first = start + timedelta(days=shift)
    built = build(data, first, zone)
    now = _instant(first, now_point, zone)
    if built is None or now is None:
        return None
    return compute_report(
        built,
        period=ReportPeriod(first, first + timedelta(days=length - 1)),
        now=now,
        time_zone=name,
        users=[4],
    )


@given(report_cases())
def test_counts_partition_and_rates_stay_within_zero_and_one(
    case: tuple[str, date, int, list[Spec], tuple[int, time], int],
) -> None:
    report = _report(case, 0)
    assume(report is not None)
    assert report is not None
    for metrics in (report.team, *report.users.values()):
        assert metrics.completed == metrics.completed_on_time + metrics.completed_late
        assert len(metrics.days_late) == metrics.completed_late
        assert all(days >= 1 for days in metrics.days_late)
        assert metrics.completed_with_note <= metrics.completed
        assert metrics.completed_followed_up <= metrics.completed
        assert sum(metrics.by_type.values()) == metrics.created
        assert sum(metrics.by_owner_type.values()) == metrics.created
        for rate in (metrics.on_time_rate, metrics.note_rate, metrics.follow_up_rate):
            assert (rate is None) == (metrics.completed == 0)
            assert rate is None or 0.0 <= rate <= 1.0
        assert (metrics.median_days_late is None) == (metrics.completed_late == 0)


_SUMMED = (
    "created",
    "completed",
    "completed_on_time",
    "completed_late",
    "completed_with_note",
    "completed_followed_up",
    "cancelled",
    "orphaned",
    "overdue",
)


@given(report_cases())
def test_per_user_figures_add_up_to_the_team_total(
    case: tuple[str, date, int, list[Spec], tuple[int, time], int],
) -> None:
    report = _report(case, 0)
    assume(report is not None)
    assert report is not None
    rows = list(report.users.values())
    for field in _SUMMED:
        assert sum(getattr(row, field) for row in rows) == getattr(report.team, field)
    for kind in TouchPointType:
        assert sum(row.by_type[kind] for row in rows) == report.team.by_type[kind]
    for owner in OwnerType:
        assert sum(row.by_owner_type[owner] for row in rows) == report.team.by_owner_type[owner]
    assert sorted(days for row in rows for days in row.days_late) == list(report.team.days_late)
    assert sum(point.created for point in report.daily) == report.team.created
    assert sum(point.completed for point in report.daily) == report.team.completed


@given(report_cases())
def test_shifting_everything_by_whole_local_days_across_dst_changes_nothing(
    case: tuple[str, date, int, list[Spec], tuple[int, time], int],
) -> None:
    original = _report(case, 0)
    shifted = _report(case, case[5])
    assume(original is not None and shifted is not None)
    assert original is not None
    assert shifted is not None
    assert shifted.team == original.team
    assert shifted.users == original.users
    assert [(p.created, p.completed, p.overdue) for p in shifted.daily] == [
        (p.created, p.completed, p.overdue) for p in original.daily
    ]


def test_a_deadline_in_a_repeated_evening_counts_to_the_new_day() -> None:
    # St. John's fell back at 00:01 on 2005-10-30 to 23:01 on the 29th; a deadline at the
    # second 23:30 is already on the 30th, so completing it that afternoon is on time.
    zone = "America/St_Johns"
    deadline = datetime(2005, 10, 30, 3, 0, tzinfo=UTC)
    data = [
        tp(1, 5, created=deadline - timedelta(days=2), deadline=deadline, status=Status.DONE,
           closed=datetime(2005, 10, 30, 20, 0, tzinfo=UTC), result_note="x"),
        tp(2, 5, created=deadline - timedelta(days=2), deadline=deadline, status=Status.DONE,
           closed=datetime(2005, 10, 31, 20, 0, tzinfo=UTC), result_note="x"),
    ]  # fmt: skip
    report = compute_report(
        data,
        period=ReportPeriod(date(2005, 10, 24), date(2005, 11, 6)),
        now=datetime(2005, 11, 7, tzinfo=UTC),
        time_zone=zone,
    )
    assert (report.team.completed_on_time, report.team.days_late) == (1, (1,))
